"""Files that never go into ZenML's code archive, whatever the project's ignore rules.

An orchestrator that runs a flow elsewhere gets the project's code from an
archive ZenML uploads to the artifact store. ZenML packs every file under the
source root (in a git repository: every file git does not ignore), so a
project's ``.env`` with its API keys would be stored beside the artifacts.
kitaru leaves out, at any depth: ``.env``, ``.env.*``, ``*.key``, ``.netrc``
(``_netrc``), ``.pypirc`` and ``.git-credentials``.
"""

from __future__ import annotations

import fnmatch
from pathlib import PurePath
from typing import Any

EXCLUDED = (".env", ".env.*", "*.key", ".netrc", "_netrc", ".pypirc", ".git-credentials")


def is_excluded(path_in_archive: str) -> bool:
    """True for a file that holds credentials by its name (see the module docstring)."""
    name = PurePath(path_in_archive).name
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in EXCLUDED)


def exclude_credential_files() -> None:
    """Make ZenML's code archive leave out the files above (idempotent)."""
    from zenml.utils.code_utils import CodeArchive

    original = CodeArchive.get_files
    if getattr(original, "kitaru_filtered", False):
        return

    def get_files(self: Any) -> dict[str, str]:
        files: dict[str, str] = original(self)
        return {path: real for path, real in files.items() if not is_excluded(path)}

    get_files.kitaru_filtered = True  # type: ignore[attr-defined]
    CodeArchive.get_files = get_files  # type: ignore[method-assign]
