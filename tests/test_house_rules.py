"""House rules for kitaru/, checked on the source with ``ast``.

- no import cycle between kitaru's modules (imports inside functions count: they
  run too; imports under ``if TYPE_CHECKING:`` do not);
- no private name (``_x``) imported from another kitaru module;
- no module over 400 lines;
- a function that opens ZenML's client imports zenml only after it (or after
  ``import_zenml()``): zenml imported first leaves its log handlers on the
  caller's root logger;
- the house's layout: the secret store wing (``_store``) and ZenML's execution
  modules (``_zenml`` but its door) never import each other, and neither imports the
  engine (``_run``); ``runtime`` imports no wing and no engine; ``_config`` stands
  under all of them; no private top-level module but ``_config`` (imports under
  ``if TYPE_CHECKING:`` count here: a type names where a thing lives).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "kitaru"
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for n in ast.walk(node))
    return skipped


def _imports(module: str, *, type_checking: bool = False) -> list[tuple[str, str | None]]:
    """(imported kitaru module, imported name or None) for every import in ``module``.

    Imports under ``if TYPE_CHECKING:`` count only with ``type_checking``.
    """
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = set() if type_checking else _type_checking_nodes(tree)
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(a.name, None) for a in node.names if a.name in MODULES]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module if path.name == "__init__.py" else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{node.module}" if node.module else package
            else:
                base = node.module or ""
            for alias in node.names:
                if f"{base}.{alias.name}" in MODULES:
                    found.append((f"{base}.{alias.name}", None))
                elif base in MODULES:
                    found.append((base, alias.name))
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_checker_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles_in_kitaru() -> None:
    graph = {m: {dep for dep, _ in _imports(m) if dep != m} for m in MODULES}
    assert _cycles(graph) == []


def test_no_private_name_is_imported_from_another_module() -> None:
    offenders = [
        f"{module} imports {name} from {source}"
        for module in MODULES
        for source, name in _imports(module)
        if name is not None and name.startswith("_") and not name.startswith("__")
    ]
    assert offenders == []


def test_no_module_over_400_lines() -> None:
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in MODULES.items()}
    assert {m: n for m, n in sizes.items() if n > MAX_LINES} == {}


def _first_line(fn: ast.AST, match: object) -> int | None:
    lines = [n.lineno for n in ast.walk(fn) if match(n)]  # type: ignore[operator]
    return min(lines) if lines else None


def _imports_zenml(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").split(".")[0] == "zenml"
    return isinstance(node, ast.Import) and node.names[0].name.split(".")[0] == "zenml"


def _readies_zenml(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
    return name in ("get_client", "import_zenml")


def test_zenml_is_imported_after_the_client_is_opened() -> None:
    offenders = []
    for module, path in MODULES.items():
        for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            imported = _first_line(fn, _imports_zenml)
            readied = _first_line(fn, _readies_zenml)
            if imported is not None and readied is not None and imported < readied:
                offenders.append(f"{module}.{fn.name}: zenml imported on line {imported}")
    assert offenders == []


# The modules of kitaru._zenml that open ZenML on kitaru's store: the secret store
# wing may use these to reach ZenML's secret store; every other module there runs
# or reads executions (see kitaru/_zenml/__init__.py).
ZENML_DOOR = {
    f"kitaru._zenml.{name}"
    for name in (
        "client",
        "code_archive",
        "dashboard_files",
        "keyed_store",
        "local_server",
        "local_server_state",
        "process_env",
        "process_state",
        "server",
        "store_health",
        "store_template",
        "stored_paths",
        "tuning",
    )
}


def _part(module: str) -> str:
    """Which part of the house ``module`` is in."""
    if module == "kitaru._zenml" or module in ZENML_DOOR:
        return "door"
    for part in ("_config", "_store", "_zenml", "_run", "runtime"):
        if module == f"kitaru.{part}" or module.startswith(f"kitaru.{part}."):
            return part
    return "surface"


# (importer's part, imported part): never.
FORBIDDEN = {
    ("_store", "_zenml"): "the secret store wing does not run flows",
    ("_store", "_run"): "the secret store wing does not know the engine",
    ("_zenml", "_store"): "ZenML's execution modules do not reach into the secret store",
    ("_zenml", "_run"): "the door to ZenML does not know the engine",
    ("door", "_run"): "the door to ZenML does not know the engine",
    ("door", "_zenml"): "the door does not run flows",
    ("runtime", "_store"): "runtime code gets what it needs injected",
    ("runtime", "_zenml"): "runtime code gets what it needs injected",
    ("runtime", "door"): "runtime code gets what it needs injected",
    ("runtime", "_run"): "the engine sets up the runtime, not the reverse",
    ("_config", "_store"): "the ground floor stands under both wings",
    ("_config", "_zenml"): "the ground floor stands under both wings",
    ("_config", "door"): "the ground floor stands under both wings",
    ("_config", "_run"): "the ground floor stands under both wings",
    ("_config", "runtime"): "the ground floor stands under both wings",
}


def _layout_offenders(modules: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{module} imports {dep}: {FORBIDDEN[(_part(module), _part(dep))]}"
        for module, deps in modules.items()
        for dep in deps
        if (_part(module), _part(dep)) in FORBIDDEN
    )


def test_the_layout_checker_finds_a_wing_importing_the_other() -> None:
    found = _layout_offenders(
        {
            "kitaru._store.backend": {"kitaru._zenml.runs", "kitaru._zenml.client"},
            "kitaru.runtime.scope": {"kitaru._store.backend"},
            "kitaru._run.retry": {"kitaru._store.secret_store", "kitaru._zenml.runs"},
        }
    )
    assert [line.split(":")[0] for line in found] == [
        "kitaru._store.backend imports kitaru._zenml.runs",
        "kitaru.runtime.scope imports kitaru._store.backend",
    ]


def test_the_wings_engine_and_runtime_keep_their_places() -> None:
    graph = {m: {dep for dep, _ in _imports(m, type_checking=True)} for m in MODULES}
    assert _layout_offenders(graph) == []


def test_every_door_module_exists() -> None:
    assert ZENML_DOOR <= set(MODULES)


def test_no_private_top_level_module_but_config() -> None:
    private = sorted(
        p.name for p in PACKAGE.iterdir() if p.name.startswith("_") and not p.name.startswith("__")
    )
    assert private == ["_config", "_run", "_store", "_zenml"]


def test_the_layout_rule_sees_imports_made_for_type_checking() -> None:
    typed = ("kitaru._store.backend", "SecretBackend")
    assert typed in _imports("kitaru.secrets", type_checking=True)
    assert typed not in _imports("kitaru.secrets")
