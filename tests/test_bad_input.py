"""Bad secret input is refused with a clear error, and nothing is written.

Every rejected create/set is checked against a snapshot of the whole store (names,
IDs, visibility and every value) taken before the call. Values are canaries, so a
message that echoes one is caught.
"""

from __future__ import annotations

import json
import string
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from conftest import run_cli
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import kitaru
from kitaru._store import validation as check
from kitaru.errors import InvalidSecretError, KitaruError, SecretNotFoundError

MAX = 64 * 1024
Snapshot = dict[str, tuple[str, bool, dict[str, str]]]


def snapshot() -> Snapshot:
    """Everything the store holds: id -> (name, private, values)."""
    out: Snapshot = {}
    for s in kitaru.list_secrets():
        out[s.id] = (s.name, s.private, kitaru.get_secret(s.id).values)
    return out


def new_canary() -> str:
    return f"canary-{uuid.uuid4().hex}"


def assert_clean_error(exc: BaseException, *canaries: str) -> None:
    """A kitaru error whose text and attributes hold none of ``canaries``."""
    assert isinstance(exc, InvalidSecretError)
    assert isinstance(exc, KitaruError) and isinstance(exc, ValueError)
    text = f"{exc}\n{exc!r}\n{vars(exc)!r}"
    assert str(exc).strip(), "the message must say what is wrong"
    for c in canaries:
        assert c not in text


def refused(fn: Callable[[], Any], *canaries: str) -> InvalidSecretError:
    """Run a write that must be refused; check the error and that nothing changed."""
    before = snapshot()
    with pytest.raises(InvalidSecretError) as info:
        fn()
    assert_clean_error(info.value, *canaries)
    assert snapshot() == before
    return info.value


@pytest.fixture(scope="module")
def existing() -> Iterator[tuple[str, dict[str, str]]]:
    """A secret that bad upserts must leave exactly as it is."""
    name = f"bad-input-existing-{uuid.uuid4().hex[:8]}"
    values = {"OLD_KEY": new_canary(), "OTHER": new_canary()}
    kitaru.create_secret(name, values)
    yield name, values
    kitaru.delete_secret(name)


def both_writes(name: Any, values: Any) -> list[Callable[[], Any]]:
    return [
        lambda: kitaru.create_secret(name, values),
        lambda: kitaru.set_secret(name, values),
        lambda: kitaru.set_secret(name, values, private=True),
    ]


# --------------------------------------------------------------------------- names

BAD_NAMES = [
    pytest.param("", id="empty"),
    pytest.param("   ", id="blank"),
    pytest.param("\t", id="tab-only"),
    pytest.param(" leading", id="leading-space"),
    pytest.param("trailing ", id="trailing-space"),
    pytest.param("\u00a0nbsp", id="leading-nbsp"),
    pytest.param("n" * 256, id="over-long"),
    pytest.param("a\x00b", id="nul"),
    pytest.param("a\nb", id="newline"),
    pytest.param("a\x1b[31mb", id="escape"),
    pytest.param("a\u200bb", id="zero-width"),
    pytest.param("a\u2028b", id="line-separator"),
    pytest.param("a\ud800b", id="lone-surrogate"),
    pytest.param(str(uuid.uuid4()), id="uuid"),
    pytest.param(str(uuid.uuid4()).upper(), id="uuid-upper"),
    pytest.param(uuid.uuid4().hex, id="uuid-hex"),
    pytest.param(None, id="none"),
    pytest.param(42, id="int"),
    pytest.param(b"bytes-name", id="bytes"),
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_name_is_refused_and_nothing_written(name: Any, existing: Any) -> None:
    canary = new_canary()
    for write in both_writes(name, {"TOKEN": canary}):
        exc = refused(write, canary)
        assert exc.field == "name"


def test_name_limits_are_exact() -> None:
    """255 characters and a UUID-like but non-UUID name are fine; 256 is not."""
    ok = f"n{uuid.uuid4().hex}".ljust(255, "n")
    almost_uuid = str(uuid.uuid4())[:-1] + "g"
    canary = new_canary()
    for name in (ok, almost_uuid):
        kitaru.create_secret(name, {"TOKEN": canary})
        try:
            assert kitaru.get_secret(name).values == {"TOKEN": canary}
        finally:
            kitaru.delete_secret(name)
    refused(lambda: kitaru.create_secret(ok + "n", {"TOKEN": canary}), canary)


def test_name_error_messages_are_printable() -> None:
    """Control characters are shown escaped, never raw, in the message."""
    for name in ("a\x1b[2Jb", "a\nb", "a\x00b", "a\ud800b"):
        with pytest.raises(InvalidSecretError) as info:
            kitaru.create_secret(name, {"TOKEN": "v"})
        msg = str(info.value)
        assert msg.isprintable(), msg
        msg.encode("utf-8")  # no lone surrogate either


# ---------------------------------------------------------------------------- keys

BAD_KEYS = [
    pytest.param("1ABC", id="leading-digit"),
    pytest.param("A-B", id="dash"),
    pytest.param("", id="empty"),
    pytest.param("A B", id="space"),
    pytest.param(" A", id="leading-space"),
    pytest.param("A.B", id="dot"),
    pytest.param("ÄPI_KEY", id="non-ascii-letter"),
    pytest.param("KEY\u0661", id="non-ascii-digit"),
    pytest.param("KEY\n", id="trailing-newline"),
    pytest.param("A=B", id="equals"),
    pytest.param("K" * 256, id="over-long"),
    pytest.param(7, id="int"),
    pytest.param(None, id="none"),
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_key_is_refused_and_nothing_written(key: Any, existing: Any) -> None:
    canary, good = new_canary(), new_canary()
    name = f"bad-key-{uuid.uuid4().hex[:8]}"
    # A good key next to the bad one must not be written either.
    values = {"GOOD_KEY": good, key: canary}
    for write in both_writes(name, values):
        exc = refused(write, canary, good)
        assert exc.field == "key"
    ex_name, _ = existing
    refused(lambda: kitaru.set_secret(ex_name, values), canary, good)


def test_key_error_names_the_key_and_the_rule() -> None:
    with pytest.raises(InvalidSecretError) as info:
        kitaru.create_secret(f"k-{uuid.uuid4().hex[:8]}", {"A-B": new_canary()})
    msg = str(info.value)
    assert "'A-B'" in msg and "environment-variable" in msg


def test_valid_keys_are_accepted() -> None:
    name = f"good-keys-{uuid.uuid4().hex[:8]}"
    values = {k: new_canary() for k in ("_", "_X", "a", "OPENAI_API_KEY", "k1", "K" * 255)}
    kitaru.create_secret(name, values)
    try:
        assert kitaru.get_secret(name).values == values
    finally:
        kitaru.delete_secret(name)


# -------------------------------------------------------------------------- values

BAD_VALUES = [
    pytest.param("", id="empty"),
    pytest.param(None, id="none"),
    pytest.param(12345, id="int"),
    pytest.param(1.5, id="float"),
    pytest.param(True, id="bool"),
    pytest.param(b"bytes-canary", id="bytes"),
    pytest.param(["a"], id="list"),
    pytest.param("\ud800-surrogate", id="lone-surrogate"),
]


@pytest.mark.parametrize("value", BAD_VALUES)
def test_bad_value_is_refused_and_nothing_written(value: Any, existing: Any) -> None:
    good = new_canary()
    name = f"bad-value-{uuid.uuid4().hex[:8]}"
    values = {"GOOD_KEY": good, "BAD_KEY": value}
    for write in both_writes(name, values):
        exc = refused(write, good)
        assert exc.field == "BAD_KEY"
        assert "BAD_KEY" in str(exc)
        if isinstance(value, str) and value:
            assert value not in str(exc)
    ex_name, _ = existing
    # On an existing secret an empty value must not wipe (or replace) OLD_KEY.
    refused(lambda: kitaru.set_secret(ex_name, {"OLD_KEY": value}), good)


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({}, id="no-keys"),
        pytest.param([("A", "b")], id="list-of-pairs"),
        pytest.param("A=b", id="string"),
        pytest.param(None, id="none"),
    ],
)
def test_values_must_be_a_non_empty_mapping(values: Any) -> None:
    name = f"bad-values-{uuid.uuid4().hex[:8]}"
    for write in both_writes(name, values):
        exc = refused(write)
        assert exc.field == "values"


# ---------------------------------------------------------------------------- size


def test_size_limit_is_exact_and_counts_utf8_bytes() -> None:
    name = f"size-{uuid.uuid4().hex[:8]}"
    fits = "x" * (MAX - 1)  # key "K" (1 byte) + value = exactly 64 KiB
    kitaru.create_secret(name, {"K": fits})
    try:
        assert kitaru.get_secret(name).values == {"K": fits}
    finally:
        kitaru.delete_secret(name)

    canary = new_canary()
    one_over = canary + "x" * (MAX - len(canary))  # 1 + 65536 bytes
    refused(lambda: kitaru.create_secret(name, {"K": one_over}), canary)
    refused(lambda: kitaru.set_secret(name, {"K": one_over}), canary)
    # 2-byte characters: 32 Ki characters are 64 KiB of UTF-8, plus the key.
    wide = canary + "é" * (MAX // 2)
    exc = refused(lambda: kitaru.create_secret(name, {"K": wide}), canary)
    assert "64 KiB" in str(exc) and exc.field == "values"
    # Many keys whose total exceeds the limit, none of them big on its own.
    many = {f"K{i}": canary + "y" * 8000 for i in range(9)}
    refused(lambda: kitaru.create_secret(name, many), canary)


def test_upsert_over_size_limit_keeps_the_old_values(existing: Any) -> None:
    name = f"size-upsert-{uuid.uuid4().hex[:8]}"
    old = {"BIG": new_canary() + "o" * 40_000}
    kitaru.create_secret(name, old)
    try:
        canary = new_canary()
        # Alone this fits; merged with BIG it is over 64 KiB.
        add = {"MORE": canary + "n" * 30_000}
        assert len(add["MORE"]) < MAX
        refused(lambda: kitaru.set_secret(name, add), canary)
        assert kitaru.get_secret(name).values == old
        # Overwriting BIG with a smaller value is fine (merged size is what counts).
        smaller = {"BIG": new_canary(), "MORE": canary + "n" * 30_000}
        result = kitaru.set_secret(name, smaller)
        assert result.action == "updated"
        assert kitaru.get_secret(name).values == smaller
    finally:
        kitaru.delete_secret(name)


# ----------------------------------------------------------------- hypothesis

_SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
_TEXT = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=string.printable, max_size=12),
    st.text(alphabet=st.one_of(st.characters(), _SURROGATES), min_size=1, max_size=6),
)
_VALID_NAME = st.text(
    alphabet=string.ascii_letters + string.digits + "-_./:%*@ ", min_size=1, max_size=20
).filter(lambda s: s.strip() == s)
_UNICODE_NAME = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp", "Zs")),
    min_size=1,
    max_size=15,
)


def weighted(*pairs: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Pick a strategy with the given integer weights (``one_of`` is not uniform)."""
    table = [strategy for weight, strategy in pairs for _ in range(weight)]
    return st.integers(min_value=0, max_value=len(table) - 1).flatmap(lambda i: table[i])


# Mostly valid input, so the "written exactly" half of the property runs too.
NAMES = weighted(
    (4, _VALID_NAME),
    (2, _UNICODE_NAME),
    (3, _TEXT),
    (1, st.uuids().map(str)),
    (1, st.integers(min_value=250, max_value=260).map(lambda n: "n" * n)),
)
_VALID_KEY = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
KEYS = weighted((8, _VALID_KEY), (2, _TEXT))


def _canary_value(suffix: str) -> str:
    return f"hv-{uuid.uuid4().hex[:16]}{suffix}"


VALUES = weighted(
    (12, _TEXT.map(_canary_value)),
    (1, st.just("")),
    (1, st.none()),
    (1, st.integers()),
    (1, st.binary(max_size=8)),
    (1, st.integers(min_value=MAX - 40, max_value=MAX + 40).map(lambda n: _canary_value("v" * n))),
)
VALUE_MAPS = st.dictionaries(KEYS, VALUES, min_size=0, max_size=3)
HYPO = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _canaries_of(values: Mapping[Any, Any]) -> list[str]:
    return [v[:19] for v in values.values() if isinstance(v, str) and v.startswith("hv-")]


def _attempt(write: Callable[[], Any], values: Mapping[Any, Any]) -> BaseException | None:
    try:
        write()
    except KitaruError as exc:
        event(f"refused: {type(exc).__name__} ({getattr(exc, 'field', None) or '-'})")
        text = f"{exc}\n{exc!r}\n{vars(exc)!r}"
        for c in _canaries_of(values):
            assert c not in text
        return exc
    event("written")
    return None


def _cleanup(before: Snapshot) -> None:
    for s in kitaru.list_secrets():
        if s.id not in before:
            kitaru.delete_secret(s.id)


@HYPO
@given(name=NAMES, values=VALUE_MAPS, use_set=st.booleans(), private=st.booleans())
def test_arbitrary_new_secret_is_written_exactly_or_not_at_all(
    name: Any, values: dict[Any, Any], use_set: bool, private: bool
) -> None:
    before = snapshot()
    try:
        if use_set:
            err = _attempt(lambda: kitaru.set_secret(name, values, private=private), values)
        else:
            err = _attempt(lambda: kitaru.create_secret(name, values, private=private), values)
        after = snapshot()
        if err is not None:
            assert after == before
            return
        added = {k: v for k, v in after.items() if k not in before}
        assert len(added) == 1 and {k: v for k, v in after.items() if k in before} == before
        (stored_name, stored_private, stored_values) = next(iter(added.values()))
        assert (stored_name, stored_private) == (name, private)
        assert stored_values == values
        assert kitaru.get_secret(name).values == values
    finally:
        _cleanup(before)


@pytest.fixture(scope="module")
def upsert_target() -> Iterator[str]:
    name = f"hypo-upsert-{uuid.uuid4().hex[:8]}"
    kitaru.create_secret(name, {"BASE": new_canary()})
    yield name
    kitaru.delete_secret(name)


@HYPO
@given(values=VALUE_MAPS)
def test_arbitrary_upsert_merges_exactly_or_changes_nothing(
    upsert_target: str, values: dict[Any, Any]
) -> None:
    before = snapshot()
    target = next(k for k, v in before.items() if v[0] == upsert_target)
    err = _attempt(lambda: kitaru.set_secret(upsert_target, values), values)
    after = snapshot()
    if err is not None:
        assert after == before
        return
    assert after.keys() == before.keys()
    assert {k: v for k, v in after.items() if k != target} == {
        k: v for k, v in before.items() if k != target
    }
    name, private, old = before[target]
    assert after[target] == (name, private, {**old, **values})
    # Put the secret back to one key, so examples stay independent and small.
    kitaru.delete_secret(target)
    kitaru.create_secret(upsert_target, old)


def test_validators_never_raise_anything_but_invalid_secret_error() -> None:
    """Direct checks of odd types that the SDK passes straight to the validators."""
    for bad in (object(), 1.5, ("A",), {"A"}):
        with pytest.raises(InvalidSecretError):
            check.validate_name(bad)
        with pytest.raises(InvalidSecretError):
            check.validate_values(bad)
        with pytest.raises(InvalidSecretError):
            check.validate_ref(bad)


# -------------------------------------------------------------------------- CLI


def _assert_one_line_error(proc: Any, code: int, *canaries: str) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in proc.stderr + proc.stdout
    for c in canaries:
        assert c not in proc.stderr and c not in proc.stdout
    return lines[0]


@pytest.mark.parametrize(
    ("name", "args", "expect"),
    [
        pytest.param(" padded", ["--TOKEN={c}"], "whitespace", id="bad-name"),
        pytest.param("a\x1bname", ["--TOKEN={c}"], "control", id="control-name"),
        pytest.param(str(uuid.UUID(int=7)), ["--TOKEN={c}"], "UUID", id="uuid-name"),
        pytest.param("cli-{u}", ["--A-B={c}"], "'A-B'", id="bad-key"),
        pytest.param("cli-{u}", ["--1ABC={c}"], "'1ABC'", id="digit-key"),
        pytest.param("cli-{u}", ["--A={c}", "--A={c}2"], "more than once", id="duplicate-key"),
        pytest.param("cli-{u}", ["--A="], "empty", id="empty-value"),
        pytest.param("cli-{u}", [], "KEY=value", id="no-values"),
    ],
)
def test_cli_set_refuses_bad_input(name: str, args: list[str], expect: str) -> None:
    canary, u = new_canary(), uuid.uuid4().hex[:8]
    before = snapshot()
    proc = run_cli("secrets", "set", name.format(u=u), *[a.format(c=canary) for a in args])
    line = _assert_one_line_error(proc, 2, canary)
    assert expect in line
    assert snapshot() == before


def test_cli_upsert_over_size_limit_keeps_old_values(existing: Any) -> None:
    name, old = existing
    canary = new_canary()
    before = snapshot()
    # Alone this value fits; merged with the existing keys it is over 64 KiB.
    big = canary + "x" * (MAX - len("BIG") - 50 - len(canary))
    assert sum(len(k) + len(v) for k, v in old.items()) > 50
    proc = run_cli("secrets", "set", name, "--BIG=-", input=big)
    line = _assert_one_line_error(proc, 2, canary)
    assert "64 KiB" in line
    assert snapshot() == before
    assert kitaru.get_secret(name).values == old


def test_cli_missing_secret_is_one_line_not_found() -> None:
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    before = snapshot()
    for cmd in (("show", missing), ("delete", missing)):
        proc = run_cli("secrets", *cmd)
        line = _assert_one_line_error(proc, 1)
        assert f"'{missing}'" in line and "not found" in line
    assert snapshot() == before
    with pytest.raises(SecretNotFoundError):
        kitaru.get_secret(missing)


def test_cli_json_output_of_bad_input_is_still_an_error() -> None:
    """--json does not turn a refused write into a success document."""
    canary = new_canary()
    proc = run_cli("secrets", "set", "cli-json-x", "--json", "--A-B=" + canary)
    _assert_one_line_error(proc, 2, canary)
    with pytest.raises(json.JSONDecodeError):
        json.loads(proc.stdout or "")
