"""Key names of a server's secrets, kept between commands so a listing costs one request.

ZenML's list of secrets carries no values, hence no key names, so listing them
on a server means reading every secret: one request each, about 10 ms on a
local server and a round trip each on a remote one (20 secrets: 200 ms, most of
a `kitaru secrets list`). A secret's key names change only when it is updated,
which moves its ``updated`` stamp, so names read once are reused while the
stamp stays the same.

ZenML 0.98 commits an update's new stamp first and writes the values in a second
transaction; a read between the two sees the new stamp with the old keys. So
names are kept only if they were read at least SETTLE_S after their stamp (by
the server's clock: the Date of its list answer), and a kept entry is read again
once it is MAX_AGE_S old. Secrets with withheld values are never kept: a change
of permissions moves no stamp.

The file, ``listings/<hash of the URL>.json`` in kitaru's config directory
(directory 0700, file 0600, written atomically), holds secret IDs, stamps and
key names: what ``kitaru secrets list`` prints, never a value.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from kitaru._config import paths, write_private_file

#: How long after its stamp a secret's read keys are trusted (see the module doc).
SETTLE_S = 5.0
#: How long kept key names are reused before the secret is read again.
MAX_AGE_S = 600.0
_FILE_VERSION = 1


def file_for(url: str) -> Path:
    """Where the key names kept for ``url`` are."""
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    return paths().root / "listings" / f"{digest}.json"


def server_time(date_header: str | None) -> float | None:
    """The server's clock from an HTTP Date header (epoch seconds), if it sent one."""
    if not date_header:
        return None
    try:
        return parsedate_to_datetime(date_header).timestamp()
    except (TypeError, ValueError):
        return None


def _stamp_time(stamp: str) -> float | None:
    """A ZenML ``updated`` stamp (ISO, UTC, often without a zone) in epoch seconds."""
    try:
        parsed = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def settled(stamp: str | None, listed_at: float | None) -> bool:
    """Whether keys read after a listing at ``listed_at`` are final for ``stamp``."""
    if stamp is None or listed_at is None:
        return False
    changed = _stamp_time(stamp)
    return changed is not None and listed_at - changed >= SETTLE_S


#: A kept entry: the secret's stamp, its key names, and when they were kept (epoch s).
Entry = tuple[str, tuple[str, ...], float]


def load(url: str) -> dict[str, Entry]:
    """Kept key names for ``url`` by secret ID; entries MAX_AGE_S old are left out."""
    try:
        data = json.loads(file_for(url).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _FILE_VERSION:
        return {}
    now = time.time()
    kept: dict[str, Entry] = {}
    for secret_id, entry in (data.get("secrets") or {}).items():
        with contextlib.suppress(KeyError, TypeError, ValueError):
            stamp, keys, kept_at = entry["updated"], entry["keys"], float(entry["kept_at"])
            fresh = 0 <= now - kept_at < MAX_AGE_S
            if fresh and isinstance(stamp, str) and all(isinstance(k, str) for k in keys):
                kept[str(secret_id)] = (stamp, tuple(keys), kept_at)
    return kept


def save(url: str, entries: Mapping[str, Entry]) -> None:
    """Keep ``entries`` (by secret ID) as the whole file.

    Best effort: a failed write only costs the next listing its reads.
    """
    data = {
        "version": _FILE_VERSION,
        "secrets": {
            secret_id: {"updated": stamp, "keys": list(keys), "kept_at": kept_at}
            for secret_id, (stamp, keys, kept_at) in entries.items()
        },
    }
    with contextlib.suppress(OSError):
        write_private_file(file_for(url), json.dumps(data) + "\n")


def drop(url: str) -> None:
    """Forget the key names kept for ``url`` (``kitaru logout``)."""
    with contextlib.suppress(OSError):
        file_for(url).unlink()
