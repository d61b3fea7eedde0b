"""ZenML SQL secrets store that takes its AES-GCM key from kitaru's key file.

ZenML loads this class by path (``type: custom``) when it opens kitaru's
embedded store; ZenML's ``config.yaml`` therefore holds the class path, never the
key. Everything else (schema, encryption format) is ZenML's own SQL secrets store.
"""

from __future__ import annotations

from typing import Any, ClassVar

from zenml.config.secrets_store_config import SecretsStoreConfiguration
from zenml.enums import SecretsStoreType
from zenml.zen_stores.secrets_stores.sql_secrets_store import SqlSecretsStore

from kitaru._zenml.encryption import load_or_create_key

CLASS_PATH = "kitaru._zenml.keyed_store.KitaruSqlSecretsStore"


class KitaruSqlSecretsStore(SqlSecretsStore):
    """SQL secrets store keyed by ``secrets.key`` in kitaru's config directory."""

    config: SecretsStoreConfiguration  # type: ignore[assignment]
    TYPE: ClassVar[SecretsStoreType] = SecretsStoreType.CUSTOM
    CONFIG_TYPE: ClassVar[type[SecretsStoreConfiguration]] = SecretsStoreConfiguration

    def _initialize(self) -> None:
        from sqlalchemy_utils.types.encrypted.encrypted_type import AesGcmEngine

        engine = AesGcmEngine()
        engine._update_key(load_or_create_key())
        self._encryption_engine = engine

    def __init__(self, zen_store: Any, **kwargs: Any) -> None:
        super().__init__(zen_store, **kwargs)
