"""Checkpoint identity for replays: which recorded output may stand in for a call.

A checkpoint call is identified by its invocation ID (``name``, ``name_2``, ...
counted per checkpoint name within one execution) *and* a fingerprint of its
arguments. A replay reuses the original output of a call only when the original
execution has a successful call with the same invocation ID, the same checkpoint
name and the same argument fingerprint. If the ID exists but the name or the
arguments differ, the flow changed shape (a loop over different items, a
reordered branch) and reusing would return the wrong output: the replay is
refused with :class:`~kitaru.errors.ReplayError` before anything runs again.

The fingerprint is a truncated HMAC-SHA256 of the pickled arguments (of their
``repr`` when they cannot be pickled) under a key kept outside the run records
(the engine gives it to each execution scope: it lives with the store, which the
runtime does not import): it identifies the arguments, and a run record
alone does not let anyone try candidate values (a PIN) against it.
"""

from __future__ import annotations

import hashlib
import hmac
import pickle
from dataclasses import dataclass, field
from typing import Any

from kitaru.errors import ReplayError


def fingerprint(args: tuple[Any, ...], kwargs: dict[str, Any], key: bytes) -> str:
    """A short, stable fingerprint of a call's arguments, keyed with ``key``."""
    try:
        data = pickle.dumps((args, sorted(kwargs.items())), protocol=4)
    except Exception:  # noqa: BLE001 - unpicklable arguments: fall back to repr
        data = repr((args, sorted(kwargs.items()))).encode("utf-8", "replace")
    return hmac.new(key, data, hashlib.sha256).hexdigest()[:16]


@dataclass
class ReplayPlan:
    """What a replay reuses of the original execution, keyed by invocation ID.

    ``reusable`` are the calls that completed there before the cut (all that
    completed, without a cut); ``outputs`` replace recorded outputs of some of
    them. No call runs live while a reusable call the original made earlier has
    not been matched, so a flow that changed its calls is refused before it
    does anything again.
    """

    original_id: str
    recorded: dict[str, dict[str, Any]] = field(default_factory=dict)
    reusable: set[str] = field(default_factory=set)
    known: set[str] = field(default_factory=set)
    cut: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    matched: set[str] = field(default_factory=set)

    def _refuse(self, what: str) -> ReplayError:
        return ReplayError(
            f"The flow changed shape since execution {self.original_id}: {what}. Reusing "
            "recorded outputs would be wrong, so nothing ran again; run the flow afresh, or "
            "replay from a cut before the change (--from INVOCATION_ID).",
            execution_id=self.original_id,
        )

    def check(self, invocation_id: str, name: str, args_hash: str) -> bool:
        """True if the original output of this call will be reused; raise if unsafe."""
        if invocation_id not in self.reusable:
            # In recorded order: the first call that should have come by now.
            pending = [i for i in self.recorded if i in self.reusable and i not in self.matched]
            if pending and invocation_id not in self.known:
                first = self.recorded[pending[0]].get("name")
                raise self._refuse(
                    f"call {invocation_id!r} ({name}) is new, where the recorded run had "
                    f"call {pending[0]!r} ({first})"
                )
            return False
        rec = self.recorded.get(invocation_id)
        if rec is None:
            raise self._refuse(f"call {invocation_id!r} has no record")
        if rec.get("name") not in (None, name):
            raise self._refuse(
                f"call {invocation_id!r} was checkpoint {rec.get('name')!r} there and is "
                f"{name!r} now"
            )
        # Before a cut, a call is reused by its position even if its arguments
        # changed: that is what the cut means.
        if self.cut is None and rec.get("args_hash") not in (None, args_hash):
            raise self._refuse(f"call {invocation_id!r} ({name}) now gets different arguments")
        self.matched.add(invocation_id)
        return True

    def output_for(self, invocation_id: str, value: Any) -> Any:
        """The output a reused call returns: the recorded one, or its replacement."""
        return self.outputs.get(invocation_id, value)


@dataclass
class RetryPlan:
    """A retry continues its own execution: which calls completed there, and which were made.

    Each completed call returns its stored output; ZenML matches them by
    invocation ID, so kitaru checks first that the flow still makes the same call
    (checkpoint name and argument fingerprint). A call the recorded run never
    made, while completed calls are still to come, means the code changed its
    calls: it is refused before it runs live. Either refusal says to replay.
    """

    execution_id: str
    completed: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    known: set[str] = field(default_factory=set)
    matched: set[str] = field(default_factory=set)

    def _refuse(self, what: str) -> ReplayError:
        return ReplayError(
            f"Execution {self.execution_id} cannot be retried: the flow's code changed its "
            f"calls since it ran ({what}), so its recorded outputs do not apply. Replay it "
            f"instead (a new execution): kitaru executions replay {self.execution_id}",
            execution_id=self.execution_id,
        )

    def check(self, invocation_id: str, name: str, args_hash: str) -> bool:
        """True if the call's stored output will be returned; raise if the code changed."""
        rec = self.completed.get(invocation_id)
        if rec is None:
            # In recorded order: the first completed call that should have come by now.
            pending = [i for i in self.completed if i not in self.matched]
            if invocation_id not in self.known and pending:
                raise self._refuse(
                    f"call {invocation_id!r} ({name}) is new, where the recorded run had "
                    f"call {pending[0]!r} ({self.completed[pending[0]][0]})"
                )
            return False
        if rec[0] is not None and rec[0] != name:
            raise self._refuse(f"call {invocation_id!r} was checkpoint {rec[0]!r}, now {name!r}")
        if rec[1] is not None and rec[1] != args_hash:
            raise self._refuse(f"call {invocation_id!r} ({name}) now gets different arguments")
        self.matched.add(invocation_id)
        return True
