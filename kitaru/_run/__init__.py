"""The engine: starting and executing a flow, and everything a run does around its body.

The engine is where kitaru's two wings meet: it takes secrets and the
fingerprint key from :mod:`kitaru._store` and runs flows through
:mod:`kitaru._zenml`, and hands :mod:`kitaru.runtime` what code inside a run
sees. Neither wing imports it.

- ``flow_exec`` / ``flow_support``: a flow body as one execution, its inputs,
  record and replay plan; ``bodies``: running user bodies (sync or async);
- ``isolated``: a checkpoint body in its own process;
- ``handle``: ``FlowHandle``, one execution read back from the store;
- ``retry`` / ``replay_by_id`` / ``control``: continuing, replaying and cancelling
  an execution, from any process that can reach its store;
- ``progress``: a flow's progress on stderr; ``output_summary``: one-line values;
- ``decorator_checks``: ``@flow`` / ``@checkpoint`` options, checked when applied;
- ``json_values``: plain JSON checked before it is stored;
- ``llm_setup`` / ``llm_providers`` / ``llm_endpoint``: the model and credentials
  of one ``kitaru.llm()`` call;
- ``warm``: the experimental warm runner (``KITARU_RUNNER=warm``).
"""
