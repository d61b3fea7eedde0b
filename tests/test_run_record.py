"""The typed run record: flat metadata cards that read back as written; runner liveness."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from kitaru.runtime.inline import MAX_INLINE_BYTES, inline_json
from kitaru.runtime.liveness import process_alive, this_runner
from kitaru.runtime.reads import SecretRead
from kitaru.runtime.record import CheckpointRecord, SecretReadRecord

_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
_keys = st.lists(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789", min_size=1, max_size=10),
    max_size=4,
    unique=True,
)
_times = st.floats(min_value=1e9, max_value=2e9, allow_nan=False)


@st.composite
def records(draw: st.DrawFn) -> CheckpointRecord:
    started = draw(_times)
    reads = tuple(
        SecretReadRecord(
            secret=draw(_names),
            keys=tuple(draw(_keys)),
            count=draw(st.integers(1, 50)),
            at=started,
            last_at=started + draw(st.floats(0, 100)),
        )
        for _ in range(draw(st.integers(0, 3)))
    )
    calls = tuple(
        {
            "alias": draw(_names),
            "model": "openai/" + draw(_names),
            "latency_s": draw(st.floats(0, 10)),
            "usage": {"prompt_tokens": draw(st.integers(0, 999))},
            "prompt": [{"role": "user", "content": draw(st.text(max_size=40))}],
            "response": draw(st.text(max_size=40)),
            "credential": "secret:" + draw(_names),
        }
        for _ in range(draw(st.integers(0, 3)))
    )
    failed = draw(st.booleans())
    return CheckpointRecord(
        id=draw(_names),
        name=draw(_names),
        status="failed" if failed else "completed",
        attempts=draw(st.integers(1, 9)),
        args_hash=draw(st.one_of(st.none(), st.text(alphabet="0123456789abcdef", min_size=16))),
        errors=tuple(draw(st.lists(_names, max_size=3))),
        error="ValueError: boom" if failed else None,
        started=started,
        ended=started + draw(st.floats(0, 1000)),
        secret_reads=reads,
        llm_calls=calls,
    )


@settings(max_examples=60, deadline=None)
@given(records(), st.one_of(st.none(), st.text(min_size=1, max_size=50)))
def test_a_record_reads_back_from_its_flat_cards(
    record: CheckpointRecord, output: str | None
) -> None:
    cards = record.to_metadata(output)
    # Flat: each card maps field names to scalars, so the dashboard shows fields.
    for card in cards.values():
        assert isinstance(card, dict)
        assert all(v is None or isinstance(v, str | int | float | bool) for v in card.values())
    back = CheckpointRecord.from_metadata(cards)
    assert back is not None
    assert (back.id, back.name, back.status, back.attempts) == (
        record.id,
        record.name,
        record.status,
        record.attempts,
    )
    assert back.args_hash == (record.args_hash or None)
    assert back.errors == record.errors and back.error == record.error
    assert abs(back.started - record.started) < 1e-3 and abs(back.ended - record.ended) < 1e-3
    assert [(r.secret, r.keys, r.count) for r in back.secret_reads] == [
        (r.secret, r.keys, r.count) for r in record.secret_reads
    ]
    assert [c["usage"] for c in back.llm_calls] == [c["usage"] for c in record.llm_calls]
    assert [c["prompt"] for c in back.llm_calls] == [c["prompt"] for c in record.llm_calls]
    assert (cards.get("kitaru_logs") or {}).get("output") == output


@settings(max_examples=50, deadline=None)
@given(
    _names,
    _keys,
    st.one_of(st.none(), _names),
    _times,
    st.integers(1, 50),
    st.one_of(st.none(), _times),
)
def test_a_secret_read_reads_back_from_each_of_its_stored_forms(
    secret: str,
    keys: list[str],
    checkpoint: str | None,
    at: float,
    count: int,
    last_at: float | None,
) -> None:
    read = SecretRead(secret, tuple(keys), checkpoint, at, count, last_at)
    settled = SecretRead(secret, tuple(keys), checkpoint, at, count, last_at or at)
    assert SecretRead.from_json(read.to_json()) == settled
    if checkpoint is not None:
        assert SecretRead.from_record(read.to_record(), checkpoint) == settled
        card = SecretReadRecord.from_card(read.to_record().card())
        assert SecretRead.from_record(card, checkpoint).secret == secret


def test_what_is_no_secret_read_is_not_parsed_as_one() -> None:
    for junk in (None, "s", [], {}, {"secret": 3}, {"keys": ["K"]}):
        assert SecretRead.from_json(junk) is None
    assert SecretRead.from_json({"secret": "s"}) == SecretRead("s", (), None, 0.0)


def test_metadata_without_a_current_record_is_not_read_as_one() -> None:
    assert CheckpointRecord.from_metadata({}) is None
    assert CheckpointRecord.from_metadata({"kitaru": {"attempts": 2}}) is None  # older format


def test_plain_json_results_are_kept_inline_and_others_are_not() -> None:
    assert inline_json({"a": [1, 2.5, None, "x"]}) == '{"a": [1, 2.5, null, "x"]}'
    assert inline_json((1, 2)) is None  # a tuple would come back as a list
    assert inline_json((1, 2), tuples=True) == "[1, 2]"  # a view only shows it
    assert inline_json(float("nan")) is None
    assert inline_json({1: "a"}) is None
    assert inline_json(object()) is None
    # The limit is on the JSON text, quotes and escapes included.
    assert inline_json("x" * (MAX_INLINE_BYTES - 2)) is not None
    assert inline_json("x" * (MAX_INLINE_BYTES - 1)) is None
    assert inline_json("é" * (MAX_INLINE_BYTES // 6 + 1)) is None  # 6 bytes each: \u00e9


def test_a_live_process_is_alive_and_a_dead_or_reused_pid_is_not() -> None:
    assert process_alive(this_runner("t")) is True
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        info = this_runner("t").model_copy(update={"pid": child.pid})
        # Same pid, another start time: a reused pid is not the runner.
        assert process_alive(info) is False
        from kitaru.runtime import liveness

        real = info.model_copy(update={"start_ticks": liveness._start_ticks(child.pid)})
        assert process_alive(real) is True
        child.kill()
        time.sleep(0.2)  # killed, not reaped yet: a zombie is dead too
        assert process_alive(real) is False
    finally:
        child.kill()
        child.wait()
    assert process_alive(real) is False


def test_a_runner_on_another_host_or_pid_namespace_cannot_be_checked_here() -> None:
    here = this_runner("t")
    assert process_alive(here.model_copy(update={"host": "elsewhere"})) is None
    assert process_alive(here.model_copy(update={"pidns": "pid:[1]"})) is None
    assert os.getpid() == here.pid
