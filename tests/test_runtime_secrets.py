"""Secrets inside the runtime context: lazy, cached per execution, audited, thread-safe.

Backend reads are counted by wrapping ``kitaru._store.secret_store.get_secret``
(a flow binds it when its run starts). Checkpoints never return a value, only
facts about it (a length, a hash), which the leak guard lets through.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import kitaru
from kitaru import Secret
from kitaru._store import secret_store
from kitaru.cli import cli
from kitaru.runtime import current_execution_or_none


@dataclass
class Backend:
    """Counts (and can slow down) reads that reach the secret store."""

    calls: list[str]
    delay: float = 0.0

    def count(self, ref: str) -> int:
        return self.calls.count(ref)


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    real = secret_store.get_secret
    state = Backend(calls=[])
    lock = threading.Lock()

    def counting_get_secret(ref: str) -> Any:
        with lock:
            state.calls.append(ref)
        if state.delay:
            time.sleep(state.delay)  # widen the window for concurrent first reads
        return real(ref)

    monkeypatch.setattr(secret_store, "get_secret", counting_get_secret)
    yield state


@pytest.fixture
def api_secret(unique: str, canary: str) -> tuple[str, str]:
    """A secret with two keys; returns (name, value of API_KEY)."""
    name = f"rt-{unique}"
    kitaru.create_secret(name, {"API_KEY": canary, "REGION": f"region-{unique}"})
    return name, canary


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _read_counts(reads: list[dict[str, Any]]) -> dict[tuple[str, tuple[str, ...], Any], int]:
    """How many reads of which keys of which secret happened where."""
    counts: dict[tuple[str, tuple[str, ...], Any], int] = {}
    for r in reads:
        where = (r["secret"], tuple(r["keys"]), r["checkpoint"])
        counts[where] = counts.get(where, 0) + int(r.get("count", 1))
    return counts


def _backend_reads() -> int:
    scope = current_execution_or_none()
    assert scope is not None
    return scope.backend_reads


# --- lazy, cached per execution, audited ---------------------------------------


@kitaru.checkpoint
def read_key(name: str, key: str) -> dict[str, Any]:
    secret = kitaru.get_secret(name)
    value = secret[key]
    again = kitaru.get_secret(name).get(key)  # a second lookup in the same checkpoint
    info = kitaru.current_execution()
    return {
        "sha": _sha(value),
        "same": again == value,
        "in_flow": kitaru.in_flow(),
        "checkpoint": info.checkpoint_name,
        "execution_id": info.execution_id,
        "thread": threading.current_thread().name,
    }


@kitaru.checkpoint
def read_all_values(name: str) -> list[str]:
    return sorted(kitaru.get_secret(name).values)  # key names only


@kitaru.flow
def lazy_flow(name: str) -> dict[str, Any]:
    secret = kitaru.get_secret(name)
    facts: dict[str, Any] = {
        "is_secret": isinstance(secret, Secret),
        "repr_before_use": repr(secret),
        "reads_before_use": _backend_reads(),
        "name_before_use": secret.name,
        "reads_after_name": _backend_reads(),
    }
    facts["body_sha"] = _sha(secret["API_KEY"])  # first use: the one backend read
    facts["reads_after_first_use"] = _backend_reads()
    facts["sync"] = read_key(name, "API_KEY")
    futures = [read_key.submit(name, "REGION") for _ in range(2)]
    facts["submitted"] = [f.result() for f in futures]
    facts["all_keys"] = read_all_values(name)
    facts["reads_at_end"] = _backend_reads()
    facts["execution_id"] = kitaru.current_execution().execution_id
    return facts


def test_get_secret_in_a_flow_is_lazy_cached_per_execution_and_audited(
    backend: Backend, api_secret: tuple[str, str]
) -> None:
    name, value = api_secret
    started = time.time()
    handle = lazy_flow.run(name)
    facts = handle.wait()
    ended = time.time()

    # Lazy: a Secret whose values are not fetched until first use.
    assert facts["is_secret"] is True
    assert "not loaded" in facts["repr_before_use"]
    assert facts["reads_before_use"] == 0
    assert facts["name_before_use"] == name and facts["reads_after_name"] == 0
    assert facts["reads_after_first_use"] == 1
    # Cached for the execution: seven reads (body, sync, two submitted, values)
    # in the flow body and in checkpoints on three threads make one backend call.
    assert facts["reads_at_end"] == 1
    assert backend.count(name) == 1
    assert facts["body_sha"] == _sha(value)
    assert facts["sync"]["sha"] == _sha(value) and facts["sync"]["same"] is True
    region_sha = _sha(f"region-{name.removeprefix('rt-')}")
    assert [s["sha"] for s in facts["submitted"]] == [region_sha, region_sha]
    assert facts["all_keys"] == ["API_KEY", "REGION"]

    # The runtime context reached the submitted checkpoints in ZenML's worker threads.
    main = threading.current_thread().name
    for s in facts["submitted"]:
        assert s["in_flow"] is True and s["checkpoint"] == "read_key"
        assert s["execution_id"] == handle.execution_id
        assert s["thread"] != main

    # Every read is recorded: secret, keys read, checkpoint, time. Never a value.
    reads = [r.to_json() for r in handle.secret_reads]
    # (Repeated reads in one place may be kept as one entry with a count.)
    assert _read_counts(reads) == {
        (name, ("API_KEY",), None): 1,
        (name, ("API_KEY",), "read_key"): 2,
        (name, ("REGION",), "read_key"): 4,
        (name, ("API_KEY", "REGION"), "read_all_values"): 1,
    }
    assert reads[0]["checkpoint"] is None  # the flow body read first
    assert all(started <= r["at"] <= ended for r in reads)
    assert all(set(r) >= {"secret", "keys", "checkpoint", "at"} for r in reads)

    stored = kitaru.get_execution(handle.execution_id)
    assert _read_counts(list(stored.secret_reads)) == _read_counts(reads)
    assert value not in stored.model_dump_json()

    # A second execution fetches again (its own cache).
    assert lazy_flow(name)["reads_at_end"] == 1
    assert backend.count(name) == 2


@kitaru.checkpoint
def unused_lookup(name: str) -> str:
    secret = kitaru.get_secret(name)
    return secret.name


@kitaru.flow
def never_reads(name: str) -> str:
    return unused_lookup(name)


def test_a_secret_looked_up_but_never_used_is_never_fetched(
    backend: Backend, api_secret: tuple[str, str]
) -> None:
    name, _ = api_secret
    handle = never_reads.run(name)
    assert handle.wait() == name
    assert backend.calls == []
    assert handle.secret_reads == []
    assert kitaru.get_execution(handle.execution_id).secret_reads == ()


# --- concurrency ------------------------------------------------------------------

N_CONCURRENT = 4
_barrier = threading.Barrier(N_CONCURRENT)


@kitaru.checkpoint
def concurrent_reader(name: str) -> dict[str, Any]:
    try:
        # Line all readers up so their first reads overlap.
        _barrier.wait(timeout=30)
        lined_up = True
    except threading.BrokenBarrierError:
        lined_up = False
    value = kitaru.get_secret(name)["API_KEY"]
    return {"sha": _sha(value), "lined_up": lined_up, "thread": threading.get_ident()}


@kitaru.flow
def concurrent_flow(name: str) -> list[dict[str, Any]]:
    futures = [concurrent_reader.submit(name) for _ in range(N_CONCURRENT)]
    return [f.result() for f in futures]


def test_concurrent_first_reads_make_one_backend_call(
    backend: Backend, api_secret: tuple[str, str]
) -> None:
    name, value = api_secret
    backend.delay = 0.3
    _barrier.reset()
    results = concurrent_flow(name)
    assert all(r["lined_up"] for r in results), "readers did not run concurrently"
    assert len({r["thread"] for r in results}) == N_CONCURRENT
    assert [r["sha"] for r in results] == [_sha(value)] * N_CONCURRENT
    assert backend.count(name) == 1


# --- audit in `kitaru executions show` ----------------------------------------------


@kitaru.flow
def audited_flow(name: str) -> list[str]:
    return read_all_values(name)


def test_executions_show_lists_secret_reads_without_values(api_secret: tuple[str, str]) -> None:
    from click.testing import CliRunner

    name, value = api_secret
    handle = audited_flow.run(name)
    assert handle.wait() == ["API_KEY", "REGION"]

    shown = CliRunner().invoke(cli, ["executions", "show", handle.execution_id])
    assert shown.exit_code == 0, shown.output
    reads_section = shown.output.split("Secret reads:", 1)[1]
    assert name in reads_section
    assert "API_KEY, REGION" in reads_section and "[read_all_values]" in reads_section

    as_json = CliRunner().invoke(cli, ["executions", "show", handle.execution_id, "--json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert [(r["secret"], r["keys"], r["checkpoint"]) for r in data["secret_reads"]] == [
        (name, ["API_KEY", "REGION"], "read_all_values")
    ]
    for text in (shown.output, as_json.output):
        assert value not in text


# --- a slow store read does not hold up the rest of the flow ------------------------

_fetch_started = threading.Event()
_release_fetch = threading.Event()


@kitaru.checkpoint
def slow_reader(name: str) -> str:
    return _sha(kitaru.get_secret(name)["API_KEY"])


@kitaru.checkpoint
def plain(x: int) -> int:
    return x + 1


@kitaru.flow
def slow_read_flow(name: str) -> dict[str, Any]:
    reading = slow_reader.submit(name)
    started = _fetch_started.wait(timeout=30)
    # While that read is stuck in the store, new checkpoints still start and finish.
    other = [plain(1), plain.submit(2).result()]
    _release_fetch.set()
    return {"started": started, "other": other, "sha": reading.result()}


def test_a_slow_secret_read_does_not_block_other_checkpoints(
    monkeypatch: pytest.MonkeyPatch, api_secret: tuple[str, str]
) -> None:
    name, value = api_secret
    real = secret_store.get_secret
    released: list[bool] = []

    def stuck_get_secret(ref: str) -> Any:
        _fetch_started.set()
        released.append(_release_fetch.wait(timeout=30))
        return real(ref)

    _fetch_started.clear()
    _release_fetch.clear()
    monkeypatch.setattr(secret_store, "get_secret", stuck_get_secret)
    out = slow_read_flow(name)
    assert out == {"started": True, "other": [2, 3], "sha": _sha(value)}
    # The read was released by the flow body, not by its timeout: the body got
    # past its checkpoint calls while the read was still in progress.
    assert released == [True]
