"""What ZenML records as a step's and a run's code: the user's, not kitaru's wrappers.

Every inline checkpoint runs as ZenML step ``kitaru_checkpoint`` and every flow
as pipeline ``kitaru_flow``, so ZenML would record those wrappers' source for
the dashboard's Code tabs, point "Go to error" at a wrapper line and keep
kitaru's and ZenML's frames in a failed step's traceback. :func:`install`, run
when this module is first imported (by ``pipelines``, before any flow starts),
changes three places of ZenML in this process, lets small outputs be viewed
(see ``output_views``), shows where a replay's reused checkpoint came from
(see ``reused_steps``) and makes new records name kitaru's public import paths
(see ``stored_paths``):

- the docstring and source code recorded with a step run: for a checkpoint,
  inline or isolated, its user function (noted for the call by
  :func:`note_source`, found by run and invocation ID when the flow's process
  creates the step run);
- the source code recorded with a flow's snapshot: the flow function;
- the exception info of a failed step or run: the line is counted from the
  start of the outermost user function in the traceback (the one the Code tab
  shows), the body's own (redacted) error stands for kitaru's stand-in, and
  frames of kitaru and ZenML are dropped (``KITARU_DEBUG=1`` keeps them).

Source text is read once per function (memoised). Nothing else changes.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kitaru._config import per_process_cache
from kitaru._zenml.stored_paths import STEP_PATHS

# The flow entry as a function of this process: its own module, not the path that
# records name (see ``stored_paths``).
_FLOW_ENTRY = ("kitaru._zenml.pipelines", "kitaru_flow")

_sources: OrderedDict[str, Callable[..., Any]] = OrderedDict()
_lock = threading.Lock()
_installed = False


# ------------------------------------------------------------ calls' functions

# The function of each recent checkpoint call, by "execution/invocation". ZenML
# reads it right after it is noted (when it creates the step run), so a bounded
# table is enough and nothing has to be removed when the call ends.
_MAX_NOTED = 4096


def note_source(execution_id: str, invocation_id: str, source: Callable[..., Any]) -> None:
    """Note the user's function of checkpoint call ``invocation_id`` of ``execution_id``."""
    with _lock:
        _sources[f"{execution_id}/{invocation_id}"] = source
        while len(_sources) > _MAX_NOTED:
            _sources.popitem(last=False)


# ------------------------------------------------------------------ source text


def unwrapped(target: Any) -> Any:
    """The plain function behind a kitaru decorator (wrapt keeps it in ``__wrapped__``)."""
    seen = 0
    while hasattr(target, "__wrapped__") and seen < 10:
        target = target.__wrapped__
        seen += 1
    return target


@per_process_cache
@functools.lru_cache(maxsize=512)
def _text(fn: Any) -> tuple[str | None, str | None]:
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        source = None
    return inspect.getdoc(fn), source


def docstring_and_source(fn: Any) -> tuple[str | None, str | None]:
    """``fn``'s docstring and source (None where they cannot be read)."""
    try:
        return _text(unwrapped(fn))
    except TypeError:  # unhashable callable
        return None, None


def noted_text(execution_id: str, invocation_id: str) -> tuple[str | None, str | None]:
    """The docstring and source of the function noted for a checkpoint call."""
    with _lock:
        fn = _sources.get(f"{execution_id}/{invocation_id}")
    # A flow-body call (an LLM call) has no function of the user's to show.
    return docstring_and_source(fn) if fn is not None else (None, None)


def _step_text(factory: Any, step: Any) -> tuple[str | None, str | None] | None:
    """The user's docstring and source for a kitaru step, or None for other steps."""
    # A step's recorded source: the public name, or the one of records written before it.
    path = str(getattr(step.spec.source, "import_path", ""))
    if path not in STEP_PATHS:
        return None
    return noted_text(str(factory.pipeline_run.id), str(step.spec.invocation_id))


def _flow_text(pipeline: Any) -> str | None:
    from zenml.utils import source_utils

    from kitaru._zenml.flow_sources import load_flow_object

    flow = pipeline._parameters.get("flow") if isinstance(pipeline._parameters, dict) else None
    if not isinstance(flow, str):
        return None
    try:
        return docstring_and_source(load_flow_object(flow, source_utils.load))[1]
    except Exception:  # noqa: BLE001 - not importable here: ZenML's own text
        return None


def _is_flow_entry(fn: Any) -> bool:
    return (getattr(fn, "__module__", None), getattr(fn, "__name__", None)) == _FLOW_ENTRY


# ------------------------------------------------------------------ tracebacks

_PACKAGE_DIRS: tuple[str, ...] = ()
_FRAME = re.compile(r'  File "([^"]+)", line \d+')


def _internal_dirs() -> tuple[str, ...]:
    global _PACKAGE_DIRS
    if not _PACKAGE_DIRS:
        import zenml

        kitaru_dir = Path(__file__).resolve().parents[1]
        zenml_dir = Path(str(zenml.__file__)).resolve().parent
        _PACKAGE_DIRS = (str(kitaru_dir) + os.sep, str(zenml_dir) + os.sep)
    return _PACKAGE_DIRS


def _is_internal(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_internal_dirs())


def outermost_user_code(exc: BaseException) -> Any:
    """The code object of the outermost traceback frame outside kitaru and ZenML."""
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if not _is_internal(code.co_filename):
            return code
        tb = tb.tb_next
    return None


def drop_internal_frames(text: str) -> str:
    """``text`` (a formatted traceback) without the frames of kitaru's and ZenML's files."""
    kept: list[str] = []
    skipping = False
    for line in text.splitlines(keepends=True):
        m = _FRAME.match(line)
        if m:
            skipping = _is_internal(m.group(1))
        elif not line.startswith("    "):
            skipping = False  # the exception line, or "During handling ..." between chains
        if not skipping:
            kept.append(line)
    return "".join(kept)


def body_error(exc: BaseException) -> BaseException:
    """The body's own (redacted) error behind the stand-in kitaru's step raised for it.

    The inline step raises an exception of its module ``from None`` (so that ZenML
    does not retry the step); the body's error is its ``__context__``.
    """
    inner = exc.__context__
    if type(exc).__module__ == _FLOW_ENTRY[0] and exc.__suppress_context__ and inner is not None:
        return inner
    return exc


def _exception_info(original: Callable[..., Any], exc: BaseException, user_func: Any) -> Any:
    kitaru_entry = _is_flow_entry(user_func) or (
        getattr(user_func, "__module__", None) == _FLOW_ENTRY[0]
    )
    if not kitaru_entry:
        return original(exc, user_func)
    body = body_error(exc)
    info = original(body, outermost_user_code(body))
    if body is not exc:
        info.message = f"{type(body).__name__}: {body}"[:2000]  # as the stand-in said it
    if not os.environ.get("KITARU_DEBUG"):
        info.traceback = drop_internal_frames(info.traceback)
    return info


# ------------------------------------------------------------------ install


def install() -> None:
    """Apply the three changes above to ZenML in this process (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    from kitaru._zenml import output_views, reused_steps, stored_paths

    output_views.install()
    reused_steps.install()
    stored_paths.install()
    from zenml.orchestrators.step_run_utils import StepRunRequestFactory
    from zenml.pipelines.pipeline_definition import Pipeline
    from zenml.utils import exception_utils

    step_text = StepRunRequestFactory._get_docstring_and_source_code

    def get_docstring_and_source_code(self: Any, step: Any) -> Any:
        found = _step_text(self, step)
        return found if found is not None else step_text(self, step)

    StepRunRequestFactory._get_docstring_and_source_code = get_docstring_and_source_code  # type: ignore[method-assign]

    prop: Any = vars(Pipeline)["source_code"]
    pipeline_text = prop.fget

    def source_code(self: Any) -> str:
        if _is_flow_entry(getattr(self, "entrypoint", None)):
            text = _flow_text(self)
            if text is not None:
                return text
        return str(pipeline_text(self))

    Pipeline.source_code = property(source_code)  # type: ignore[method-assign,assignment]

    collect = exception_utils.collect_exception_information

    def collect_exception_information(exception: BaseException, user_func: Any = None) -> Any:
        return _exception_info(collect, exception, user_func)

    exception_utils.collect_exception_information = collect_exception_information


install()
