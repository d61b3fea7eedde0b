"""The only package that imports zenml (always inside functions).

Modules:
- ``client``: open ZenML on kitaru's config directory (embedded store or server);
- ``encryption`` / ``keyed_store``: encryption at rest for the embedded store;
- ``secret_store``: exact secret lookups and writes, with ZenML errors mapped to kitaru's;
- ``server``: the server connection made by ``kitaru login``.
"""

KEYED_STORE_CLASS_PATH = "kitaru._zenml.keyed_store.KitaruSqlSecretsStore"
