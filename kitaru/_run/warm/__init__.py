"""The warm runner (experimental, opt-in with ``KITARU_RUNNER=warm``).

A per-user process that keeps ZenML imported and kitaru's store migrated, so a
script's flow run skips the seconds of ``import zenml``: the script asks the
runner over a Unix socket to fork a child, which imports the flow by its file
path (as a remote orchestrator would) and runs it with the caller's stdin,
stdout and stderr, environment and working directory.

- :mod:`~kitaru._run.warm.wire`: the socket's place and its framed messages;
- :mod:`~kitaru._run.warm.runner`: the runner process (``python -m kitaru._run.warm.runner``);
- :mod:`~kitaru._run.warm.child`: what a forked child does with one request;
- :mod:`~kitaru._run.warm.client`: the caller's side, and ``kitaru runner ...``.
"""
