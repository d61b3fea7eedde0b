"""Secrets SDK: create, read, update, list and delete secrets in kitaru's store.

Lookups are exact (full name or full ID). Write helpers return
:class:`SecretSummary`, a frozen metadata-only model that never holds a value.
Inside a flow or checkpoint, :func:`get_secret` returns a lazy :class:`Secret`
whose values are fetched on first use and cached for that execution.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, KeysView, Mapping, ValuesView
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from pydantic import BaseModel, ConfigDict

from kitaru import runtime
from kitaru._store import validation as check
from kitaru.errors import MissingSecretKeyError, SecretUnavailableError

if TYPE_CHECKING:
    from kitaru._store.backend import ListedSecret, SecretBackend, StoredSecret
    from kitaru.runtime.reads import LoadedSecret

__all__ = [
    "Secret",
    "SecretRef",
    "SecretSetResult",
    "SecretSummary",
    "create_secret",
    "delete_secret",
    "get_secret",
    "list_secrets",
    "secret_ref",
    "set_secret",
]

Visibility = Literal["public", "private"]
_T = TypeVar("_T")


class SecretSummary(BaseModel):
    """Metadata of a secret: name, ID, visibility and key names. Never a value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    id: str
    private: bool
    keys: tuple[str, ...] = ()
    unavailable_keys: tuple[str, ...] = ()
    owner: str | None = None

    @property
    def visibility(self) -> Visibility:
        """``"private"`` or ``"public"``."""
        return "private" if self.private else "public"


class SecretSetResult(BaseModel):
    """What :func:`set_secret` (and ``kitaru secrets set``) did. Never a value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    secret: SecretSummary
    action: Literal["created", "updated"]
    keys_set: tuple[str, ...]
    private_requested_but_kept_public: bool = False


def _summary(stored: StoredSecret | ListedSecret) -> SecretSummary:
    return SecretSummary(
        name=stored.name,
        id=stored.id,
        private=stored.private,
        keys=stored.keys,
        unavailable_keys=stored.unavailable_keys,
        owner=stored.owner,
    )


ReadHook = Callable[[str, tuple[str, ...]], None]


class SecretValues(dict[str, str]):
    """A copy of a secret's readable values: a plain ``dict``, also callable.

    ``secret.values`` is this dict; ``secret.values()`` returns its values view,
    as ``Mapping.values()`` does, so code written for any mapping works too.
    """

    def __call__(self) -> ValuesView[str]:
        return dict.values(self)


class SecretKeys(tuple[str, ...]):
    """A secret's key names: a plain ``tuple``, also callable.

    ``secret.keys`` is this tuple (as it always was); ``secret.keys()`` returns a
    set-like keys view, as ``Mapping.keys()`` does, which is what ``dict(secret)``
    and ``{**secret}`` call.
    """

    def __call__(self) -> KeysView[str]:
        return dict.fromkeys(self).keys()


class Secret(Mapping[str, str]):
    """A secret's values, loaded from the store on first use: a read-only mapping.

    ``secret["KEY"]``, ``secret.get("KEY")``, ``dict(secret)``, ``{**secret}`` and
    ``os.environ | secret`` all work; each value read counts as a read of that
    key (audited inside a flow, and known to the leak guard). ``values`` holds
    the readable keys; keys the store would not return to the current user are
    listed in ``unavailable_keys`` and raise
    :class:`~kitaru.errors.SecretUnavailableError` when read. ``repr`` and
    ``str`` never show values, and a ``Secret`` refuses to be pickled, so it
    cannot end up in a stored artifact by accident. It cannot be changed.
    """

    __slots__ = ("_data", "_loader", "_on_read", "_ref")

    def __init__(
        self,
        ref: str,
        loader: Callable[[], LoadedSecret],
        on_read: ReadHook | None = None,
        *,
        loaded: LoadedSecret | None = None,
    ) -> None:
        self._ref = ref
        self._loader = loader
        self._on_read = on_read
        self._data: LoadedSecret | None = loaded

    def _load(self) -> LoadedSecret:
        if self._data is None:
            self._data = self._loader()
        return self._data

    def _record(self, values: dict[str, str]) -> None:
        # Only values actually handed out are remembered by the leak guard.
        name = self.name
        runtime.remember_resolved(name, values)
        if self._on_read is not None:
            self._on_read(name, tuple(sorted(values)))

    @property
    def name(self) -> str:
        """The secret's name."""
        if self._data is None and check.parse_full_uuid(self._ref) is None:
            return self._ref
        return str(self._load().name)

    @property
    def id(self) -> str:
        """The secret's full ID."""
        return str(self._load().id)

    @property
    def private(self) -> bool:
        """True if only its owner can see it."""
        return bool(self._load().private)

    @property  # a tuple that is also callable: see SecretKeys
    def keys(self) -> SecretKeys:
        """All key names, readable or not (reading names is not a read of values)."""
        return SecretKeys(self._load().keys)

    @property
    def unavailable_keys(self) -> tuple[str, ...]:
        """Keys whose values the store did not return to the current user."""
        return tuple(self._load().unavailable_keys)

    @property  # a dict that is also callable: see SecretValues
    def values(self) -> SecretValues:
        """A copy of all readable values (raw credentials: do not log or return them)."""
        data = self._load()
        out = SecretValues({k: v for k, v in data.values.items() if v is not None})
        self._record(out)
        return out

    @overload
    def get(self, key: str) -> str | None: ...
    @overload
    def get(self, key: str, default: str) -> str: ...
    @overload
    def get(self, key: str, default: _T) -> str | _T: ...

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` if the secret has no such key.

        Raises:
            SecretUnavailableError: the key exists but its value was withheld.
        """
        data = self._load()
        if key not in data.values:
            return default
        value = data.values[key]
        if value is None:
            raise SecretUnavailableError(self.name, key)
        self._record({key: str(value)})
        return str(value)

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise MissingSecretKeyError(self.name, key)
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._load().values

    def __iter__(self) -> Iterator[str]:
        # Iterating is how code reads every key: it counts as reading them all.
        _ = self.values
        return iter(self.keys)

    def __len__(self) -> int:
        return len(self._load().keys)

    def __repr__(self) -> str:
        if self._data is None:
            return f"Secret(name={self._ref!r}, values=<not loaded>)"
        d = self._data
        vis = "private" if d.private else "public"
        return f"Secret(name={d.name!r}, id={d.id!r}, {vis}, keys={list(d.keys)!r}, values=***)"

    __str__ = __repr__

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError(
            f"Secret {self._ref!r} cannot be pickled or stored: keep secrets out of "
            "checkpoint outputs and pass the secret's name instead."
        )


def _backend() -> SecretBackend:
    from kitaru._store.secret_store import backend

    return backend()


def _warn_start_changing(name: str, keys: list[str]) -> None:
    if keys:
        warnings.warn(check.start_changing_warning(name, keys), UserWarning, stacklevel=3)


def create_secret(
    name: str, values: Mapping[str, str], *, private: bool = False, force: bool = False
) -> SecretSummary:
    """Create a secret (public by default) and return its metadata.

    A key that changes how a process starts (``PATH``, ``LD_*``, ``PYTHON*``,
    ``KITARU_*``, ...) is stored only with ``force=True``, and warns.

    Raises:
        InvalidSecretError: bad name, key or value, a ``private`` or ``force`` that
            is not a bool, or a start-changing key without ``force``; nothing is written.
        SecretExistsError: a secret with this name already exists in that scope.
    """
    name = check.validate_name(name)
    clean = check.validate_values(values, secret=name)
    private = check.validate_private(private)
    risky = check.check_start_changing(clean, force=force, secret=name)
    summary = _summary(_backend().create(name, clean, private=private))
    _warn_start_changing(name, risky)
    return summary


def set_secret(
    name: str, values: Mapping[str, str], *, private: bool = False, force: bool = False
) -> SecretSetResult:
    """Create the secret if missing, else add or overwrite the given keys.

    An existing secret keeps its other keys and its visibility; ``private`` only
    applies when the secret is created. Same semantics as ``kitaru secrets set``,
    ``force=True`` included (needed for keys that change how a process starts).
    """
    name = check.validate_name(name)
    clean = check.validate_values(values, secret=name)
    private = check.validate_private(private)
    risky = check.check_start_changing(clean, force=force, secret=name)
    done = _backend().upsert(name, clean, private=private)
    _warn_start_changing(name, risky)
    return SecretSetResult(
        secret=_summary(done.secret),
        action=done.action,
        keys_set=tuple(sorted(clean)),
        private_requested_but_kept_public=done.private_requested_but_kept_public,
    )


def get_secret(name_or_id: str) -> Secret:
    """Look up a secret by exact name or full ID.

    Outside a flow the values are read now; inside a flow or checkpoint they are
    read on first use and cached for the execution, and every read is audited.
    Called while a module is being imported, it raises
    :class:`~kitaru.errors.ImportTimeSecretError`.

    Raises:
        SecretNotFoundError: no visible secret has exactly this name or ID.
    """
    ref = check.validate_ref(name_or_id)
    runtime.refuse_at_import_time(ref)
    scope = runtime.execution_of_this_thread()
    if scope is not None:
        return Secret(ref, scope.secret_loader(ref), scope.record_secret_read)
    stored = _backend().get(ref)
    # Already read: repr shows name, ID and keys.
    return Secret(ref, lambda: stored, runtime.record_read_outside_flow, loaded=stored)


def delete_secret(name_or_id: str) -> SecretSummary:
    """Delete a secret (exact name or full ID) and return what it was.

    Raises:
        SecretNotFoundError: no visible secret has exactly this name or ID.
    """
    ref = check.validate_ref(name_or_id)
    return _summary(_backend().delete_ref(ref))


def list_secrets() -> list[SecretSummary]:
    """Metadata of every secret the current user can see, sorted by name."""
    return [_summary(s) for s in _backend().list()]


class SecretRef:
    """A lazy reference to a secret, safe to create at module level.

    ``GITHUB = kitaru.secret_ref("github-creds")`` stores only the name. Reading it
    (``.get``, ``.values``, ``.resolve()``) works only inside a running flow or
    checkpoint; anywhere else it raises
    :class:`~kitaru.errors.ImportTimeSecretError`.
    """

    __slots__ = ("name_or_id",)

    def __init__(self, name_or_id: str) -> None:
        self.name_or_id = check.validate_ref(name_or_id)

    def resolve(self) -> Secret:
        """The :class:`Secret` for the current execution."""
        return self._resolve(depth=3)

    def _resolve(self, depth: int) -> Secret:
        import sys

        from kitaru.errors import ImportTimeSecretError

        runtime.refuse_at_import_time(self.name_or_id, depth=depth)
        scope = runtime.execution_of_this_thread()
        if scope is None:
            frame = sys._getframe(depth - 1)
            raise ImportTimeSecretError(
                self.name_or_id,
                module=str(frame.f_globals.get("__name__", "?")),
                filename=frame.f_code.co_filename,
                lineno=frame.f_lineno,
                outside_flow=True,
            )
        return Secret(
            self.name_or_id, scope.secret_loader(self.name_or_id), scope.record_secret_read
        )

    def get(self, key: str, default: str | None = None) -> str | None:
        """``resolve().get(key, default)``."""
        return self._resolve(depth=3).get(key, default)

    @property
    def values(self) -> dict[str, str]:
        """``resolve().values``."""
        return self._resolve(depth=3).values

    def __repr__(self) -> str:
        return f"SecretRef({self.name_or_id!r})"


def secret_ref(name_or_id: str) -> SecretRef:
    """A lazy :class:`SecretRef` to ``name_or_id``; nothing is read until used in a flow."""
    return SecretRef(name_or_id)
