"""Key names a server listing read are kept between listings (``kitaru/_store/listing_cache.py``).

Against real ZenML servers on 127.0.0.1. Reads are counted by wrapping the
backend's own read of one secret; the server answers every request.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _team_server import (
    Server,
    admin_finish,
    admin_setup,
    clean_env,
    start_server,
    stop_all,
    wait_ready,
)

from kitaru._config import connection
from kitaru._store import listing_cache
from kitaru._store.rest_backend import RestServerBackend

PASSWORDS = {"alice": "alice-Passw0rd!-l1", "bob": "bob-Passw0rd!-l2"}
KITARU = str(Path(sys.executable).parent / "kitaru")
CANARY = "canary-listing-" + uuid.uuid4().hex
# The server's clock comes from its Date header: whole seconds, and uvicorn
# refreshes it about once a second, so it can lag up to two seconds. With
# SETTLE_S set to 0, a secret counts as settled once that much time has passed.
WHOLE_SECOND = 2.5


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    """A plain server and one whose access control lets only owners read values."""
    root = tmp_path_factory.mktemp("listing")
    made = {"plain": start_server(root / "plain"), "gated": start_server(root / "gated", rbac=True)}
    try:
        for srv in made.values():
            wait_ready(srv)
        setups = [(srv, admin_setup(srv, PASSWORDS)) for srv in made.values()]
        for srv, proc in setups:
            admin_finish(srv, proc)
        yield made
    finally:
        stop_all(list(made.values()))


def backend_as(srv: Server, user: str) -> RestServerBackend:
    form = {"username": user, "password": PASSWORDS[user]}
    token = connection.exchange(srv.url, form, "the password")
    return RestServerBackend(srv.url, connection.ServerCredentials(srv.url, "token", token, user))


def counting_reads(backend: RestServerBackend) -> list[str]:
    """The IDs of the secrets ``backend`` reads one by one from now on."""
    reads: list[str] = []
    read: Callable[[str, str], Any] = backend._read

    def counted(secret_id: str, secret: str) -> Any:
        reads.append(secret_id)
        return read(secret_id, secret)

    backend._read = counted  # type: ignore[method-assign]
    return reads


def cache_file(url: str) -> Path:
    path = listing_cache.file_for(url)
    assert path.is_file(), path
    return path


def mine(listed: list[Any], names: set[str]) -> dict[str, tuple[str, ...]]:
    return {s.name: s.keys for s in listed if s.name in names}


def test_a_listing_reads_only_secrets_changed_since_the_last_one(
    servers: dict[str, Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listing_cache, "SETTLE_S", 0.0)
    srv = servers["plain"]
    alice = backend_as(srv, "alice")
    names = {f"lc-{i}-{uuid.uuid4().hex[:6]}" for i in range(3)}
    created = {n: alice.create(n, {"A": CANARY, "B": "2"}, private=False).id for n in names}
    time.sleep(WHOLE_SECOND)
    reads = counting_reads(alice)

    assert mine(alice.list(), names) == dict.fromkeys(names, ("A", "B"))
    assert set(created.values()) <= set(reads)
    reads.clear()
    assert mine(alice.list(), names) == dict.fromkeys(names, ("A", "B"))
    assert reads == [], "a listing read secrets whose stamp had not moved"

    # Another writer (bob, in his own session) adds a key: that one secret is read again.
    changed = sorted(names)[0]
    backend_as(srv, "bob").upsert(changed, {"C": "3"}, private=False)
    time.sleep(WHOLE_SECOND)
    listed = mine(alice.list(), names)
    assert listed[changed] == ("A", "B", "C")
    assert reads == [created[changed]]

    # A deleted secret leaves the file; the file holds key names, never a value.
    gone = sorted(names)[1]
    alice.delete(created[gone], gone)
    assert gone not in mine(alice.list(), names)
    path = cache_file(srv.url)
    data = json.loads(path.read_text())
    assert created[gone] not in data["secrets"] and created[changed] in data["secrets"]
    assert CANARY not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_key_names_are_kept_only_once_settled_and_for_a_while(
    servers: dict[str, Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = servers["plain"]
    alice = backend_as(srv, "alice")
    name = f"lc-fresh-{uuid.uuid4().hex[:6]}"
    secret_id = alice.create(name, {"K": "v"}, private=False).id
    reads = counting_reads(alice)
    # Just written: the server may still be writing the values of an update, so
    # keys read now are not kept, and the next listing reads the secret again.
    alice.list()
    alice.list()
    assert reads.count(secret_id) == 2
    monkeypatch.setattr(listing_cache, "SETTLE_S", 0.0)
    time.sleep(WHOLE_SECOND)
    alice.list()
    reads.clear()
    alice.list()
    assert secret_id not in reads
    # Kept names are read again once they are MAX_AGE_S old.
    path = cache_file(srv.url)
    data = json.loads(path.read_text())
    for entry in data["secrets"].values():
        entry["kept_at"] -= listing_cache.MAX_AGE_S + 1
    path.write_text(json.dumps(data))
    alice.list()
    assert secret_id in reads


def test_a_secret_whose_values_are_withheld_is_never_kept(
    servers: dict[str, Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listing_cache, "SETTLE_S", 0.0)
    srv = servers["gated"]
    name = f"lc-gated-{uuid.uuid4().hex[:6]}"
    secret_id = backend_as(srv, "alice").create(name, {"G": CANARY}, private=False).id
    bob = backend_as(srv, "bob")
    own = bob.create(f"lc-own-{uuid.uuid4().hex[:6]}", {"O": "1"}, private=False).id
    time.sleep(WHOLE_SECOND)
    reads = counting_reads(bob)
    for _ in range(2):
        [seen] = [s for s in bob.list() if s.id == secret_id]
        assert seen.keys == ("G",) and seen.unavailable_keys == ("G",)
    assert reads.count(secret_id) == 2 and reads.count(own) == 1
    kept = json.loads(cache_file(srv.url).read_text())["secrets"]
    assert own in kept and secret_id not in kept


def test_the_cli_lists_changes_made_elsewhere(servers: dict[str, Server], tmp_path: Path) -> None:
    srv = servers["plain"]
    envs = {u: clean_env(KITARU_CONFIG_PATH=str(tmp_path / u)) for u in ("alice", "bob")}
    for user, env in envs.items():
        login = subprocess.run(
            [KITARU, "login", srv.url, "-u", user, "--stdin"], input=PASSWORDS[user] + "\n",
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert login.returncode == 0, login.stderr

    def listed(user: str) -> dict[str, list[str]]:
        out = subprocess.run(
            [KITARU, "secrets", "list", "--json"], env=envs[user],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert CANARY not in out.stdout + out.stderr
        return {s["name"]: s["keys"] for s in json.loads(out.stdout)}

    name = f"lc-cli-{uuid.uuid4().hex[:6]}"
    set_cmd = [KITARU, "secrets", "set", name, f"--A={CANARY}"]
    assert subprocess.run(set_cmd, env=envs["alice"], capture_output=True).returncode == 0
    time.sleep(listing_cache.SETTLE_S + 1)  # settled: alice's listings now keep its keys
    assert listed("alice")[name] == ["A"] and listed("alice")[name] == ["A"]
    more = [KITARU, "secrets", "set", name, "--B=2"]
    assert subprocess.run(more, env=envs["bob"], capture_output=True).returncode == 0
    assert listed("alice")[name] == ["A", "B"]
    files = list((tmp_path / "alice" / "listings").glob("*.json"))
    assert files and all(CANARY not in f.read_text() for f in files)
    assert os.stat(files[0]).st_mode & 0o077 == 0
    out = subprocess.run([KITARU, "logout"], env=envs["alice"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert not any(f.exists() for f in files), "logout left the kept key names behind"
