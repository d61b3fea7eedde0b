"""The runtime scope of one execution: who is running, and what secrets it read.

An :class:`ExecutionScope` is entered when a flow starts and left when it ends;
a :class:`CheckpointScope` when a checkpoint body runs. Both live in
``ContextVar``s, set on entry and reset in ``finally``. Code that hops threads
must carry ``contextvars.copy_context()`` with it (``kitaru._run.bodies``,
``kitaru.checkpoint`` and ``kitaru._zenml.pipelines`` do).

Threads that user code starts inside a body (a ``ThreadPoolExecutor`` worker,
``loop.run_in_executor``, a plain ``threading.Thread``) do not inherit the
context. A secret read in such a thread still belongs to an execution: the
process keeps a registry of the executions running now and the checkpoints
running in each, so the read is audited against the running execution (naming
its checkpoint when only one is running) and its value is guarded like any other.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kitaru.errors import ExecutionCancelledError, KitaruContextError
from kitaru.runtime.reads import LoadedSecret, SecretRead
from kitaru.runtime.redaction import Redactor, process_redactor
from kitaru.runtime.replay import ReplayPlan, RetryPlan, fingerprint

if TYPE_CHECKING:
    from kitaru.runtime.record import CheckpointRecord

_execution: ContextVar[ExecutionScope | None] = ContextVar("kitaru_execution", default=None)
_checkpoint: ContextVar[CheckpointScope | None] = ContextVar("kitaru_checkpoint", default=None)
# Every execution running in this process, whatever thread runs it.
_running: dict[int, ExecutionScope] = {}
_running_lock = threading.Lock()


@dataclass
class CheckpointScope:
    """The checkpoint body currently running."""

    name: str
    invocation_id: str
    attempt: int = 1


@dataclass
class ExecutionScope:
    """State of one flow execution: secret cache, read audit, recorded events.

    ``redactor`` is the process-wide one (:func:`process_redactor`): a value
    read anywhere in the process is guarded in every execution.
    """

    flow_name: str
    execution_id: str
    fetch_secret: Callable[[str], LoadedSecret]
    # The HMAC key of argument fingerprints (see replay.py), given by the engine that
    # starts the execution: the key lives with the store, which the runtime does not
    # import. Called at each checkpoint call, so a flow without one never reads it.
    fingerprint_key: Callable[[], bytes]
    redactor: Redactor = field(default_factory=process_redactor)
    reads: list[SecretRead] = field(default_factory=list)
    backend_reads: int = 0
    checkpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Recorded events (e.g. LLM calls), already redacted, and the model registry
    # snapshot taken when the flow started (names only).
    events: list[dict[str, Any]] = field(default_factory=list)
    model_registry: dict[str, Any] | None = None
    # Set when this execution replays another: what may be reused (see replay.py).
    replay: ReplayPlan | None = None
    # Set when this execution continues itself after a crash or failure (a retry).
    retry: RetryPlan | None = None
    # Futures of submitted checkpoints; the flow collects them before it ends.
    futures: list[Any] = field(default_factory=list)
    # Set when someone cancelled this execution: no further checkpoint starts.
    stop_requested: threading.Event = field(default_factory=threading.Event)
    # Set once this execution warned that isolated checkpoints run inline here.
    warned_inline_isolated: bool = False
    _counters: dict[str, int] = field(default_factory=dict)
    _cache: dict[str, LoadedSecret] = field(default_factory=dict)
    _read_index: dict[tuple[str, tuple[str, ...], str | None], SecretRead] = field(
        default_factory=dict
    )
    # The same reads per checkpoint call, for that call's own record.
    _call_reads: dict[str, dict[tuple[str, tuple[str, ...]], SecretRead]] = field(
        default_factory=dict
    )
    # Checkpoint bodies running now (in any thread), for reads made outside the context.
    _active: list[CheckpointScope] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Held while a secret is fetched, so slow store reads never block checkpoint calls.
    _secret_lock: threading.Lock = field(default_factory=threading.Lock)

    def next_invocation_id(
        self, name: str, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> str:
        """``name`` for the first call of a checkpoint, then ``name_2``, ``name_3``, ...

        Also fingerprints the call's arguments and, in a replay, checks that the
        original call with this ID matches (raises ``ReplayError`` if not).
        """
        if self.stop_requested.is_set():
            raise ExecutionCancelledError(self.execution_id)
        with self._lock:
            n = self._counters.get(name, 0) + 1
            self._counters[name] = n
        invocation_id = name if n == 1 else f"{name}_{n}"
        args_hash = fingerprint(args, kwargs or {}, self.fingerprint_key())
        plan = self.retry or self.replay
        reused = plan.check(invocation_id, name, args_hash) if plan is not None else False
        self.checkpoints[invocation_id] = {
            "id": invocation_id,
            "name": name,
            "attempts": 0,
            "args_hash": args_hash,
            "reused": reused,
        }
        return invocation_id

    def output_of(self, invocation_id: str, value: Any) -> Any:
        """What a call returns: its output, or the replacement a replay asked for."""
        return self.replay.output_for(invocation_id, value) if self.replay else value

    def record_attempt(self, invocation_id: str, error: BaseException | None) -> None:
        """Count one attempt of a checkpoint (and the error type if it failed)."""
        rec = self.checkpoints.setdefault(invocation_id, {"id": invocation_id, "attempts": 0})
        rec["attempts"] = int(rec.get("attempts", 0)) + 1
        if error is not None:
            rec.setdefault("errors", []).append(type(error).__name__)

    def call_record(
        self, invocation_id: str, started: float, error: BaseException | None
    ) -> CheckpointRecord:
        """The typed record of a checkpoint call that just ended (reads, LLM calls, attempts)."""
        from kitaru.runtime.record import CheckpointRecord  # pydantic: not at import

        rec = self.checkpoints.get(invocation_id, {})
        with self._lock:
            reads = list(self._call_reads.pop(invocation_id, {}).values())
            calls = tuple(e for e in self.events if e.get("checkpoint") == invocation_id)
        text = None
        if error is not None:
            text = self.redactor.redact(f"{type(error).__name__}: {error}")[:2000]
        return CheckpointRecord(
            id=invocation_id,
            name=str(rec.get("name", invocation_id)),
            status="failed" if error is not None else "completed",
            attempts=max(1, int(rec.get("attempts", 1))),
            args_hash=rec.get("args_hash"),
            errors=tuple(rec.get("errors", ())),
            error=text,
            started=started,
            ended=time.time(),
            secret_reads=tuple(r.to_record() for r in reads),
            llm_calls=calls,
        )

    def secret_loader(self, ref: str) -> Callable[[], LoadedSecret]:
        """A loader that reads ``ref`` from the store once per execution."""

        def load() -> LoadedSecret:
            cached = self._cache.get(ref)
            if cached is not None:
                return cached
            with self._secret_lock:
                cached = self._cache.get(ref)
                if cached is None:
                    cached = self.fetch_secret(ref)
                    self.backend_reads += 1
                    self._cache[ref] = cached
                    self._cache[cached.id] = cached
                    self._cache[cached.name] = cached
            return cached

        return load

    def forget_changed(self, updated_of: Callable[[str], Any]) -> int:
        """Drop cached secrets whose store copy changed since they were read (rotation).

        ``updated_of(secret_id)`` returns the store's last-change stamp (metadata
        only, no values). Returns how many secrets were dropped.
        """
        with self._secret_lock:
            cached = {id(s): s for s in self._cache.values()}.values()
        stale = set()
        for stored in cached:
            try:
                changed = updated_of(stored.id) != getattr(stored, "updated", None)
            except Exception:  # noqa: BLE001 - cannot tell: read afresh to be safe
                changed = True
            if changed:
                stale.add(id(stored))
        if stale:
            with self._secret_lock:
                for key in [k for k, v in self._cache.items() if id(v) in stale]:
                    del self._cache[key]
        return len(stale)

    def checkpoint_of_this_thread(self) -> CheckpointScope | None:
        """The checkpoint a secret read or LLM call made in this thread belongs to.

        The one in context; in a thread that has no kitaru context (one started
        inside a body), the only checkpoint running, if there is one.
        """
        cp = _checkpoint.get()
        if cp is not None or _execution.get() is self:
            return cp
        with self._lock:
            names = {c.name for c in self._active}
            return self._active[0] if len(names) == 1 else None

    def record_secret_read(self, secret: str, keys: tuple[str, ...]) -> None:
        """Record that ``keys`` of ``secret`` were read (names only).

        A read from a thread that has no kitaru context (one started inside a
        body) is attributed to the only checkpoint running, if there is one.
        """
        cp = self.checkpoint_of_this_thread()
        now = time.time()
        with self._lock:
            where = cp.name if cp is not None else None
            if cp is not None:
                calls = self._call_reads.setdefault(cp.invocation_id, {})
                own = calls.get((secret, keys))
                if own is None:
                    calls[(secret, keys)] = SecretRead(secret, keys, where, now)
                else:
                    own.count += 1
                    own.last_at = now
            entry = self._read_index.get((secret, keys, where))
            if entry is not None:
                entry.count += 1
                entry.last_at = now
                return
            entry = SecretRead(secret, keys, where, now)
            self._read_index[(secret, keys, where)] = entry
            self.reads.append(entry)


def current_execution_or_none() -> ExecutionScope | None:
    """The running execution's scope, or None outside a flow."""
    return _execution.get()


def current_checkpoint_or_none() -> CheckpointScope | None:
    """The running checkpoint's scope, or None outside a checkpoint body."""
    return _checkpoint.get()


def execution_of_this_thread() -> ExecutionScope | None:
    """The execution a secret read or LLM call belongs to: the current one, else the only one.

    The second case is a thread started inside a flow or checkpoint body, which
    does not inherit the context. None when no execution (or several) run.
    """
    scope = _execution.get()
    if scope is not None:
        return scope
    with _running_lock:
        running = list(_running.values())
    return running[0] if len(running) == 1 else None


def record_read_outside_flow(secret: str, keys: tuple[str, ...]) -> None:
    """Audit a read made outside any execution context against every running execution.

    With no execution running this records nothing (the values are still
    remembered process-wide by :class:`~kitaru.Secret`).
    """
    with _running_lock:
        running = list(_running.values())
    for scope in running:
        scope.record_secret_read(secret, keys)


def require_execution() -> ExecutionScope:
    """The running execution's scope; raises outside a flow."""
    scope = _execution.get()
    if scope is None:
        raise KitaruContextError("Not inside a kitaru flow: call this from a @flow or @checkpoint.")
    return scope


@dataclass(frozen=True)
class ExecutionInfo:
    """Read-only view of where user code is running."""

    flow_name: str
    execution_id: str
    checkpoint_name: str | None
    checkpoint_id: str | None
    attempt: int | None


def execution_info() -> ExecutionInfo:
    """The current execution as an :class:`ExecutionInfo`; raises outside a flow."""
    scope = require_execution()
    cp = _checkpoint.get()
    return ExecutionInfo(
        flow_name=scope.flow_name,
        execution_id=scope.execution_id,
        checkpoint_name=cp.name if cp else None,
        checkpoint_id=cp.invocation_id if cp else None,
        attempt=cp.attempt if cp else None,
    )


def in_flow() -> bool:
    """True inside a running flow (its body or any of its checkpoints)."""
    return _execution.get() is not None


def in_checkpoint() -> bool:
    """True inside a running checkpoint body."""
    return _checkpoint.get() is not None


def refuse_nested_flow(flow_name: str) -> None:
    """Raise :class:`KitaruContextError` if a flow runs in this context: flows do not nest."""
    outer = _execution.get()
    if outer is not None:
        raise KitaruContextError(
            f"Flow {flow_name!r} was started inside running flow {outer.flow_name!r}; "
            "flows cannot be nested. Call it from outside any flow, or make the inner "
            "function a checkpoint."
        )


def execution_for_checkpoint(name: str) -> ExecutionScope:
    """The execution a call of checkpoint ``name`` runs in.

    Refused (:class:`KitaruContextError`) outside a flow and inside another checkpoint.
    """
    execution = _execution.get()
    if execution is None:
        raise KitaruContextError(
            f"Checkpoint {name!r} was called outside a flow. Call it from the body "
            "of a @flow function (or call the undecorated function directly)."
        )
    outer = _checkpoint.get()
    if outer is not None:
        raise KitaruContextError(
            f"Checkpoint {name!r} was called inside checkpoint {outer.name!r}. "
            "Checkpoints cannot be nested: call both from the flow body."
        )
    return execution


@contextlib.contextmanager
def execution_scope(scope: ExecutionScope) -> Iterator[ExecutionScope]:
    """Enter ``scope`` for the current context; a second enter is refused."""
    refuse_nested_flow(scope.flow_name)
    token = _execution.set(scope)
    with _running_lock:
        _running[id(scope)] = scope
    try:
        yield scope
    finally:
        with _running_lock:
            _running.pop(id(scope), None)
        _execution.reset(token)


@contextlib.contextmanager
def checkpoint_scope(scope: CheckpointScope) -> Iterator[CheckpointScope]:
    """Enter a checkpoint body; refused outside a flow or inside another checkpoint."""
    execution = execution_for_checkpoint(scope.name)
    token = _checkpoint.set(scope)
    with execution._lock:
        execution._active.append(scope)
    try:
        yield scope
    finally:
        with execution._lock:
            execution._active.remove(scope)
        _checkpoint.reset(token)
