"""``Secret`` is a read-only ``Mapping[str, str]``.

``dict(s)``, ``{**s}`` and ``os.environ | s`` work, and inside a flow they count
as reads of every key: in the audit, and for the leak guard (a checkpoint that
returns the copied values fails with ``SecretLeakError``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

import pytest

import kitaru
from kitaru import SecretLeakError


@pytest.fixture
def two_keys(unique: str, canary: str) -> tuple[str, dict[str, str]]:
    name = f"map-{unique}"
    values = {"API_KEY": canary, "REGION": f"region-{unique}"}
    kitaru.create_secret(name, values)
    return name, values


def test_a_secret_is_a_read_only_mapping(two_keys: tuple[str, dict[str, str]]) -> None:
    name, values = two_keys
    s = kitaru.get_secret(name)
    assert isinstance(s, Mapping)
    assert dict(s) == values
    assert {**s} == values
    merged = os.environ | s
    assert merged["API_KEY"] == values["API_KEY"] and merged["PATH"] == os.environ["PATH"]
    assert len(s) == 2 and sorted(s) == ["API_KEY", "REGION"] and "REGION" in s
    assert list(s.keys()) == ["API_KEY", "REGION"] and s.keys() == {"API_KEY", "REGION"}
    assert s.keys == ("API_KEY", "REGION")  # still the tuple it always was
    assert dict(s.items()) == values and sorted(s.values()) == sorted(values.values())
    # `.values` stays the plain dict it always was.
    assert s.values == values and s.values["REGION"] == values["REGION"]
    with pytest.raises(TypeError):
        s["API_KEY"] = "changed"  # type: ignore[index]
    assert not hasattr(s, "update") and not hasattr(s, "pop")
    assert s == values  # compared as a mapping (that reads every value)
    assert values["API_KEY"] not in repr(s) and values["API_KEY"] not in str(s)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@kitaru.checkpoint
def env_for_tool(name: str) -> dict[str, Any]:
    env = os.environ | kitaru.get_secret(name)
    copied = {**kitaru.get_secret(name)}
    return {"api_key_sha": _sha(env["API_KEY"]), "keys": sorted(copied)}


@kitaru.checkpoint
def leak_as_dict(name: str) -> dict[str, str]:
    return dict(kitaru.get_secret(name))


@kitaru.flow
def mapping_flow(name: str) -> dict[str, Any]:
    return env_for_tool(name)


@kitaru.flow
def mapping_leak_flow(name: str) -> dict[str, str]:
    return leak_as_dict(name)


def test_mapping_reads_are_audited_for_every_key(two_keys: tuple[str, dict[str, str]]) -> None:
    name, values = two_keys
    handle = mapping_flow.run(name)
    result = handle.wait()
    assert result == {"api_key_sha": _sha(values["API_KEY"]), "keys": ["API_KEY", "REGION"]}
    reads = [r.to_json() for r in handle.secret_reads]
    keys_read = {k for r in reads if r["checkpoint"] == "env_for_tool" for k in r["keys"]}
    assert {r["secret"] for r in reads} == {name}
    assert keys_read == {"API_KEY", "REGION"}


def test_a_checkpoint_returning_dict_of_a_secret_is_refused(
    two_keys: tuple[str, dict[str, str]],
) -> None:
    name, values = two_keys
    handle = mapping_leak_flow.run(name)
    assert handle.status == "failed"
    with pytest.raises(SecretLeakError) as info:
        handle.wait()
    assert info.value.secret == name
    for value in values.values():
        assert value not in str(info.value)
    ex = kitaru.get_execution(handle.execution_id)
    assert ex.status == "failed" and values["API_KEY"] not in ex.model_dump_json()
