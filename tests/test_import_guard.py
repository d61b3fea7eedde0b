"""The import-time guard, as a matrix of where a secret is read.

Rejected: a read while a module other than ``__main__`` is being imported (by
``import``, ``from ... import``, ``importlib.import_module``, a nested chain,
``importlib.reload`` or a loader called by hand), including class bodies,
decorator arguments, helpers called at import time, lazy references read at
import time, modules imported from inside a running flow or checkpoint, and
threads (plain, ``Timer``, pool worker, ``asyncio.to_thread``, raw
``_thread.start_new_thread``) started and waited for while a module is being
imported, and work handed during an import to a pool worker started before it.

Allowed: a script's own top level (the guide's example), ``python -c``, the
REPL, the CLI, flow and checkpoint bodies (sync, async, submitted), functions
of imported modules called at run time, code run with ``exec`` at run time, and
pytest test functions (every test here that reads a secret is one).

Modules are written to a temp dir and imported in-process; the cases that need
a fresh interpreter run as subprocesses, all started together (each one pays
ZenML's start-up) and checked by their own test.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Import conftest under the name pytest gave it: importing it as
# `tests.conftest` would run it twice and switch the session's config dir.
from conftest import PYTHON

import kitaru
from kitaru.errors import ImportTimeSecretError, KitaruContextError

FIX = "into the body of your @checkpoint or @flow function"
LOOKUP = "# LOOKUP"


@dataclass(frozen=True)
class StoredSecret:
    name: str
    value: str  # a unique canary under key "K"


@pytest.fixture(scope="module")
def secret() -> StoredSecret:
    """One secret for the whole file, in the session's store."""
    s = StoredSecret(f"import-guard-{uuid.uuid4().hex[:10]}", f"canary-{uuid.uuid4().hex}")
    kitaru.set_secret(s.name, {"K": s.value})
    return s


@dataclass(frozen=True)
class Written:
    module: str
    path: Path
    line: int  # line of the `# LOOKUP` marker, 0 if none


class Modules:
    """Writes uniquely named modules into a directory on ``sys.path``."""

    def __init__(self, root: Path, secret: StoredSecret) -> None:
        self.root = root
        self.secret = secret
        self.prefix = f"igm_{uuid.uuid4().hex[:8]}_"

    def name(self, stem: str) -> str:
        return self.prefix + stem

    def write(self, stem: str, source: str) -> Written:
        """Write module ``stem``; ``{NAME}`` and ``{mod_x}`` (module ``x``) are filled in."""
        text = textwrap.dedent(source).lstrip("\n").replace("{NAME}", repr(self.secret.name))
        text = re.sub(r"\{mod_(\w+)\}", lambda m: self.name(m.group(1)), text)
        module = self.name(stem)
        path = self.root / f"{module}.py"
        path.write_text(text, encoding="utf-8")
        lines = [i for i, ln in enumerate(text.splitlines(), 1) if ln.rstrip().endswith(LOOKUP)]
        assert len(lines) <= 1
        return Written(module, path, lines[0] if lines else 0)

    def forget(self) -> None:
        for name in [n for n in sys.modules if n.startswith(self.prefix)]:
            del sys.modules[name]


@pytest.fixture
def modules(tmp_path: Path, secret: StoredSecret) -> Iterator[Modules]:
    root = tmp_path / "mods"
    root.mkdir()
    mods = Modules(root, secret)
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    try:
        yield mods
    finally:
        sys.path.remove(str(root))
        mods.forget()


def assert_import_time_error(err: BaseException, secret: StoredSecret, where: Written) -> None:
    """The error names the secret, the importing module, its file and line, and the fix."""
    line = where.line
    assert type(err) is ImportTimeSecretError
    assert isinstance(err, KitaruContextError)
    assert (err.secret, err.module, err.filename, err.lineno, err.outside_flow) == (
        secret.name,
        where.module,
        str(where.path),
        line,
        False,
    )
    text = str(err)
    assert f"Secret {secret.name!r}" in text
    assert f"module {where.module!r} was being imported" in text
    assert f"({where.path}:{line})" in text
    assert FIX in text
    assert secret.value not in text


TOP_LEVEL = """
    import kitaru

    TOKEN = kitaru.get_secret({NAME}).get("K")  # LOOKUP
"""

# -- rejected: module top level, in-process ---------------------------------------------


@pytest.mark.parametrize(
    "how",
    ["import", "from_import", "import_module", "__import__"],
)
def test_top_level_lookup_is_rejected(modules: Modules, secret: StoredSecret, how: str) -> None:
    mod = modules.write("top", TOP_LEVEL)
    with pytest.raises(ImportTimeSecretError) as info:
        if how == "import":
            exec(f"import {mod.module}", {})
        elif how == "from_import":
            exec(f"from {mod.module} import TOKEN", {})
        elif how == "import_module":
            importlib.import_module(mod.module)
        else:
            __import__(mod.module)
    assert_import_time_error(info.value, secret, mod)
    assert mod.module not in sys.modules  # the failed import left nothing behind


def test_nested_chain_names_the_module_that_looks_up(
    modules: Modules, secret: StoredSecret
) -> None:
    c = modules.write("c", TOP_LEVEL)
    modules.write("b", "import {mod_c}\n")
    a = modules.write("a", "X = 1\nimport {mod_b}\n")
    with pytest.raises(ImportTimeSecretError) as info:
        importlib.import_module(a.module)
    assert_import_time_error(info.value, secret, c)
    assert not [n for n in sys.modules if n.startswith(modules.prefix)]


def test_package_init_and_submodule_chain(modules: Modules, secret: StoredSecret) -> None:
    pkg = modules.root / modules.name("pkg")
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from . import sub\n", encoding="utf-8")
    (pkg / "sub.py").write_text(
        f"import kitaru\n\n\nTOKEN = kitaru.get_secret({secret.name!r})['K']\n", encoding="utf-8"
    )
    with pytest.raises(ImportTimeSecretError) as info:
        importlib.import_module(pkg.name)
    sub = Written(f"{pkg.name}.sub", pkg / "sub.py", 4)
    assert_import_time_error(info.value, secret, sub)


def test_class_body_reports_the_line_inside_the_class(
    modules: Modules, secret: StoredSecret
) -> None:
    mod = modules.write(
        "cls",
        """
        import kitaru


        class Client:
            base_url = "https://example.invalid"
            token = kitaru.get_secret({NAME}).get("K")  # LOOKUP
        """,
    )
    assert mod.line == 6  # not the `class` line
    with pytest.raises(ImportTimeSecretError) as info:
        importlib.import_module(mod.module)
    assert_import_time_error(info.value, secret, mod)


def test_decorator_argument(modules: Modules, secret: StoredSecret) -> None:
    mod = modules.write(
        "deco",
        """
        import kitaru


        def with_token(token):
            return lambda fn: fn


        @with_token(
            kitaru.get_secret({NAME}).get("K")  # LOOKUP
        )
        def handler():
            return 1
        """,
    )
    with pytest.raises(ImportTimeSecretError) as info:
        importlib.import_module(mod.module)
    assert_import_time_error(info.value, secret, mod)


def test_helper_and_comprehension_run_at_import_time(
    modules: Modules, secret: StoredSecret
) -> None:
    mod = modules.write(
        "helper",
        """
        import kitaru


        def load():
            return {k: kitaru.get_secret({NAME}).get(k) for k in ["K"]}  # LOOKUP


        SETTINGS = load()
        """,
    )
    with pytest.raises(ImportTimeSecretError) as info:
        importlib.import_module(mod.module)
    assert_import_time_error(info.value, secret, mod)


def test_runtime_helper_of_another_module_called_at_import_time(
    modules: Modules, secret: StoredSecret
) -> None:
    helpers = modules.write(
        "helpers",
        """
        import kitaru


        def token():
            return kitaru.get_secret({NAME}).get("K")
        """,
    )
    importlib.import_module(helpers.module)  # fine: nothing is read at its import
    user = modules.write(
        "user",
        """
        import {mod_helpers}

        TOKEN = {mod_helpers}.token()  # LOOKUP
        """,
    )
    with pytest.raises(ImportTimeSecretError) as info:
        importlib.import_module(user.module)
    # Named after the module being imported, at the line that triggered the read.
    assert_import_time_error(info.value, secret, user)


@pytest.mark.parametrize("read", ['REF.get("K")', "REF.values", "REF.resolve()", 'REF.get("nope")'])
def test_lazy_reference_read_at_import_time(
    modules: Modules, secret: StoredSecret, read: str
) -> None:
    mod = modules.write(
        "ref",
        f"""
        import kitaru

        REF = kitaru.secret_ref({{NAME}})
        VALUE = {read}  {LOOKUP}
        """,
    )
    with pytest.raises(ImportTimeSecretError) as info:
        importlib.import_module(mod.module)
    assert_import_time_error(info.value, secret, mod)


def test_reload_and_hand_called_loader_are_imports(modules: Modules, secret: StoredSecret) -> None:
    mod = modules.write("reloaded", "import kitaru\n")
    module = importlib.import_module(mod.module)
    mod = modules.write("reloaded", TOP_LEVEL)
    importlib.invalidate_caches()
    with pytest.raises(ImportTimeSecretError) as info:
        importlib.reload(module)
    assert_import_time_error(info.value, secret, mod)

    by_hand = modules.write("by_hand", TOP_LEVEL)
    spec = importlib.util.spec_from_file_location(by_hand.module, by_hand.path)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    with pytest.raises(ImportTimeSecretError) as info:
        spec.loader.exec_module(loaded)
    assert_import_time_error(info.value, secret, by_hand)


# -- allowed in-process: pytest test functions, run-time calls, lazy references ---------


def test_pytest_test_function_reads_the_value(secret: StoredSecret) -> None:
    assert kitaru.get_secret(secret.name).get("K") == secret.value
    assert kitaru.get_secret(secret.name).values == {"K": secret.value}


def test_function_of_imported_module_called_at_run_time(
    modules: Modules, secret: StoredSecret
) -> None:
    mod = modules.write(
        "runtime",
        """
        import kitaru

        REF = kitaru.secret_ref({NAME})  # creating a lazy reference is fine


        def token():
            return kitaru.get_secret({NAME}).get("K")


        class Client:
            def token(self):
                return kitaru.get_secret({NAME})["K"]


        def exec_fresh():
            ns = {}
            exec("import kitaru\\nT = kitaru.get_secret(" + repr({NAME}) + ").get('K')", ns)
            return ns["T"]


        def exec_module_globals():
            exec("T2 = kitaru.get_secret(" + repr({NAME}) + ").get('K')", globals())
            return T2
        """,
    )
    module: Any = importlib.import_module(mod.module)
    assert repr(module.REF) == f"SecretRef({secret.name!r})"
    assert module.token() == secret.value
    assert module.Client().token() == secret.value
    # exec'd code has a `<module>` frame too, but it is not an import.
    assert module.exec_fresh() == secret.value
    assert module.exec_module_globals() == secret.value


def test_lazy_reference_outside_a_flow_raises_import_time_error(secret: StoredSecret) -> None:
    ref = kitaru.secret_ref(secret.name)
    line = sys._getframe().f_lineno + 2
    with pytest.raises(ImportTimeSecretError) as info:
        ref.get("K")
    err = info.value
    assert isinstance(err, KitaruContextError)
    assert (err.secret, err.module, err.filename, err.lineno, err.outside_flow) == (
        secret.name,
        __name__,
        __file__,
        line,
        True,
    )
    text = str(err)
    assert f"Secret {secret.name!r}" in text and "outside a running flow" in text
    assert f"{__file__}:{line}" in text and FIX in text
    for read in (lambda: ref.values, ref.resolve):
        with pytest.raises(ImportTimeSecretError) as info:
            read()
        assert info.value.outside_flow and info.value.module == __name__


# -- flows: allowed inside bodies, rejected for modules imported while running -----------


def test_flow_and_checkpoint_bodies_may_read(modules: Modules, secret: StoredSecret) -> None:
    mod = modules.write(
        "inflow",
        """
        import kitaru

        REF = kitaru.secret_ref({NAME})


        def token():
            return kitaru.get_secret({NAME}).get("K")


        def ref_token():
            return REF.get("K")
        """,
    )
    helpers: Any = importlib.import_module(mod.module)
    name, value = secret.name, secret.value

    @kitaru.checkpoint
    def sync_cp() -> bool:
        return kitaru.get_secret(name).get("K") == value

    @kitaru.checkpoint
    def submitted_cp() -> bool:
        return kitaru.get_secret(name).get("K") == value

    @kitaru.checkpoint
    def ref_cp() -> bool:
        return bool(helpers.ref_token() == value and helpers.REF.values == {"K": value})

    @kitaru.flow
    def allowed_flow() -> dict[str, bool]:
        future = submitted_cp.submit()
        return {
            "flow_body": kitaru.get_secret(name).get("K") == value,
            "sync_checkpoint": sync_cp(),
            "imported_function": helpers.token() == value,
            "secret_ref_in_flow_body": helpers.ref_token() == value,
            "secret_ref_in_checkpoint": ref_cp(),
            "submitted_checkpoint": future.result(),
        }

    handle = allowed_flow.run()
    assert handle.error is None, repr(handle.error)
    assert handle.wait() == {
        "flow_body": True,
        "sync_checkpoint": True,
        "imported_function": True,
        "secret_ref_in_flow_body": True,
        "secret_ref_in_checkpoint": True,
        "submitted_checkpoint": True,
    }
    assert {r.secret for r in handle.secret_reads} == {name}


def test_async_flow_and_checkpoint_bodies_may_read(secret: StoredSecret) -> None:
    name, value = secret.name, secret.value

    @kitaru.checkpoint
    async def async_cp() -> bool:
        await asyncio.sleep(0)
        return kitaru.get_secret(name).get("K") == value

    @kitaru.flow
    async def async_flow() -> list[bool]:
        await asyncio.sleep(0)
        body = kitaru.get_secret(name).get("K") == value
        return [body, await async_cp()]

    assert asyncio.run(async_flow()) == [True, True]


def test_module_imported_inside_a_running_flow_is_rejected(
    modules: Modules, secret: StoredSecret
) -> None:
    in_cp = modules.write("in_cp", TOP_LEVEL)
    in_body = modules.write("in_body", TOP_LEVEL)
    caught: dict[str, BaseException] = {}

    @kitaru.checkpoint
    def import_in_checkpoint() -> bool:
        try:
            importlib.import_module(in_cp.module)
        except ImportTimeSecretError as exc:
            caught["checkpoint"] = exc
            return True
        return False

    @kitaru.flow
    def importing_flow() -> None:
        assert import_in_checkpoint()
        importlib.import_module(in_body.module)

    handle = importing_flow.run()
    assert handle.status == "failed"
    assert handle.error is not None
    assert_import_time_error(handle.error, secret, in_body)
    with pytest.raises(ImportTimeSecretError):
        handle.wait()
    assert_import_time_error(caught["checkpoint"], secret, in_cp)


# -- allowed in a fresh interpreter: script, -c, REPL, CLI -------------------------------

GUIDE_EXAMPLE = """\
from kitaru import create_secret, delete_secret, get_secret

created = create_secret(
    "github-creds",
    {"GITHUB_TOKEN": "ghp_..."},
)
print(created.private)  # False (public secrets are the default)

private_created = create_secret(
    "openai-creds",
    {"OPENAI_API_KEY": "sk-..."},
    private=True,
)

secret = get_secret("github-creds")
token = secret.get("GITHUB_TOKEN")

deleted = delete_secret("github-creds")
"""

# Read at a script's top level, in a class body and a decorator argument there
# (all `__main__`), then import a module that reads at import time.
SCRIPT = """\
import kitaru

print("VALUE", kitaru.get_secret(NAME).get("K"))


class Settings:
    token = kitaru.get_secret(NAME)["K"]


print("CLASS", Settings.token)
try:
    import BADMOD
except kitaru.ImportTimeSecretError as exc:
    print("REJECTED", exc.module, exc.lineno, isinstance(exc, kitaru.KitaruContextError))
"""

REPL_LINES = """\
import kitaru
print("VALUE", kitaru.get_secret(NAME).get("K"))
try:
    import BADMOD
except kitaru.ImportTimeSecretError as exc:
    print("REJECTED", exc.module, exc.lineno, isinstance(exc, kitaru.KitaruContextError))

"""


@dataclass
class Proc:
    popen: subprocess.Popen[str]
    _out: tuple[str, str] | None = None

    def result(self) -> tuple[int, str, str]:
        if self._out is None:
            try:
                self._out = self.popen.communicate(timeout=240)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self._out = self.popen.communicate()
        return self.popen.returncode, self._out[0], self._out[1]


def _start(argv: list[str], cwd: Path, env: dict[str, str], stdin: Path | None = None) -> Proc:
    with open(stdin if stdin is not None else os.devnull, encoding="utf-8") as feed:
        popen = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=feed,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    return Proc(popen)


@pytest.fixture(scope="module", autouse=True)
def fresh_processes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Proc]]:
    """Start every fresh-interpreter case when this file starts; each test waits for its own.

    The guide's example uses its own new store (its fixed names would clash with
    other tests), so it starts before the shared secret is even written.
    """
    work = tmp_path_factory.mktemp("fresh")
    guide = work / "guide"
    guide.mkdir()
    (guide / "example.py").write_text(
        GUIDE_EXAMPLE + '\nprint("TOKEN-OK", token == "ghp_...", __name__)\n', encoding="utf-8"
    )
    env = dict(os.environ)
    procs = {
        "guide": _start(
            [PYTHON, "example.py"], guide, dict(env, KITARU_CONFIG_PATH=str(guide / "config"))
        )
    }
    try:
        secret: StoredSecret = request.getfixturevalue("secret")
        bad = f"igbad_{uuid.uuid4().hex[:8]}"
        (work / f"{bad}.py").write_text(
            f"import kitaru\n\nTOKEN = kitaru.get_secret({secret.name!r}).get('K')\n",
            encoding="utf-8",
        )

        def fill(text: str) -> str:
            return text.replace("NAME", repr(secret.name)).replace("BADMOD", bad)

        (work / "script.py").write_text(fill(SCRIPT), encoding="utf-8")
        kitaru_cli = str(Path(PYTHON).parent / "kitaru")
        procs["script"] = _start([PYTHON, "script.py"], work, env)
        procs["-c"] = _start([PYTHON, "-c", fill(REPL_LINES)], work, env)
        (work / "repl-input.txt").write_text(fill(REPL_LINES), encoding="utf-8")
        procs["repl"] = _start([PYTHON, "-i", "-q"], work, env, stdin=work / "repl-input.txt")
        procs["cli"] = _start(
            [kitaru_cli, "secrets", "show", secret.name, "--show-values"], work, env
        )
        yield procs
    finally:
        for proc in procs.values():
            if proc.popen.poll() is None:
                proc.popen.kill()
            proc.result()


def _rejected_line(bad_line: str) -> None:
    parts = bad_line.split()
    assert parts[0] == "REJECTED" and parts[1].startswith("igbad_")
    assert parts[2:] == ["3", "True"]


def test_guide_example_runs_as_a_script(fresh_processes: dict[str, Proc]) -> None:
    code, out, err = fresh_processes["guide"].result()
    assert code == 0, err
    assert out.splitlines() == ["False", "TOKEN-OK True __main__"]


def test_script_top_level_reads_and_imports_are_still_checked(
    fresh_processes: dict[str, Proc], secret: StoredSecret
) -> None:
    code, out, err = fresh_processes["script"].result()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[:2] == [f"VALUE {secret.value}", f"CLASS {secret.value}"]
    assert len(lines) == 3
    _rejected_line(lines[2])


@pytest.mark.parametrize("case", ["-c", "repl"])
def test_python_c_and_repl_read_and_imports_are_still_checked(
    fresh_processes: dict[str, Proc], secret: StoredSecret, case: str
) -> None:
    code, out, err = fresh_processes[case].result()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"VALUE {secret.value}" and len(lines) == 2, (out, err)
    _rejected_line(lines[1])
    if case == "repl":
        assert ">>>" in err  # it really was the interactive loop
        assert "Traceback" not in err


def test_cli_shows_the_value(fresh_processes: dict[str, Proc], secret: StoredSecret) -> None:
    code, out, err = fresh_processes["cli"].result()
    assert code == 0, err
    assert f"K: {secret.value}" in out


# -- threads started and waited for while a module is being imported --------------------

_READER = """
    import asyncio
    import concurrent.futures
    import threading

    import kitaru

    box = []


    def read():
        try:
            box.append(kitaru.get_secret({NAME}).get("K"))
        except Exception as exc:
            box.append(exc)


"""

THREAD_STARTS = {
    "thread": "t = threading.Thread(target=read)\nt.start()  # LOOKUP\nt.join()\n",
    "timer": "t = threading.Timer(0.01, read)\nt.start()  # LOOKUP\nt.join()\n",
    "pool": "concurrent.futures.ThreadPoolExecutor(1).submit(read).result()  # LOOKUP\n",
    "to_thread": "asyncio.run(asyncio.to_thread(read))  # LOOKUP\n",
    "raw_thread": (
        "import _thread\n"
        "done = threading.Event()\n"
        "_thread.start_new_thread(lambda: (read(), done.set()), ())  # LOOKUP\n"
        "done.wait()\n"
    ),
    "nested": (
        "def outer():\n"
        "    inner = threading.Thread(target=read)\n"
        "    inner.start()\n"
        "    inner.join()\n"
        "t = threading.Thread(target=outer)\n"
        "t.start()  # LOOKUP\n"
        "t.join()\n"
    ),
}


@pytest.mark.parametrize("how", sorted(THREAD_STARTS))
def test_read_in_a_thread_joined_during_import_is_rejected(
    modules: Modules, secret: StoredSecret, how: str
) -> None:
    source = textwrap.dedent(_READER) + THREAD_STARTS[how] + "raise box[0]\n"
    mod = modules.write(f"threads_{how}", source)
    with pytest.raises(ImportTimeSecretError) as info:
        importlib.import_module(mod.module)
    assert_import_time_error(info.value, secret, mod)


@pytest.mark.parametrize("how", ["submit", "map", "run_in_executor"])
def test_read_in_a_pool_worker_started_before_the_import_is_rejected(
    modules: Modules, secret: StoredSecret, how: str
) -> None:
    import concurrent.futures

    pool = concurrent.futures.ThreadPoolExecutor(1)
    pool.submit(lambda: None).result()  # its worker runs before the import starts
    holder = importlib.import_module(modules.write("holder", "POOL = None\n").module)
    holder.POOL = pool
    calls = {
        "submit": "POOL.submit(read).result()  # LOOKUP\n",
        "map": "list(POOL.map(lambda _: read(), [1]))  # LOOKUP\n",
        "run_in_executor": (
            "async def main():\n"
            "    await asyncio.get_running_loop().run_in_executor(POOL, read)  # LOOKUP\n"
            "asyncio.run(main())\n"
        ),
    }
    source = textwrap.dedent(_READER) + "from {mod_holder} import POOL\n" + calls[how]
    mod = modules.write(f"early_pool_{how}", source + "raise box[0]\n")
    try:
        with pytest.raises(ImportTimeSecretError) as info:
            importlib.import_module(mod.module)
        assert_import_time_error(info.value, secret, mod)
        # The same worker may read once no import is running.
        assert pool.submit(lambda: kitaru.get_secret(secret.name).get("K")).result() == (
            secret.value
        )
    finally:
        pool.shutdown()


def test_thread_started_during_import_may_read_once_the_import_finished(
    modules: Modules, secret: StoredSecret
) -> None:
    source = textwrap.dedent(_READER) + (
        "go = threading.Event()\n"
        "t = threading.Thread(target=lambda: (go.wait(), read()))\n"
        "t.start()\n"
    )
    mod = importlib.import_module(modules.write("threads_later", source).module)
    mod.go.set()
    mod.t.join()
    assert mod.box == [secret.value]


# -- a flow module that fails to load where the run executes ------------------------------

LOAD_FAILURE = """
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.getcwd())
import kitaru

value = kitaru.get_secret(sys.argv[1])["K"]  # read by the script: this process knows it
import load_fail_flows

# The module now fails when the run imports it, quoting a configuration value that
# happens to be the secret's. The run imports it afresh, as an orchestrator's own
# process does (this process already read the value, so it knows it).
os.environ["LOAD_FAIL_CONFIG"] = value
with open("load_fail_flows.py", "w") as fh:
    fh.write("import os\\nraise RuntimeError('bad config: ' + os.environ['LOAD_FAIL_CONFIG'])\\n")
from kitaru._zenml import flow_sources

load_as_fresh_process = flow_sources.load_flow_object


def reload_flow(flow, load):
    sys.modules.pop("load_fail_flows", None)
    return load_as_fresh_process(flow, load)


flow_sources.load_flow_object = reload_flow
handle = load_fail_flows.job.run()
try:
    handle.wait()
    error = None
except Exception as exc:  # the flow's own error, in the calling process
    error = str(exc)
print("RESULT " + json.dumps({"error": error, "recorded": kitaru.get_execution(
    handle.execution_id).error}))
"""

LOAD_FAIL_FLOWS = """
import kitaru


@kitaru.checkpoint
def one() -> int:
    return 1


@kitaru.flow
def job() -> int:
    return one()
"""


def test_a_flow_module_failing_to_load_is_recorded_redacted(
    tmp_path: Path, secret: StoredSecret
) -> None:
    (tmp_path / "load_fail_flows.py").write_text(LOAD_FAIL_FLOWS)
    (tmp_path / "driver.py").write_text(LOAD_FAILURE)
    proc = subprocess.run(
        [PYTHON, "driver.py", secret.name],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert secret.value not in proc.stdout + proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    result = json.loads(line[len("RESULT ") :])
    assert "bad config: [REDACTED]" in result["error"]
    assert "bad config: [REDACTED]" in result["recorded"]
