"""A checkpoint's printed and logged output in its step's Logs tab on ZenML's dashboard.

kitaru keeps its redacted copy of what a checkpoint wrote (see
``kitaru.runtime.capture``). When a server is in use, that copy is also written
as a ZenML log file to the stack's artifact store and attached to the step run,
where the dashboard's Logs tab reads it (a server started by ``kitaru login
--local`` may read the local artifact store). With the embedded store there is
no dashboard, so nothing is written: the cost stays off.

Each line becomes one JSON log entry in ZenML's format (levels as numbers, as
ZenML's ``LoggingLevels`` parses them); a line kitaru captured
from ``logging`` (``LEVEL logger: message``) keeps its level and logger name.
"""

from __future__ import annotations

import json
import logging
import posixpath
import re
import uuid
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger("kitaru")

_LOGGED = re.compile(r"(DEBUG|INFO|WARNING|ERROR|CRITICAL) ([\w.\-]+): (.*)\Z", re.DOTALL)


def log_entries(text: str, when: datetime | None = None) -> list[dict[str, Any]]:
    """``text`` as ZenML log entries (one per non-empty line), oldest first."""
    stamp = (when or datetime.now(UTC)).isoformat()
    entries = []
    for line in text.splitlines():
        if not line.strip():
            continue
        entry: dict[str, Any] = {"message": line, "level": logging.INFO, "timestamp": stamp}
        m = _LOGGED.match(line)
        if m:
            level = int(getattr(logging, m.group(1)))
            entry.update(level=level, name=m.group(2), message=m.group(3))
        entries.append(entry)
    return entries


def attach_output(step_run_id: str, metadata: dict[str, Any]) -> bool:
    """Show the output kept in a checkpoint record's metadata in the step's Logs tab."""
    from kitaru.runtime.record import OUTPUT_CARD

    card = metadata.get(OUTPUT_CARD)
    text = card.get("output") if isinstance(card, dict) else None
    return attach(step_run_id, text) if isinstance(text, str) else False


def attach(step_run_id: str, text: str) -> bool:
    """Show ``text`` (already redacted) in the step's Logs tab; True if it was attached.

    Only with a server; a failure here never fails the checkpoint (kitaru's own
    copy is kept either way).
    """
    from kitaru._config.connection import server_url

    if not server_url() or not text.strip():
        return False
    try:
        _write_and_attach(step_run_id, text)
    except Exception as exc:  # noqa: BLE001 - the Logs tab is a view, not the record
        logger.debug("Could not attach a checkpoint's output to its step: %s", type(exc).__name__)
        return False
    return True


def _write_and_attach(step_run_id: str, text: str) -> None:
    from kitaru._zenml.client import get_client

    client = get_client()
    from zenml.log_stores.artifact.artifact_log_store import ArtifactLogStore, prepare_logs_uri
    from zenml.models import LogsRequest, StepRunUpdate

    stack = client.active_stack
    if stack.log_store is not None and not isinstance(stack.log_store, ArtifactLogStore):
        return  # a log store of its own (Datadog, OTel): not written by kitaru
    store = stack.artifact_store
    log_id = uuid.uuid4()
    uri = prepare_logs_uri(artifact_store=store, log_id=log_id)
    body = "".join(json.dumps(e) + "\n" for e in log_entries(text))
    folder = posixpath.dirname(uri)
    if not store.exists(folder):
        store.makedirs(folder)
    with store.open(uri, "w") as fh:
        fh.write(body)
    request = LogsRequest(
        id=log_id,
        project=client.active_project.id,
        source="step",
        uri=uri,
        artifact_store_id=store.id,
    )
    client.zen_store.update_run_step(uuid.UUID(step_run_id), StepRunUpdate(add_logs=[request]))
