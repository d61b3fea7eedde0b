"""Replay fingerprints are keyed: a run record alone does not reveal small arguments.

The fingerprint of a checkpoint's arguments (and of a flow-body ``llm()`` call's
prompt) is an HMAC under a key kept beside the secret store's key, never in the
run records. Trying every 4-digit PIN against a stored fingerprint finds nothing
without that key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import files_containing

import kitaru
from kitaru._store.fingerprint_key import KEY_FILE_NAME, fingerprint_key
from kitaru.testing import LocalOpenAIServer

PIN = "4821"


@kitaru.checkpoint
def unlock(pin: str) -> int:
    return len(pin)


@kitaru.flow
def pin_flow(pin: str) -> int:
    return unlock(pin)


def _stored_hashes(execution_id: str) -> dict[str, str]:
    from kitaru._zenml.client import get_client

    get_client()
    from kitaru._zenml import runs

    record = runs.kitaru_record(execution_id)
    return {c["id"]: c["args_hash"] for c in record["checkpoints"]}


def _unkeyed_hashes(data: bytes) -> set[str]:
    out = set()
    for algorithm in ("md5", "sha1", "sha224", "sha256", "sha384", "sha512", "blake2b", "sha3_256"):
        out.add(hashlib.new(algorithm, data).hexdigest())
    return out


def _candidates(args: tuple[Any, ...]) -> list[bytes]:
    """Every plain serialisation of a call's arguments an attacker would try."""
    call = (args, [])
    out = [pickle.dumps(call, protocol=p) for p in range(pickle.HIGHEST_PROTOCOL + 1)]
    out += [repr(call).encode(), repr(args).encode()]
    out += [str(a).encode() for a in args]
    return out


def _matches_unkeyed(stored: str, args: tuple[Any, ...]) -> bool:
    return any(h.startswith(stored) for data in _candidates(args) for h in _unkeyed_hashes(data))


@pytest.fixture
def key_file(config_path: Path) -> Iterator[Path]:
    yield config_path / KEY_FILE_NAME


def test_checkpoint_argument_fingerprint_is_keyed(key_file: Path) -> None:
    handle = pin_flow.run(PIN)
    assert handle.wait() == 4
    stored = _stored_hashes(handle.execution_id)["unlock"]
    assert len(stored) == 16
    # No unkeyed hash of any plain serialisation of the argument gives it.
    assert not _matches_unkeyed(stored, (PIN,))
    # It is the HMAC under the key in the private file beside the secret store's key.
    assert key_file.exists() and stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    data = pickle.dumps(((PIN,), []), protocol=4)
    assert stored == hmac.new(fingerprint_key(), data, hashlib.sha256).hexdigest()[:16]
    # The key itself is in no run record: not in the store's database.
    key_text = key_file.read_text(encoding="utf-8").strip()
    _seen, hits = files_containing(key_file.parent / "zenml", [key_text])
    assert hits == []


def test_same_arguments_same_fingerprint_across_runs() -> None:
    first = _stored_hashes(pin_flow.run(PIN).execution_id)["unlock"]
    again = _stored_hashes(pin_flow.run(PIN).execution_id)["unlock"]
    other = _stored_hashes(pin_flow.run("4822").execution_id)["unlock"]
    assert first == again != other


def test_flow_body_llm_prompt_fingerprint_is_keyed() -> None:
    prompt = f"pin {PIN} {uuid.uuid4().hex[:6]}"
    with LocalOpenAIServer() as server:

        @kitaru.flow
        def asks() -> str:
            return kitaru.llm(
                prompt, model="openai/demo", api_base=server.base_url, api_key="sk-x", name="q"
            )

        handle = asks.run()
        assert handle.wait() == f"echo: {prompt}"
    stored = _stored_hashes(handle.execution_id)["llm_q"]
    identity = (prompt, "openai/demo", None)
    assert not _matches_unkeyed(stored, identity)
    assert not _matches_unkeyed(stored, (identity,))
    assert not _matches_unkeyed(stored, (prompt,))


def test_the_scope_fingerprints_with_the_key_its_engine_gives() -> None:
    # The runtime does not fetch the key (it does not import the store): the
    # engine hands each execution scope a function that returns it.
    from kitaru.runtime import ExecutionScope

    asked: list[bytes] = []

    def key() -> bytes:
        asked.append(b"k")
        return b"k" * 32

    def no_secrets(ref: str) -> Any:
        raise AssertionError(ref)

    scope = ExecutionScope("f", "e", fetch_secret=no_secrets, fingerprint_key=key)
    assert asked == []  # nothing is read until a checkpoint is called
    scope.next_invocation_id("unlock", (PIN,), {})
    data = pickle.dumps(((PIN,), []), protocol=4)
    expected = hmac.new(b"k" * 32, data, hashlib.sha256).hexdigest()[:16]
    assert scope.checkpoints["unlock"]["args_hash"] == expected
    assert asked == [b"k"]
