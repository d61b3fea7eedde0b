"""The only package that imports zenml (always inside functions), and kitaru's secret backends.

Modules:
- ``backend``: the typed secret-backend interface and what its implementations share;
- ``secret_store``: picks the backend once per process and configuration;
- ``sqlite_backend`` / ``local_sqlite``: the embedded store's secret table, read directly;
- ``zenml_backend``: secrets through ZenML's client (embedded store or server);
- ``rest_backend`` / ``server_upsert``: a ZenML server over REST, and the leased upsert
  both server backends use;
- ``connection``: the server URL, login file and token exchange (no ZenML import);
- ``server``: ZenML's own client connection to a server;
- ``client``: open ZenML on kitaru's config directory;
- ``store_template`` / ``store_health``: a new store copied whole from a template built
  once per ZenML version, and what a store on disk is (new, whole, half-made, damaged);
- ``process_env``: a flow leaves ``os.environ`` as it found it;
- ``encryption`` / ``keyed_store``: encryption at rest for the embedded store;
- ``pipelines`` / ``runs`` / ``stacks`` / ``tuning``: flows as ZenML pipelines, their runs,
  the stacks they run on, lean settings.
"""

KEYED_STORE_CLASS_PATH = "kitaru._zenml.keyed_store.KitaruSqlSecretsStore"
