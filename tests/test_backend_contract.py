"""One contract, every secret backend (see ``kitaru/_store/backend.py``).

The same tests run against each implementation of ``SecretBackend``:

- ``direct-sqlite``: the embedded store's table, read and written directly;
- ``zenml-embedded``: ZenML's client on the same embedded store;
- ``rest-server``: a real ZenML server (``tests/_team_server.py``) over REST;
- ``zenml-server``: ZenML's client on that server, served from its own process
  (``tests/_backend_worker.py``), since this process's ZenML client is bound to
  the session's embedded store.

Server backends act as ``alice``; ``bob`` is a second user of the same server.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import textwrap
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
from conftest import files_containing

from kitaru import errors
from kitaru._config import connection, paths
from kitaru._store import listing_cache
from kitaru._store.backend import (
    ListedSecret,
    SecretBackend,
    StoredSecret,
    UnsupportedOperation,
    Upserted,
)
from kitaru._store.rest_backend import RestServerBackend
from kitaru._store.sqlite_backend import LOCAL_LABEL, DirectSqliteBackend
from kitaru._store.zenml_backend import ZenMLBackend

HERE = Path(__file__).resolve().parent
KITARU = str(Path(sys.executable).parent / "kitaru")
PASSWORDS = {"alice": "alice-Passw0rd!-c1", "bob": "bob-Passw0rd!-c2"}
KINDS = ["direct-sqlite", "zenml-embedded", "rest-server", "zenml-server"]
SERVER_KINDS = ["rest-server", "zenml-server"]
LIMIT = 64 * 1024


# ------------------------------------------------------------------ a backend in a process


class RemoteBackend:
    """A backend living in a worker process; same methods, same kitaru errors."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "_backend_worker.py"), *args],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.kind = self._read()
        self.location = args[1] if len(args) > 1 else LOCAL_LABEL

    def _read(self) -> Any:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            assert self.proc.stderr is not None
            raise RuntimeError(f"backend worker died:\n{self.proc.stderr.read()[-3000:]}")
        answer = json.loads(line)
        if not answer["ok"]:
            cls = getattr(errors, answer["type"], None) or UnsupportedOperation
            exc = cls.__new__(cls)
            errors.KitaruError.__init__(exc, answer["message"])
            exc.__dict__.update(answer["attrs"])
            raise exc
        return _decode(answer["result"])

    def __getattr__(self, op: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"op": op, "args": args, "kwargs": kwargs}) + "\n")
            self.proc.stdin.flush()
            return self._read()

        return call

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "__stored__" in value:
        return StoredSecret(**value["__stored__"])
    if isinstance(value, dict) and "__listed__" in value:
        d = value["__listed__"]
        return ListedSecret(
            **dict(d, keys=tuple(d["keys"]), unavailable_keys=tuple(d["unavailable_keys"]))
        )
    if isinstance(value, dict) and "__upserted__" in value:
        d = value["__upserted__"]
        return Upserted(_decode(d["secret"]), d["action"], d["kept_public"])
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("contract-server"))
    try:
        wait_ready(srv)
        admin_finish(srv, admin_setup(srv, PASSWORDS))
        yield srv
    finally:
        stop_all([srv])


def _token_credentials(url: str, user: str) -> connection.ServerCredentials:
    form = {"username": user, "password": PASSWORDS[user]}
    token = connection.exchange(url, form, "the password")
    return connection.ServerCredentials(url, "token", token, user)


def _make(
    kind: str, request: pytest.FixtureRequest, user: str = "alice", server: str = "server"
) -> Any:
    if kind == "direct-sqlite":
        from kitaru import list_secrets

        list_secrets()  # the session's store exists (created by ZenML on first use)
        return DirectSqliteBackend()
    if kind == "zenml-embedded":
        return ZenMLBackend(LOCAL_LABEL)
    srv: Server = request.getfixturevalue(server)
    if kind == "rest-server":
        return RestServerBackend(srv.url, _token_credentials(srv.url, user))
    config = request.getfixturevalue("tmp_path_factory").mktemp(f"worker-{user}")
    env = clean_env(KITARU_CONFIG_PATH=str(config))
    return RemoteBackend(["zenml-server", srv.url, user, PASSWORDS[user]], env)


@pytest.fixture(scope="module", params=KINDS)
def backend(request: pytest.FixtureRequest) -> Iterator[SecretBackend]:
    made = _make(request.param, request)
    assert made.kind == request.param
    yield made
    if isinstance(made, RemoteBackend):
        made.close()


@pytest.fixture(scope="module")
def rbac_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose access control lets no one but the owner read secret values."""
    srv = start_server(tmp_path_factory.mktemp("contract-rbac"), rbac=True)
    try:
        wait_ready(srv)
        admin_finish(srv, admin_setup(srv, PASSWORDS))
        yield srv
    finally:
        stop_all([srv])


@pytest.fixture(scope="module", params=SERVER_KINDS)
def two_users(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any]]:
    alice, bob = _make(request.param, request), _make(request.param, request, "bob")
    yield alice, bob
    for made in (alice, bob):
        if isinstance(made, RemoteBackend):
            made.close()


@pytest.fixture(scope="module", params=SERVER_KINDS)
def gated_users(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any]]:
    """alice and bob on the access-controlled server."""
    made = [_make(request.param, request, who, "rbac_server") for who in ("alice", "bob")]
    yield made[0], made[1]
    for one in made:
        if isinstance(one, RemoteBackend):
            one.close()


def new_name(label: str) -> str:
    return f"contract-{label}-{uuid.uuid4().hex[:10]}"


# ------------------------------------------------------------------ exact lookups


def test_lookups_are_exact_by_name_or_full_id(backend: SecretBackend) -> None:
    name = new_name("exact")
    created = backend.create(name, {"TOKEN": "v1"}, private=False)
    assert created.name == name and not created.private and created.keys == ("TOKEN",)
    by_name = backend.get(name)
    assert by_name.id == created.id and by_name.values == {"TOKEN": "v1"}
    assert backend.get(created.id).name == name
    assert backend.get(uuid.UUID(created.id).hex).id == created.id  # the 32-hex form too
    for near in (name[:-1], name + "x", name.upper(), created.id[:-1], created.id[:8]):
        assert backend.find(near) is None, near
    with pytest.raises(errors.SecretNotFoundError):
        backend.get(name[:-2])


def test_own_private_secret_wins_over_a_public_one_of_the_same_name(
    backend: SecretBackend,
) -> None:
    name = new_name("override")
    public = backend.create(name, {"K": "shared"}, private=False)
    private = backend.create(name, {"K": "mine"}, private=True)
    assert private.private and private.id != public.id
    found = backend.get(name)
    assert found.id == private.id and found.values == {"K": "mine"}
    assert backend.get(public.id).values == {"K": "shared"}  # the public one by its ID
    listed = [s for s in backend.list() if s.name == name]
    assert [(s.private, s.id) for s in listed] == [(False, public.id), (True, private.id)]


def test_creating_an_existing_name_in_the_same_scope_is_refused_with_that_scope(
    backend: SecretBackend,
) -> None:
    # A name that contains "private" must not make a public clash read as private.
    name = new_name("my-private-token")
    backend.create(name, {"K": "v"}, private=False)
    with pytest.raises(errors.SecretExistsError) as info:
        backend.create(name, {"K": "other"}, private=False)
    assert info.value.private is False
    backend.create(name, {"P": "v"}, private=True)
    with pytest.raises(errors.SecretExistsError) as info:
        backend.create(name, {"P": "other"}, private=True)
    assert info.value.private is True
    assert backend.get(name).values == {"P": "v"}


def test_create_unique_refuses_a_name_visible_in_any_visibility(backend: SecretBackend) -> None:
    public_name, private_name = new_name("uniq-pub"), new_name("uniq-priv")
    backend.create(public_name, {"K": "v"}, private=False)
    backend.create(private_name, {"K": "v"}, private=True)
    with pytest.raises(errors.SecretExistsError):
        backend.create_unique(public_name, {"K": "shadow"}, private=True)
    with pytest.raises(errors.SecretExistsError):
        backend.create_unique(private_name, {"K": "shadow"}, private=False)
    assert [s.private for s in backend.list() if s.name == public_name] == [False]
    assert [s.private for s in backend.list() if s.name == private_name] == [True]
    fresh = backend.create_unique(new_name("uniq-new"), {"K": "v"}, private=True)
    assert fresh.private


# ------------------------------------------------------------------ upserts


def test_upsert_creates_then_merges_and_never_changes_visibility(backend: SecretBackend) -> None:
    name = new_name("upsert")
    first = backend.upsert(name, {"A": "1"}, private=False)
    assert first.action == "created" and not first.secret.private
    second = backend.upsert(name, {"B": "2", "A": "1b"}, private=True)
    assert second.action == "updated" and second.private_requested_but_kept_public
    assert second.secret.id == first.secret.id and not second.secret.private
    assert backend.get(name).values == {"A": "1b", "B": "2"}
    stamp = backend.updated_at(first.secret.id)
    assert stamp is not None
    backend.upsert(name, {"C": "3"}, private=False)
    assert backend.updated_at(first.secret.id) not in (None, stamp)


def test_bad_input_writes_nothing(backend: SecretBackend) -> None:
    name = new_name("toolarge")
    with pytest.raises(errors.InvalidSecretError):
        backend.create(name, {"BIG": "x" * (LIMIT + 1)}, private=False)
    assert backend.find(name) is None
    backend.create(name, {"SMALL": "v"}, private=False)
    with pytest.raises(errors.InvalidSecretError):
        backend.upsert(name, {"BIG": "x" * (LIMIT - 4)}, private=False)  # fits alone
    assert backend.get(name).values == {"SMALL": "v"}


def test_delete_removes_exactly_one_secret(backend: SecretBackend) -> None:
    name = new_name("delete")
    created = backend.create(name, {"K": "v"}, private=False)
    keep = backend.create(name + "-keep", {"K": "v"}, private=False)
    gone = backend.delete_ref(name)
    assert gone.id == created.id
    assert backend.find(name) is None and backend.updated_at(created.id) is None
    assert backend.get(keep.name).id == keep.id
    with pytest.raises(errors.SecretNotFoundError):
        backend.delete_ref(name)


def test_list_is_sorted_and_holds_every_visible_secret(backend: SecretBackend) -> None:
    names = sorted(new_name(f"list{i}") for i in range(3))
    for n in reversed(names):
        backend.create(n, {"K": n}, private=False)
    listed = backend.list()
    mine = [s for s in listed if s.name in names]
    assert [s.name for s in mine] == names
    assert all(s.keys == ("K",) for s in mine)
    order = [(s.name, s.private, s.id) for s in listed]
    assert order == sorted(order)


def test_remove_keys_is_all_or_nothing_and_keeps_the_rest(backend: SecretBackend) -> None:
    name = new_name("remove")
    created = backend.create(name, {"A": "1", "B": "2", "C": "3"}, private=True)
    with pytest.raises(errors.MissingSecretKeyError):
        backend.remove_keys_ref(name, ["A", "NOT_THERE"])
    assert backend.get(name).values == {"A": "1", "B": "2", "C": "3"}
    left = backend.remove_keys_ref(created.id, ["A", "C"])
    assert left.id == created.id and left.private and left.values == {"B": "2"}
    assert backend.get(name).values == {"B": "2"}
    with pytest.raises(errors.SecretNotFoundError):
        backend.remove_keys_ref(name + "-gone", ["B"])


def test_rename_keeps_id_values_and_visibility_and_respects_scopes(
    backend: SecretBackend,
) -> None:
    old, new = new_name("rename-old"), new_name("rename-new")
    created = backend.create(old, {"K": "v"}, private=True)
    renamed, was = backend.rename_ref(old, new)
    assert was == old and renamed.name == new and renamed.id == created.id
    assert renamed.private and renamed.values == {"K": "v"}
    assert backend.find(old) is None and backend.get(new).id == created.id
    same, was = backend.rename_ref(new, new)  # nothing to do
    assert same.id == created.id and was == new

    # A public secret of that name is another scope: the private one may take it.
    taken = new_name("rename-taken")
    backend.create(taken, {"P": "public"}, private=False)
    backend.rename_ref(created.id, taken)
    assert backend.get(taken).id == created.id  # own private first
    # But a second public secret may not.
    other = backend.create(new_name("rename-other"), {"O": "o"}, private=False)
    with pytest.raises(errors.SecretExistsError) as info:
        backend.rename_ref(other.id, taken)
    assert info.value.private is False
    assert backend.get(other.id).name == other.name


# ------------------------------------------------------------------ what only some can do


def test_local_key_status_or_a_typed_refusal(backend: SecretBackend) -> None:
    if backend.kind in SERVER_KINDS:
        with pytest.raises(UnsupportedOperation) as info:
            backend.key_status()
        assert info.value.backend == backend.kind
    else:
        assert backend.key_status() == "present"


def test_values_are_encrypted_at_rest(
    backend: SecretBackend, request: pytest.FixtureRequest
) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    backend.create(new_name("at-rest"), {"TOKEN": canary}, private=False)
    if backend.kind in SERVER_KINDS:
        root = request.getfixturevalue("server").root
    else:
        root = paths().local_store_db.parent
    needles = [canary, base64.b64encode(canary.encode()).decode()]
    seen, hits = files_containing(root, needles)
    assert seen > 0 and hits == []


def test_private_secrets_of_another_user_are_invisible(two_users: tuple[Any, Any]) -> None:
    alice, bob = two_users
    name = new_name("alice-only")
    private = alice.create(name, {"K": "alice"}, private=True)
    public = alice.create(new_name("alice-public"), {"K": "shared"}, private=False)
    assert bob.find(name) is None and bob.find(private.id) is None
    assert name not in {s.name for s in bob.list()}
    assert bob.get(public.id).values == {"K": "shared"}
    assert bob.get(public.name).owner == "alice"
    # bob may create his own private secret of that name; alice's stays hers.
    own = bob.create(name, {"K": "bob"}, private=True)
    assert alice.get(name).id == private.id and bob.get(name).id == own.id
    with pytest.raises(errors.SecretNotFoundError):
        bob.delete_ref(private.id)
    assert alice.get(private.id).values == {"K": "alice"}


def test_values_the_server_withholds_are_unavailable_not_missing(
    gated_users: tuple[Any, Any],
) -> None:
    alice, bob = gated_users
    name = new_name("gated")
    created = alice.create(name, {"GATED_A": "a", "GATED_B": "b"}, private=False)
    assert alice.get(name).values == {"GATED_A": "a", "GATED_B": "b"}  # the owner reads them
    seen = bob.get(created.id)
    assert seen.keys == ("GATED_A", "GATED_B")
    assert seen.unavailable_keys == ("GATED_A", "GATED_B")
    assert dict(seen.values) == {"GATED_A": None, "GATED_B": None}
    [listed] = [s for s in bob.list() if s.id == created.id]
    assert listed.unavailable_keys == ("GATED_A", "GATED_B")


@pytest.mark.parametrize("kind", [k for k in KINDS if k not in SERVER_KINDS])
def test_a_local_store_never_withholds_values(kind: str, request: pytest.FixtureRequest) -> None:
    local = _make(kind, request)
    name = new_name("all-readable")
    local.create(name, {"A": "1"}, private=True)
    assert all(s.unavailable_keys == () for s in local.list())


# ------------------------------------------------------------------ concurrency

# A writer process: builds its backend, says it is ready, waits for "go", writes.
WRITER = """
import sys, time
from pathlib import Path
from kitaru.errors import SecretExistsError
op, kind, name, sync = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[6]
idx, n = int(sys.argv[4]), int(sys.argv[5])
if kind == "direct-sqlite":
    from kitaru._store.sqlite_backend import DirectSqliteBackend
    b = DirectSqliteBackend()
elif kind == "zenml-embedded":
    from kitaru._store.sqlite_backend import LOCAL_LABEL
    from kitaru._store.zenml_backend import ZenMLBackend
    from kitaru._zenml.client import get_client
    b = ZenMLBackend(LOCAL_LABEL)
    get_client()
else:
    from kitaru._config import connection
    url, user, password = sys.argv[7:10]
    if kind == "rest-server":
        from kitaru._store.rest_backend import RestServerBackend
        token = connection.exchange(url, {"username": user, "password": password}, "pw")
        b = RestServerBackend(url, connection.ServerCredentials(url, "token", token, user))
    else:
        from kitaru._zenml.client import get_client
        from kitaru._store.zenml_backend import ZenMLBackend
        connection.login_with_password(url, user, password)
        b = ZenMLBackend(url, server=True)
        get_client()
(Path(sync) / f"ready-{idx}").touch()
while not (Path(sync) / "go").exists():
    time.sleep(0.01)
if op == "upsert":
    for i in range(0, n, 2):
        b.upsert(name, {f"K_{idx}_{i}": f"v{i}", f"K_{idx}_{i + 1}": f"v{i + 1}"}, private=False)
else:  # create the names name-0 .. name-(n-1); print which this writer won
    for i in range(n):
        try:
            b.create(f"{name}-{i}", {"BY": str(idx)}, private=False)
            print(i)
        except SecretExistsError:
            pass
"""
WRITERS, KEYS_EACH, RACED_NAMES = 4, 8, 6


def _writers(
    op: str, backend: SecretBackend, request: pytest.FixtureRequest, tmp_path: Path, name: str
) -> list[str]:
    """Run WRITERS writer processes at once; their outputs (they must all succeed)."""
    sync = tmp_path / f"sync-{op}"
    sync.mkdir()
    extra: list[str] = []
    env = dict(os.environ)
    if backend.kind in SERVER_KINDS:
        srv: Server = request.getfixturevalue("server")
        env = clean_env()
        extra = [srv.url, "alice", PASSWORDS["alice"]]
    n = KEYS_EACH if op == "upsert" else RACED_NAMES
    procs = []
    for idx in range(WRITERS):
        if backend.kind == "zenml-server":
            env = clean_env(KITARU_CONFIG_PATH=str(tmp_path / f"cfg-{op}-{idx}"))
        args = [op, backend.kind, name, str(idx), str(n), str(sync), *extra]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(WRITER), *args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    deadline = time.monotonic() + 240
    while len(list(sync.glob("ready-*"))) < WRITERS:
        assert time.monotonic() < deadline and all(p.poll() in (None, 0) for p in procs), [
            p.communicate()[1][-2000:] for p in procs if p.poll()
        ]
        time.sleep(0.05)
    (sync / "go").touch()
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-3000:]
        outputs.append(out)
    return outputs


def test_concurrent_upserts_lose_nothing(
    backend: SecretBackend, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    name = new_name("race")
    backend.create(name, {"INIT": "x"}, private=False)
    _writers("upsert", backend, request, tmp_path, name)
    expected = {"INIT"} | {f"K_{w}_{k}" for w in range(WRITERS) for k in range(KEYS_EACH)}
    assert set(backend.get(name).values) == expected


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_concurrent_creates_of_one_name_make_one_secret_and_refuse_the_rest(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # A server checks the name, then inserts: a writer losing that race breaks
    # the database's unique constraint, which ZenML answers with HTTP 500.
    # Every loser must get SecretExistsError, as if it had come second. (The
    # embedded store has no such race: its writers take a file lock.)
    backend = _make(kind, request)
    try:
        name = new_name("born")
        won = [int(line) for out in _writers("create", backend, request, tmp_path, name)
               for line in out.split()]  # fmt: skip
        assert sorted(won) == list(range(RACED_NAMES))
        for i in range(RACED_NAMES):
            assert backend.get(f"{name}-{i}").values["BY"] in {str(w) for w in range(WRITERS)}
    finally:
        if isinstance(backend, RemoteBackend):
            backend.close()


def test_the_factory_picks_one_backend_per_configuration() -> None:
    from kitaru._store import secret_store

    first = secret_store.backend()
    assert secret_store.backend() is first
    assert first.kind == "direct-sqlite"  # the session's store exists and is verified


# ------------------------------------------------------------------ staying light on a server

LIGHT_CLI = """
import atexit, json, sys
def report():
    heavy = sorted(m for m in ("zenml", "litellm", "rich", "wrapt", "asyncio") if m in sys.modules)
    sys.stderr.write("HEAVY " + json.dumps(heavy) + "\\n")
atexit.register(report)
sys.argv = ["kitaru", *sys.argv[1:]]
from kitaru.cli import main
main()
"""

LIGHT_MCP = """
import asyncio, json, sys
from kitaru.mcp.server import kitaru_secrets_create, kitaru_secrets_list
created = asyncio.run(kitaru_secrets_create(sys.argv[1], {"K": "v"}))
listed = asyncio.run(kitaru_secrets_list())
heavy = sorted(m for m in ("zenml", "litellm") if m in sys.modules)
print(json.dumps({"errors": [created.is_error, listed.is_error], "heavy": heavy}))
"""


def test_secrets_commands_status_and_mcp_on_a_server_import_only_what_they_use(
    server: Server, tmp_path: Path
) -> None:
    config = tmp_path / "light"
    env = clean_env(KITARU_CONFIG_PATH=str(config))
    login = subprocess.run(
        [KITARU, "login", server.url, "-u", "alice", "--stdin"],
        input=PASSWORDS["alice"] + "\n", env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert login.returncode == 0, login.stderr
    name = new_name("light")
    commands = [
        ["secrets", "set", name, "--K=v1"],
        ["secrets", "set", name, "--K2=v2"],
        ["secrets", "list"],
        ["secrets", "show", name],
        ["status"],
        ["secrets", "delete", name],
    ]
    for args in commands:
        out = subprocess.run(
            [sys.executable, "-c", LIGHT_CLI, *args],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, (args, out.stderr)
        assert "HEAVY []" in out.stderr, (args, out.stderr)
    status = subprocess.run(
        [sys.executable, "-c", LIGHT_CLI, "status", "--json"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    data = json.loads(status.stdout)
    assert data["backend"] == "rest-server" and data["connection"] == "ok"
    assert data["user"] == "alice" and data["server_version"] == "0.98.0"
    mcp = subprocess.run(
        [sys.executable, "-c", LIGHT_MCP, new_name("light-mcp")],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert mcp.returncode == 0, mcp.stderr
    assert json.loads(mcp.stdout.strip().splitlines()[-1]) == {
        "errors": [False, False],
        "heavy": [],
    }


def test_a_server_of_another_version_falls_back_to_zenmls_client(
    server: Server, tmp_path: Path
) -> None:
    code = textwrap.dedent(
        """
        import json
        from kitaru._config import store_access
        from kitaru._store import secret_store
        store_access.SCHEMA_VERSION = "0.0.1"  # stands in for a server kitaru does not speak
        chosen = secret_store.backend()
        chosen.list()
        print(json.dumps({"kind": chosen.kind}))
        """
    )
    env = clean_env(
        KITARU_CONFIG_PATH=str(tmp_path / "other-version"), KITARU_SERVER_URL=server.url
    )
    first = subprocess.run(
        [KITARU, "login", server.url, "-u", "bob", "--stdin"],
        input=PASSWORDS["bob"] + "\n", env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["kind"] == "zenml-server"


# ------------------------------------------------------------------ kept key names
# Key names a server listing read are kept between listings
# (kitaru/_store/listing_cache.py). Reads are counted by wrapping the backend's
# own read of one secret; the server answers every request.

LISTING_CANARY = "canary-listing-" + uuid.uuid4().hex
# The server's clock comes from its Date header: whole seconds, and uvicorn
# refreshes it about once a second, so it can lag up to two seconds. With
# SETTLE_S set to 0, a secret counts as settled once that much time has passed.
WHOLE_SECOND = 2.5


def listing_backend(srv: Server, user: str) -> RestServerBackend:
    return RestServerBackend(srv.url, _token_credentials(srv.url, user))


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
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listing_cache, "SETTLE_S", 0.0)
    srv: Server = request.getfixturevalue("server")
    alice = listing_backend(srv, "alice")
    names = {f"lc-{i}-{uuid.uuid4().hex[:6]}" for i in range(3)}
    created = {n: alice.create(n, {"A": LISTING_CANARY, "B": "2"}, private=False).id for n in names}
    time.sleep(WHOLE_SECOND)
    reads = counting_reads(alice)

    assert mine(alice.list(), names) == dict.fromkeys(names, ("A", "B"))
    assert set(created.values()) <= set(reads)
    reads.clear()
    assert mine(alice.list(), names) == dict.fromkeys(names, ("A", "B"))
    assert reads == [], "a listing read secrets whose stamp had not moved"

    # Another writer (bob, in his own session) adds a key: that one secret is read again.
    changed = sorted(names)[0]
    listing_backend(srv, "bob").upsert(changed, {"C": "3"}, private=False)
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
    assert LISTING_CANARY not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_key_names_are_kept_only_once_settled_and_for_a_while(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv: Server = request.getfixturevalue("server")
    alice = listing_backend(srv, "alice")
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


def test_a_secret_whose_values_are_withheld_is_listed_but_never_kept(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listing_cache, "SETTLE_S", 0.0)
    srv: Server = request.getfixturevalue("rbac_server")
    name = f"lc-gated-{uuid.uuid4().hex[:6]}"
    secret_id = listing_backend(srv, "alice").create(name, {"G": LISTING_CANARY}, private=False).id
    bob = listing_backend(srv, "bob")
    own = bob.create(f"lc-own-{uuid.uuid4().hex[:6]}", {"O": "1"}, private=False).id
    time.sleep(WHOLE_SECOND)
    reads = counting_reads(bob)
    for _ in range(2):
        [seen] = [s for s in bob.list() if s.id == secret_id]
        assert seen.keys == ("G",) and seen.unavailable_keys == ("G",)
    assert reads.count(secret_id) == 2 and reads.count(own) == 1
    kept = json.loads(cache_file(srv.url).read_text())["secrets"]
    assert own in kept and secret_id not in kept


def test_the_cli_lists_changes_made_elsewhere(server: Server, tmp_path: Path) -> None:
    srv = server
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
        assert LISTING_CANARY not in out.stdout + out.stderr
        return {s["name"]: s["keys"] for s in json.loads(out.stdout)}

    name = f"lc-cli-{uuid.uuid4().hex[:6]}"
    set_cmd = [KITARU, "secrets", "set", name, f"--A={LISTING_CANARY}"]
    assert subprocess.run(set_cmd, env=envs["alice"], capture_output=True).returncode == 0
    time.sleep(listing_cache.SETTLE_S + 1)  # settled: alice's listings now keep its keys
    assert listed("alice")[name] == ["A"] and listed("alice")[name] == ["A"]
    more = [KITARU, "secrets", "set", name, "--B=2"]
    assert subprocess.run(more, env=envs["bob"], capture_output=True).returncode == 0
    assert listed("alice")[name] == ["A", "B"]
    files = list((tmp_path / "alice" / "listings").glob("*.json"))
    assert files and all(LISTING_CANARY not in f.read_text() for f in files)
    assert os.stat(files[0]).st_mode & 0o077 == 0
    out = subprocess.run([KITARU, "logout"], env=envs["alice"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert not any(f.exists() for f in files), "logout left the kept key names behind"
