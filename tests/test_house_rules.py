"""House rules for kitaru/, checked on the source with ``ast``.

- no import cycle between kitaru's modules (imports inside functions count: they
  run too; imports under ``if TYPE_CHECKING:`` do not);
- no private name (``_x``) imported from another kitaru module;
- no module over 400 lines;
- a function that opens ZenML's client imports zenml only after it (or after
  ``import_zenml()``): zenml imported first leaves its log handlers on the
  caller's root logger;
- ``kitaru/runtime/`` (what code inside a run sees) imports neither ZenML's wing
  (``kitaru._zenml``) nor the store's (the fingerprint key, secret validation), not
  even lazily or for type checking: the engine gives a scope what it needs.
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


RUNTIME_MUST_NOT_IMPORT = ("kitaru._zenml", "kitaru._fingerprint_key", "kitaru._secret_validation")


def test_runtime_imports_neither_zenml_nor_the_store() -> None:
    offenders = [
        f"{module} imports {dep}"
        for module in MODULES
        if module == "kitaru.runtime" or module.startswith("kitaru.runtime.")
        for dep, _ in _imports(module, type_checking=True)
        if any(dep == bad or dep.startswith(bad + ".") for bad in RUNTIME_MUST_NOT_IMPORT)
    ]
    assert offenders == []
    # The rule sees imports under TYPE_CHECKING too.
    typed = ("kitaru._zenml.backend", "SecretBackend")
    assert typed in _imports("kitaru.secrets", type_checking=True)
    assert typed not in _imports("kitaru.secrets")
