"""The dashboard files a local server started by kitaru serves: ZenML's, with three edits.

ZenML's server serves its dashboard from ``ZENML_SERVER_DASHBOARD_FILES_PATH``
when set. For ``kitaru login --local`` kitaru prepares such a directory next to
the server's own config: every file of ZenML's dashboard, hard-linked (copied
where links are not possible), except the two bundles it changes:

- the header's login command: ZenML's dashboard suggests ``zenml login --local``
  to a local server, which would point a kitaru user at ZenML's own store;
  it reads ``kitaru login --local`` (``kitaru login URL`` for another server);
- the runs list: ZenML 0.98's list shows neither a run's duration nor its
  original run, and renders no metadata or tags either, so two columns are
  added, *Duration* (from the run's start and end time, which the list then
  asks the server for with ``hydrate``) and *Replayed from* (the original
  run's short ID, linked to its page).

Each edit replaces an exact text of ZenML 0.98.0's bundles. If a bundle does not
hold it (another ZenML build), that edit is left out and the file is served as
ZenML ships it: the dashboard keeps working, without kitaru's edit.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ENV_VAR = "ZENML_SERVER_DASHBOARD_FILES_PATH"

_LOGIN_OLD = (
    "case`local`:return`zenml login --local`;"
    "case`docker`:return`zenml login --local --docker`;"
    "default:return`zenml login ${window.location.origin}`"
)
_LOGIN_NEW = (
    "case`local`:return`kitaru login --local`;"
    "case`docker`:return`kitaru login --local`;"
    "default:return`kitaru login ${window.location.origin}`"
)
# In the runs list bundle: the column list (``M`` renders, ``f`` links, ``l`` routes).
_COLUMNS_OLD = "{key:`created-at`,label:`Created at`"
_COLUMNS_NEW = (
    "{key:`kitaru-duration`,label:`Duration`,defaultVisible:!0,defaultWidth:110,"
    "render:e=>{let s=Date.parse(e.metadata?.start_time??``),"
    "t=Date.parse(e.metadata?.end_time??``);"
    "if(isNaN(s)||isNaN(t))return null;let d=Math.max(0,(t-s)/1e3);"
    "return(0,M.jsx)(`span`,{className:`whitespace-nowrap`,"
    'children:d<60?d.toFixed(1)+"s":Math.floor(d/60)+"m "+Math.round(d%60)+"s"})}},'
    "{key:`kitaru-replayed-from`,label:`Replayed from`,defaultVisible:!0,defaultWidth:150,"
    "render:e=>{let o=e.resources?.original_run;"
    "return o?(0,M.jsx)(f,{to:l.projects.runs.detail(o.id),"
    'className:`text-primary-text whitespace-nowrap`,children:o.id.split("-")[0]}):null}},'
    + _COLUMNS_OLD
)
_QUERY_OLD = "sort_by:`desc:updated`,...e}"
_QUERY_NEW = "sort_by:`desc:updated`,hydrate:!0,...e}"

# (bundle name prefix, [(old, new), ...])
_EDITS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("index-", ((_LOGIN_OLD, _LOGIN_NEW),)),
    ("RunsBody-", ((_COLUMNS_OLD, _COLUMNS_NEW), (_QUERY_OLD, _QUERY_NEW))),
)


def zenml_dashboard() -> Path:
    """ZenML's own dashboard files (shipped in its server package)."""
    import zenml.zen_server

    return Path(str(zenml.zen_server.__file__)).parent / "dashboard"


def _place(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or no hard links here
        shutil.copy2(src, dst)


def _edited(path: Path) -> str | None:
    """``path``'s text with kitaru's edits, or None if it is not a bundle kitaru edits."""
    for prefix, edits in _EDITS:
        if path.name.startswith(prefix) and path.suffix == ".js":
            text = path.read_text(encoding="utf-8")
            changed = text
            for old, new in edits:
                if changed.count(old) == 1:
                    changed = changed.replace(old, new)
            return changed if changed != text else None
    return None


def prepare(target: Path) -> Path:
    """Fill ``target`` (emptied first) with the dashboard kitaru's local server serves."""
    source = zenml_dashboard()
    if target.exists():
        shutil.rmtree(target)
    for folder, _dirs, files in os.walk(source):
        rel = Path(folder).relative_to(source)
        (target / rel).mkdir(parents=True, exist_ok=True)
        for name in files:
            src = Path(folder) / name
            edited = _edited(src)
            if edited is None:
                _place(src, target / rel / name)
            else:
                (target / rel / name).write_text(edited, encoding="utf-8")
    return target
