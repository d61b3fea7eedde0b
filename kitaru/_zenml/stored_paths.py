"""The import paths ZenML stores for kitaru, and the records written before them.

ZenML writes where to import kitaru's pipeline entry, its two steps, the keyed
secrets store and the ``kitaru_subprocess`` flavor into users' databases and
configs, and imports them later in another process. New records name the public,
stable module :mod:`kitaru.zenml_sources`; records written before it existed
name the objects' own modules under ``kitaru._zenml``, kept here word for word
(they are what old stores hold, wherever the files move). Code that recognises
kitaru's steps or flow entry by a recorded source accepts both.

ZenML derives a step's, a pipeline's and a flavor's recorded source from the
object's module (``source_utils.resolve``). :func:`install` makes it name the
public module for these objects, and keeps everything else ZenML derives (the
source type; for an installed kitaru, its package and version). No ZenML at
import.
"""

from __future__ import annotations

from typing import Any

PUBLIC_MODULE = "kitaru.zenml_sources"
_STEPS = ("kitaru_checkpoint", "kitaru_isolated_checkpoint")
# What ZenML derives from an object's module and name, and stores.
_RESOLVED_NAMES = frozenset({*_STEPS, "kitaru_flow", "SubprocessOrchestratorFlavor"})
# The steps' module in records written before the public module existed: what
# old stores hold, wherever the files move later (never change it).
_STEPS_BEFORE = "kitaru._zenml.pipelines"
# A kitaru step's recorded source, in a new record or an old one.
STEP_PATHS = frozenset(f"{m}.{s}" for m in (PUBLIC_MODULE, _STEPS_BEFORE) for s in _STEPS)

# Given to ZenML as strings: the secrets store written into a new store's config,
# and the source a new ``kitaru_subprocess`` flavor is registered with.
KEYED_STORE_CLASS_PATH = f"{PUBLIC_MODULE}.KitaruSqlSecretsStore"
SUBPROCESS_FLAVOR_SOURCE = f"{PUBLIC_MODULE}.SubprocessOrchestratorFlavor"


def public_source(source: Any) -> Any:
    """``source`` (a ZenML ``Source``) naming :data:`PUBLIC_MODULE` if it is one of kitaru's."""
    module = str(source.module)
    if source.attribute not in _RESOLVED_NAMES or module.partition(".")[0] != "kitaru":
        return source  # not kitaru's (a user's step or flavor of the same name)
    return source.model_copy(update={"module": PUBLIC_MODULE})


_installed = False


def install() -> None:
    """Make ZenML record :data:`PUBLIC_MODULE` for kitaru's objects, in this process (once)."""
    global _installed
    if _installed:
        return
    _installed = True
    from zenml.utils import source_utils

    resolve = source_utils.resolve

    def resolve_publicly(obj: Any, skip_validation: bool = False) -> Any:
        return public_source(resolve(obj, skip_validation=skip_validation))

    source_utils.resolve = resolve_publicly
