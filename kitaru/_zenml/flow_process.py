"""``python -m kitaru._zenml.flow_process RUN_ID -- ARGV...``: run a flow process and watch it.

The ``kitaru_subprocess`` orchestrator starts this watcher instead of the flow
process itself, as a pod's controller would: it runs ``ARGV``, passes on its
exit code, and when the flow process ended before its run did (killed, out of
memory, an interpreter that cannot start), reports the run ``crashed`` through
:func:`kitaru._zenml.subprocess_orchestrator.report_crashed`. Without it such a
run would stay ``provisioning`` or ``running`` forever and ``wait()`` would
never return. The watcher outlives the process that submitted the run.

It imports nothing heavy until the flow process has ended.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    """Run the flow process in ``argv`` (``RUN_ID -- ARGV...``); its exit code."""
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m kitaru._zenml.flow_process RUN_ID -- ARGV...", file=sys.stderr)
        return 2
    run_id, command = argv[0], argv[2:]
    started = time.time()
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL)

    def forward(signum: int, _frame: object) -> None:
        proc.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    code = proc.wait()
    from kitaru._zenml.subprocess_orchestrator import report_crashed

    report_crashed(run_id, code, proc.pid, started)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
