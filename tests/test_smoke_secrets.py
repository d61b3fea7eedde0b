"""A first end-to-end check that the SDK talks to a real store."""

from __future__ import annotations

import kitaru


def test_create_get_delete_roundtrip(unique: str, canary: str) -> None:
    name = f"roundtrip-{unique}"
    created = kitaru.create_secret(name, {"TOKEN": canary})
    assert created.name == name and created.keys == ("TOKEN",) and created.private is False
    assert kitaru.get_secret(name).get("TOKEN") == canary
    deleted = kitaru.delete_secret(name)
    assert deleted.id == created.id
    assert all(s.id != created.id for s in kitaru.list_secrets())
