"""Names a package re-exports, loaded when first touched (PEP 562).

A CLI command or a plain ``import kitaru`` then pays only for what it uses:
``kitaru --help`` loads none of the decorators' machinery (wrapt, asyncio, the
execution scopes), and a status name needs no redaction code.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, tuple[str, str | None]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's module ``__getattr__`` and ``__dir__`` for ``exports``.

    ``exports`` maps a public name to ``(module, attribute)``; an attribute of
    None exports the module itself. A loaded name is set on the package, so
    each loads once.
    """

    def __getattr__(name: str) -> Any:
        target = exports.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(target[0])
        value = module if target[1] is None else getattr(module, target[1])
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
