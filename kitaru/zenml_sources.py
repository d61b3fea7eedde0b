"""The import paths ZenML stores for kitaru: stable names that never move.

ZenML writes import paths into users' databases and configuration files and
imports them again later, in another process, possibly with a newer kitaru:

- every flow run's snapshot names its pipeline, ``kitaru.zenml_sources.kitaru_flow``,
  and its steps, ``kitaru.zenml_sources.kitaru_checkpoint`` and
  ``kitaru.zenml_sources.kitaru_isolated_checkpoint`` (read by retries, replays,
  ``kitaru executions recover`` and every remote orchestrator's entrypoint);
- the embedded store's ``config.yaml`` names its secrets store,
  ``kitaru.zenml_sources.KitaruSqlSecretsStore``;
- a registered ``kitaru_subprocess`` orchestrator flavor names
  ``kitaru.zenml_sources.SubprocessOrchestratorFlavor``.

These names are part of kitaru's public surface: they stay here whatever file
the objects live in. Records written by kitaru before these names existed name
the objects' own modules (``kitaru._zenml.pipelines.kitaru_flow``, ...), which
stay importable too.

Nothing here is imported by ``import kitaru``, and importing this module imports
nothing else: each name loads its module (and ZenML) when it is first read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kitaru._zenml.keyed_store import KitaruSqlSecretsStore
    from kitaru._zenml.pipelines import kitaru_checkpoint, kitaru_flow, kitaru_isolated_checkpoint
    from kitaru._zenml.subprocess_orchestrator import SubprocessOrchestratorFlavor

__all__ = [
    "KitaruSqlSecretsStore",
    "SubprocessOrchestratorFlavor",
    "kitaru_checkpoint",
    "kitaru_flow",
    "kitaru_isolated_checkpoint",
]


def __getattr__(name: str) -> Any:
    # Each name's module is imported on first use only (it imports ZenML).
    home: Any
    if name in ("kitaru_flow", "kitaru_checkpoint", "kitaru_isolated_checkpoint"):
        from kitaru._zenml import pipelines as home
    elif name == "KitaruSqlSecretsStore":
        from kitaru._zenml import keyed_store as home
    elif name == "SubprocessOrchestratorFlavor":
        from kitaru._zenml import subprocess_orchestrator as home
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(home, name)
    globals()[name] = value
    return value
