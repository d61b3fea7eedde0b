"""The door to ZenML: opening it on kitaru's store, and how flows run and are read back.

Outside this package only the warm runner (:mod:`kitaru._run.warm`) imports zenml.
Here it is imported inside functions only; the modules marked "no ZenML" do not
import it themselves (they read the store's SQLite file or speak REST).
``stored_paths`` names the import paths ZenML stores (no ZenML).

The door (the secret store wing, :mod:`kitaru._store`, may use these, and only these):
- ``client``: open ZenML on kitaru's config directory; ``tuning``: lean settings for it;
  ``process_env`` / ``process_state``: what ZenML changes in the process, put back;
- ``store_health`` / ``store_template``: what a store on disk is (no ZenML), and a new
  store copied from a template;
- ``keyed_store``: ZenML's SQL secret store, keyed from kitaru's key file;
- ``server``: ZenML's own connection to a server;
- ``local_server`` / ``local_server_state`` / ``dashboard_files``: ``kitaru login --local``;
- ``code_archive``: files that never go into ZenML's code archive.

Every other module here is about execution, and imports nothing of :mod:`kitaru._store`.

Running flows:
- ``pipelines``: flows as pipelines, checkpoints as steps; ``flow_sources``: where a
  flow is found; ``step_code``: what ZenML records as their code;
- ``stacks`` / ``stack_reads``: stacks, and reading them without ZenML; ``dashboard``: links;
- ``submit_errors``: why a flow could not start on its stack, in one line;
- ``subprocess_orchestrator`` / ``flow_process``: each flow in a fresh, watched process;
- ``waits`` / ``wait_views``: ``kitaru.wait()`` as run wait conditions;
- ``continuation``: retry and recover in place;
- ``run_log_writer`` / ``step_logs`` / ``output_views``: what a checkpoint leaves on its step.

Reading executions:
- ``runs`` / ``run_lookup``: runs, their metadata and outputs; ``run_reads``: list and
  logs by SQL (no ZenML); ``run_state`` / ``run_record``: who runs an execution, how it
  ended, its record; ``run_log_store``: ``kitaru.log()`` metadata read back;
- ``run_rest_reads``: the same reads from a server over REST; ``artifact_reads``: outputs
  read from their files (both no ZenML); ``reused_steps``: where a replay's reused
  checkpoint came from, as the dashboard shows it.
"""
