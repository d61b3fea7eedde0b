"""The secrets SDK against the session's real store: create/get/set/list/delete.

Every value written is a unique canary, so a leak into a summary, a repr or an
error message is caught by a plain substring check.
"""

from __future__ import annotations

import pickle
import uuid

import pytest

import kitaru
from kitaru import (
    InvalidSecretError,
    KitaruError,
    MissingSecretKeyError,
    Secret,
    SecretExistsError,
    SecretNotFoundError,
    SecretSetResult,
    SecretSummary,
    SecretUnavailableError,
)
from kitaru._store.backend import StoredSecret

# A name shaped like an ID; fixed, as both pytest workers must collect the same tests.
UUID_NAME = "8e1d4a27-5c3b-4f90-a6e2-71b0c9d3f458"


def _names(name: str) -> list[SecretSummary]:
    return [s for s in kitaru.list_secrets() if s.name == name]


# --- create -----------------------------------------------------------------


def test_create_returns_public_metadata_only_summary(unique: str, canary: str) -> None:
    name = f"create-{unique}"
    created = kitaru.create_secret(name, {"B_KEY": canary, "A_KEY": canary + "-2"})
    assert isinstance(created, SecretSummary)
    assert created.name == name
    assert created.private is False and created.visibility == "public"
    assert created.keys == ("A_KEY", "B_KEY")
    assert isinstance(created.id, str) and str(uuid.UUID(created.id)) == created.id
    for rendering in (repr(created), str(created), created.model_dump_json()):
        assert canary not in rendering
    assert canary not in repr(created.model_dump())


def test_create_private(unique: str, canary: str) -> None:
    name = f"create-private-{unique}"
    created = kitaru.create_secret(name, {"TOKEN": canary}, private=True)
    assert created.private is True and created.visibility == "private"
    got = kitaru.get_secret(name)
    assert got.private is True and got.id == created.id


def test_create_existing_raises_and_keeps_the_original(unique: str, canary: str) -> None:
    name = f"exists-{unique}"
    kitaru.create_secret(name, {"TOKEN": canary})
    with pytest.raises(SecretExistsError) as info:
        kitaru.create_secret(name, {"TOKEN": canary + "-new"})
    err = info.value
    assert isinstance(err, KitaruError)
    assert err.secret == name and err.private is False
    assert name in str(err) and "public" in str(err)
    assert canary not in str(err) and canary not in repr(err)
    assert kitaru.get_secret(name).get("TOKEN") == canary
    assert len(_names(name)) == 1


def test_create_existing_error_reports_the_requested_scope(unique: str, canary: str) -> None:
    # Regression: the scope used to be guessed from ZenML's message text, which
    # quotes the name, so a public "...private..." secret was reported as private.
    name = f"my-private-token-{unique}"
    kitaru.create_secret(name, {"TOKEN": canary})
    with pytest.raises(SecretExistsError) as info:
        kitaru.create_secret(name, {"TOKEN": canary})
    assert info.value.private is False
    assert str(info.value).startswith(f"A public secret named {name!r}")


def test_invalid_input_writes_nothing_and_never_echoes_values(unique: str, canary: str) -> None:
    name = f"invalid-{unique}"
    bad_inputs: list[object] = [
        {"GOOD": canary, "1BAD": canary},  # bad key
        {"GOOD": canary, "A-B": canary},  # bad key
        {"GOOD": canary, "EMPTY": ""},  # empty value
        {"GOOD": canary, "NUM": 12345},  # not a string
        {"BIG": canary * 2000},  # over 64 KiB
        {},  # no keys
        [("GOOD", canary)],  # not a mapping
    ]
    for values in bad_inputs:
        with pytest.raises(InvalidSecretError) as info:
            kitaru.create_secret(name, values)  # type: ignore[arg-type]
        err = info.value
        assert isinstance(err, KitaruError) and isinstance(err, ValueError)
        assert err.secret == name
        assert canary not in str(err) and canary not in repr(err.args)
        with pytest.raises(InvalidSecretError):
            kitaru.set_secret(name, values)  # type: ignore[arg-type]
    assert _names(name) == []
    with pytest.raises(SecretNotFoundError):
        kitaru.get_secret(name)


@pytest.mark.parametrize(
    "bad_name",
    ["", "   ", " lead", "trail ", "new\nline", "x" * 256, UUID_NAME, UUID_NAME.replace("-", "")],
)
def test_bad_names_are_refused(bad_name: str, canary: str) -> None:
    with pytest.raises(InvalidSecretError) as info:
        kitaru.create_secret(bad_name, {"TOKEN": canary})
    assert canary not in str(info.value)


# --- get: exact lookups -----------------------------------------------------


def test_get_secret_model(unique: str, canary: str) -> None:
    name = f"get-{unique}"
    created = kitaru.create_secret(name, {"TOKEN": canary, "OTHER": "x-" + canary})
    secret = kitaru.get_secret(name)
    assert isinstance(secret, Secret)
    assert secret.name == name
    assert isinstance(secret.id, str) and secret.id == created.id
    assert secret.private is False
    assert secret.values == {"TOKEN": canary, "OTHER": "x-" + canary}
    assert all(type(k) is str and type(v) is str for k, v in secret.values.items())
    assert secret.get("TOKEN") == canary
    assert secret.get("MISSING") is None
    assert secret.get("MISSING", "fallback") == "fallback"
    assert secret["TOKEN"] == canary
    assert "TOKEN" in secret and "MISSING" not in secret
    # values is a copy: changing it does not change the secret.
    secret.values["TOKEN"] = "changed"
    assert secret.get("TOKEN") == canary


def test_missing_key_error_names_secret_and_key(unique: str, canary: str) -> None:
    name = f"missing-key-{unique}"
    kitaru.create_secret(name, {"TOKEN": canary})
    with pytest.raises(MissingSecretKeyError) as info:
        kitaru.get_secret(name)["NOPE"]
    err = info.value
    assert isinstance(err, KitaruError) and isinstance(err, KeyError)
    assert err.secret == name and err.key == "NOPE"
    assert name in str(err) and "NOPE" in str(err) and canary not in str(err)


def test_unavailable_key_raises_without_value() -> None:
    # A server withholds values the caller may not read (value None); no local
    # store does that, so the stored record is built by hand.
    stored = StoredSecret(
        id=str(uuid.uuid4()), name="shared", private=False, values={"OK": "v", "HIDDEN": None}
    )
    secret = Secret("shared", lambda: stored)
    assert secret.unavailable_keys == ("HIDDEN",)
    assert secret.values == {"OK": "v"}
    with pytest.raises(SecretUnavailableError) as info:
        secret.get("HIDDEN")
    assert isinstance(info.value, KitaruError)
    assert "shared" in str(info.value) and "HIDDEN" in str(info.value)


def test_get_is_not_a_substring_or_prefix_match(unique: str, canary: str) -> None:
    name = f"exact-{unique}-suffix"
    created = kitaru.create_secret(name, {"TOKEN": canary})
    for ref in (f"exact-{unique}", f"{unique}-suffix", unique, name[:-1], name.upper()):
        with pytest.raises(SecretNotFoundError) as info:
            kitaru.get_secret(ref)
        assert info.value.secret == ref and ref in str(info.value)
        assert canary not in str(info.value)
    # ID prefixes (ZenML's client would accept these) are not IDs.
    for ref in (created.id[:8], created.id[:13], created.id[:-1]):
        with pytest.raises(SecretNotFoundError):
            kitaru.get_secret(ref)
    # The full ID works, also in upper case and in hex form.
    for ref in (created.id, created.id.upper(), uuid.UUID(created.id).hex):
        got = kitaru.get_secret(ref)
        assert got.id == created.id and got.name == name and got.get("TOKEN") == canary


def test_unknown_full_id_is_not_found() -> None:
    ref = str(uuid.uuid4())
    with pytest.raises(SecretNotFoundError) as info:
        kitaru.get_secret(ref)
    assert ref in str(info.value)


def test_private_exact_name_beats_public_longer_name(unique: str, canary: str) -> None:
    base = f"abc-{unique}"
    public = kitaru.create_secret(f"{base}-extra", {"TOKEN": "public-" + canary})
    # Only the longer public name exists: "base" does not match it.
    with pytest.raises(SecretNotFoundError):
        kitaru.get_secret(base)
    private = kitaru.create_secret(base, {"TOKEN": "private-" + canary}, private=True)
    got = kitaru.get_secret(base)
    assert got.id == private.id and got.private is True
    assert got.get("TOKEN") == "private-" + canary
    assert kitaru.get_secret(f"{base}-extra").id == public.id


def test_same_name_private_wins_and_public_is_reachable_by_id(unique: str, canary: str) -> None:
    """Rule: when the caller's private secret and a public secret share a name,
    the name resolves to the private one (a personal override of a shared
    credential); the public one stays reachable by its full ID."""
    name = f"shared-{unique}"
    public = kitaru.create_secret(name, {"TOKEN": "public-" + canary})
    private = kitaru.create_secret(name, {"TOKEN": "private-" + canary}, private=True)
    assert public.id != private.id
    assert {s.id for s in _names(name)} == {public.id, private.id}

    by_name = kitaru.get_secret(name)
    assert by_name.id == private.id and by_name.get("TOKEN") == "private-" + canary
    by_id = kitaru.get_secret(public.id)
    assert by_id.private is False and by_id.get("TOKEN") == "public-" + canary

    # set and delete by name act on the same secret that get resolves to.
    result = kitaru.set_secret(name, {"EXTRA": "e-" + canary})
    assert result.secret.id == private.id and result.action == "updated"
    assert "EXTRA" not in kitaru.get_secret(public.id).values
    deleted = kitaru.delete_secret(name)
    assert deleted.id == private.id
    # Now the name falls back to the public secret.
    assert kitaru.get_secret(name).id == public.id


# --- set: upsert ------------------------------------------------------------


def test_set_creates_public_by_default(unique: str, canary: str) -> None:
    name = f"set-new-{unique}"
    result = kitaru.set_secret(name, {"TOKEN": canary})
    assert isinstance(result, SecretSetResult)
    assert result.action == "created" and result.keys_set == ("TOKEN",)
    assert result.secret.private is False
    assert result.private_requested_but_kept_public is False
    assert kitaru.get_secret(name).values == {"TOKEN": canary}


def test_set_private_creates_private(unique: str, canary: str) -> None:
    name = f"set-new-private-{unique}"
    result = kitaru.set_secret(name, {"TOKEN": canary}, private=True)
    assert result.action == "created" and result.secret.private is True
    assert result.private_requested_but_kept_public is False
    assert kitaru.get_secret(name).private is True


def test_set_updates_given_keys_and_keeps_the_rest(unique: str, canary: str) -> None:
    name = f"set-update-{unique}"
    created = kitaru.create_secret(name, {"KEEP": "keep-" + canary, "CHANGE": "old-" + canary})
    result = kitaru.set_secret(name, {"CHANGE": "new-" + canary, "ADD": "add-" + canary})
    assert result.action == "updated"
    assert result.keys_set == ("ADD", "CHANGE")
    assert result.secret.id == created.id
    assert result.secret.keys == ("ADD", "CHANGE", "KEEP")
    assert kitaru.get_secret(name).values == {
        "KEEP": "keep-" + canary,
        "CHANGE": "new-" + canary,
        "ADD": "add-" + canary,
    }
    dumped = result.model_dump_json() + repr(result) + str(result.model_dump())
    assert canary not in dumped


def test_set_keeps_private_visibility(unique: str, canary: str) -> None:
    name = f"set-keep-private-{unique}"
    created = kitaru.create_secret(name, {"A": canary}, private=True)
    result = kitaru.set_secret(name, {"B": canary})  # private=False is the default
    assert result.secret.id == created.id and result.secret.private is True
    assert result.private_requested_but_kept_public is False
    assert [s.id for s in _names(name)] == [created.id]


def test_set_private_on_existing_public_keeps_one_public_secret(unique: str, canary: str) -> None:
    name = f"set-kept-public-{unique}"
    created = kitaru.create_secret(name, {"A": "a-" + canary})
    result = kitaru.set_secret(name, {"B": "b-" + canary}, private=True)
    assert result.action == "updated"
    assert result.private_requested_but_kept_public is True
    assert result.secret.id == created.id and result.secret.private is False
    matches = _names(name)
    assert [(s.id, s.private) for s in matches] == [(created.id, False)]
    assert kitaru.get_secret(name).values == {"A": "a-" + canary, "B": "b-" + canary}


# --- list and delete --------------------------------------------------------


def test_list_secrets_shows_metadata_only(unique: str, canary: str) -> None:
    names = [f"list-{unique}-b", f"list-{unique}-a"]
    ids = {kitaru.create_secret(n, {"TOKEN": canary, "URL": canary}).id for n in names}
    listed = kitaru.list_secrets()
    assert all(isinstance(s, SecretSummary) for s in listed)
    mine = [s for s in listed if s.id in ids]
    assert [s.name for s in mine] == sorted(names)
    assert all(s.keys == ("TOKEN", "URL") for s in mine)
    assert [s.name for s in listed] == sorted(s.name for s in listed)
    assert canary not in repr(listed) and canary not in str([s.model_dump() for s in listed])


def test_delete_returns_summary_and_removes(unique: str, canary: str) -> None:
    name = f"delete-{unique}"
    created = kitaru.create_secret(name, {"TOKEN": canary}, private=True)
    deleted = kitaru.delete_secret(name)
    assert isinstance(deleted, SecretSummary)
    assert (deleted.id, deleted.name, deleted.private, deleted.keys) == (
        created.id,
        name,
        True,
        ("TOKEN",),
    )
    assert canary not in repr(deleted) and canary not in deleted.model_dump_json()
    assert all(s.id != created.id for s in kitaru.list_secrets())
    for ref in (name, created.id):
        with pytest.raises(SecretNotFoundError):
            kitaru.get_secret(ref)
    with pytest.raises(SecretNotFoundError) as info:
        kitaru.delete_secret(name)
    assert name in str(info.value)


def test_delete_by_full_id_only(unique: str, canary: str) -> None:
    name = f"delete-id-{unique}"
    created = kitaru.create_secret(name, {"TOKEN": canary})
    with pytest.raises(SecretNotFoundError):
        kitaru.delete_secret(created.id[:8])
    assert kitaru.delete_secret(created.id).id == created.id
    assert _names(name) == []


# --- no values in models, reprs or pickles ----------------------------------


def test_summary_has_no_value_field_and_is_frozen(unique: str, canary: str) -> None:
    summary = kitaru.create_secret(f"frozen-{unique}", {"TOKEN": canary})
    assert set(SecretSummary.model_fields) == {
        "name",
        "id",
        "private",
        "keys",
        "unavailable_keys",
        "owner",
    }
    with pytest.raises(Exception):  # noqa: B017 - pydantic's ValidationError
        summary.name = "other"  # type: ignore[misc]
    with pytest.raises(Exception):  # noqa: B017 - extra fields are forbidden
        SecretSummary(name="x", id="y", private=False, values={"K": canary})  # type: ignore[call-arg]


def test_secret_repr_masks_values_and_refuses_pickle(unique: str, canary: str) -> None:
    name = f"mask-{unique}"
    kitaru.create_secret(name, {"TOKEN": canary})
    secret = kitaru.get_secret(name)
    before = (repr(secret), str(secret), f"{secret}")
    assert secret.get("TOKEN") == canary  # loads the values
    after = (repr(secret), str(secret), f"{secret!r}")
    for text in (*before, *after):
        assert canary not in text and name in text
    assert "TOKEN" in repr(secret)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError) as info:
            pickle.dumps(secret, protocol=protocol)
        assert canary not in str(info.value)


def test_concurrent_set_keeps_every_key(unique: str, canary: str) -> None:
    # Upserts read-modify-write the stored values; kitaru serialises them so
    # concurrent writers to one secret do not drop each other's keys.
    from concurrent.futures import ThreadPoolExecutor

    name = f"concurrent-{unique}"
    kitaru.create_secret(name, {"BASE": canary})
    keys = [f"K{i}" for i in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda k: kitaru.set_secret(name, {k: f"{k}-{canary}"}), keys))
    assert {r.action for r in results} == {"updated"}
    assert kitaru.get_secret(name).values == {
        "BASE": canary,
        **{k: f"{k}-{canary}" for k in keys},
    }
