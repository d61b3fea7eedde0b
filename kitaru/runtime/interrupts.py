"""What counts as an interrupt (Ctrl-C) rather than a failure of the code that ran.

``KeyboardInterrupt`` always does. The execution layer adds the exceptions its
engine raises for the same signal (ZenML turns SIGINT during a step into its
own ``RunInterruptedException`` where the process ignores SIGINT otherwise),
so the runtime can tell an interrupt from a failure without importing it.
"""

from __future__ import annotations

_INTERRUPTS: list[type[BaseException]] = [KeyboardInterrupt]


def register_interrupt(kind: type[BaseException]) -> None:
    """Treat ``kind`` as an interrupt from now on."""
    if kind not in _INTERRUPTS:
        _INTERRUPTS.append(kind)


def is_interrupt(error: BaseException) -> bool:
    """True if ``error`` is an interrupt: the execution is cancelled, not failed."""
    return isinstance(error, tuple(_INTERRUPTS))
