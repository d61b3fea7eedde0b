"""kitaru on ZenML: where secrets are stored, and how flows run and are read back.

Outside this package only the warm runner (:mod:`kitaru._warm`) imports zenml.
Here it is imported inside functions only; the modules marked "no ZenML" do not
import it themselves (they read the store's SQLite file or speak REST).
``stored_paths`` names the import paths ZenML stores (no ZenML).

Secrets:
- ``backend``: the SecretBackend seam every secret operation goes through;
  ``secret_store`` picks one backend per process and configuration;
- ``sqlite_backend`` / ``local_sqlite``: the embedded store's table, read directly (no ZenML);
- ``zenml_backend``: through ZenML's client (embedded store or server);
- ``rest_backend`` / ``server_upsert``: a server over REST (no ZenML), and the leased
  upsert both server backends use;
- ``secret_edits``: key removal and rename, through the seam;
- ``encryption`` / ``keyed_store``: encryption at rest for the embedded store.

Stores and servers:
- ``client``: open ZenML on kitaru's config directory; ``tuning``: lean settings for it;
- ``store_dir`` / ``store_health`` / ``store_template``: checks on the config directory,
  what a store on disk is, and a new store copied from a template (no ZenML for the first two);
- ``connection`` / ``token_cache`` (no ZenML) and ``server``: which server, its
  credentials, and ZenML's own connection to it;
- ``local_server`` / ``local_server_state``: ``kitaru login --local``;
- ``stacks`` / ``stack_reads``: stacks, and reading them without ZenML; ``dashboard``: links.

Running flows:
- ``pipelines``: flows as pipelines, checkpoints as steps; ``flow_sources``: where a
  flow is found; ``step_code`` / ``code_archive``: what ZenML records as their code;
- ``subprocess_orchestrator`` / ``flow_process``: each flow in a fresh, watched process;
- ``process_env`` / ``process_state``: what a run changes in the process, put back;
- ``waits`` / ``wait_views``: ``kitaru.wait()`` as run wait conditions;
- ``continuation``: retry and recover in place;
- ``run_log_writer`` / ``step_logs`` / ``output_views``: what a checkpoint leaves on its step.

Reading executions:
- ``runs`` / ``run_lookup``: runs, their metadata and outputs; ``run_reads``: list and
  logs by SQL (no ZenML); ``run_state`` / ``run_record``: who runs an execution, how it
  ended, its record; ``run_log_store``: ``kitaru.log()`` metadata read back.
"""
