"""ZenML SQL secrets store that takes its AES-GCM key from kitaru's key file.

ZenML loads this class by path (``type: custom``) when it opens kitaru's
embedded store; ZenML's ``config.yaml`` therefore holds the class path, never the
key. Everything else (schema, encryption format) is ZenML's own SQL secrets store.

The key file is found next to the database this store encrypts, not through
``KITARU_CONFIG_PATH``: a plain ``zenml`` process pointed at kitaru's ZenML
directory must use (or fail on) kitaru's key, never create a second key in some
other directory and write secrets with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from zenml.config.secrets_store_config import SecretsStoreConfiguration
from zenml.enums import SecretsStoreType
from zenml.zen_stores.secrets_stores.sql_secrets_store import SqlSecretsStore

from kitaru._config import Paths, paths
from kitaru._config.store_key import (
    has_fingerprint,
    load_or_create_key,
    record_fingerprint,
    wrong_key_error,
)


def store_paths(zen_store: Any) -> Paths:
    """kitaru's :class:`Paths` for the SQLite database ``zen_store`` opened."""
    database = getattr(getattr(zen_store, "config", None), "database", None)
    if database:
        db = Path(str(database)).expanduser().resolve()
        if len(db.parents) > 3:
            candidate = Paths(db.parents[3])
            if candidate.local_store_db == db:
                return candidate
    return paths()


class KitaruSqlSecretsStore(SqlSecretsStore):
    """SQL secrets store keyed by ``secrets.key`` in kitaru's config directory."""

    config: SecretsStoreConfiguration  # type: ignore[assignment]
    TYPE: ClassVar[SecretsStoreType] = SecretsStoreType.CUSTOM
    CONFIG_TYPE: ClassVar[type[SecretsStoreConfiguration]] = SecretsStoreConfiguration

    def _initialize(self) -> None:
        from sqlalchemy_utils.types.encrypted.encrypted_type import AesGcmEngine

        p = store_paths(self.zen_store)
        key = load_or_create_key(p)
        engine = AesGcmEngine()
        engine._update_key(key)
        self._check_against_stored_secret(p, engine)
        if not has_fingerprint(p):
            record_fingerprint(p, key)
        self._encryption_engine = engine

    def _check_against_stored_secret(self, p: Paths, engine: Any) -> None:
        """Refuse a key that cannot decrypt the newest stored secret.

        The fingerprint catches a swapped key file; this also catches a key file
        swapped together with its fingerprint, or one whose fingerprint was lost.
        """
        from sqlmodel import Session, select
        from zenml.zen_stores.schemas.secret_schemas import SecretDecodeError, SecretSchema

        with Session(self.zen_store.engine) as session:
            stored = session.exec(
                select(SecretSchema.values)
                .where(SecretSchema.values.is_not(None))  # type: ignore[union-attr]
                .order_by(SecretSchema.created.desc())  # type: ignore[attr-defined]
                .limit(1)
            ).first()
        if stored is None:
            return
        try:
            SecretSchema._load_secret_values(stored, engine)
        except SecretDecodeError:
            raise wrong_key_error(
                p, "written with (its newest secret cannot be decrypted)"
            ) from None
