"""Where secrets live: the SecretBackend seam, its three backends, and the keys.

Every secret operation goes through :class:`~kitaru._store.backend.SecretBackend`;
``secret_store`` picks one backend per process and configuration:

- ``sqlite_backend`` / ``local_sqlite``: the embedded store's ``secret`` table,
  read and written directly (no ZenML import);
- ``zenml_backend``: through ZenML's own client (embedded store or server);
- ``rest_backend`` / ``server_upsert``: a server over REST (no ZenML import), and
  the leased upsert both server backends use;
- ``secret_edits``: key removal and rename, through the seam;
- ``validation``: names, keys and values checked before anything is written;
- ``fingerprint_key``: the key of replay fingerprints.

The embedded store's encryption key lives in its config directory, and ZenML's
door opens the store with it, so its file is kept under both wings
(:mod:`kitaru._config.store_key`).

This wing never imports the engine (:mod:`kitaru._run`) nor ZenML's execution
modules; of :mod:`kitaru._zenml` it uses only the door (the client, the server
connection and the store files), to open ZenML's secret store.
"""
