"""The ``kitaru_subprocess`` orchestrator flavor, under its public name.

It runs each flow (and each isolated checkpoint) in a fresh local process the
way a remote orchestrator's container does; see
``kitaru._zenml.subprocess_orchestrator``, where it lives with kitaru's other
ZenML code. Register it with
``kitaru stack create NAME --orchestrator kitaru_subprocess``.
"""

from kitaru._zenml.subprocess_orchestrator import (
    FLAVOR_NAME,
    SubprocessOrchestrator,
    SubprocessOrchestratorConfig,
    SubprocessOrchestratorFlavor,
)

__all__ = [
    "FLAVOR_NAME",
    "SubprocessOrchestrator",
    "SubprocessOrchestratorConfig",
    "SubprocessOrchestratorFlavor",
]
