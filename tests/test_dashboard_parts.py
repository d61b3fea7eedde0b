"""The parts behind the dashboard view, without a server or browser (see test_dashboard.py)."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

import kitaru
from kitaru._zenml import output_views, step_logs
from kitaru.runtime.inline import MAX_INLINE_BYTES


@pytest.fixture
def step_code() -> Any:
    """kitaru's ZenML hooks, imported (which installs them) once kitaru configured ZenML."""
    from kitaru._zenml.client import get_client

    get_client()
    from kitaru._zenml import step_code

    return step_code


def test_output_views_are_off_without_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []

    def original(data: Any, materializer: Any) -> list[str]:
        calls.append(data)
        return ["view"]

    monkeypatch.delenv("KITARU_SERVER_URL", raising=False)
    assert output_views._viewed(original, "small", None) == []
    assert calls == []  # ZenML's code is not even called
    monkeypatch.setenv("KITARU_SERVER_URL", "http://127.0.0.1:9")
    assert output_views._viewed(original, "small", None) == ["view"]
    # Viewed by the rule that keeps a run's result inline (a tuple shows as a list).
    assert output_views._viewed(original, (1, "a"), None) == ["view"]
    assert output_views._viewed(original, {"answer": [1, 2, 3], "none": None}, None) == ["view"]
    assert output_views._viewed(original, "z" * MAX_INLINE_BYTES, None) == []
    assert output_views._viewed(original, {"not json": {1, 2}}, None) == []
    assert output_views._viewed(original, object(), None) == []
    assert calls == ["small", (1, "a"), {"answer": [1, 2, 3], "none": None}]


def test_log_entries_keep_levels_and_loggers() -> None:
    text = "plain line\n\nWARNING my.logger: careful [REDACTED]\nERROR x: boom\n"
    entries = step_logs.log_entries(text)
    assert [e["message"] for e in entries] == ["plain line", "careful [REDACTED]", "boom"]
    assert [e["level"] for e in entries] == [logging.INFO, logging.WARNING, logging.ERROR]
    assert entries[1]["name"] == "my.logger"
    from zenml.models import LogEntry

    parsed = LogEntry.model_validate_json(__import__("json").dumps(entries[1]))
    assert parsed.level is not None and parsed.level.value == logging.WARNING


def test_step_logs_are_not_written_without_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KITARU_SERVER_URL", raising=False)
    assert step_logs.attach("00000000-0000-0000-0000-000000000000", "printed") is False


def _user_function(fail: bool) -> None:
    if fail:
        raise ValueError("user line")


def test_internal_frames_are_dropped_and_the_user_frame_found(step_code: Any) -> None:
    from kitaru._run.bodies import call_body

    try:
        call_body(_user_function, (True,), {})
    except ValueError as exc:
        text = "".join(traceback.format_exception(exc))
        code = step_code.outermost_user_code(exc)
    assert "_run/bodies.py" in text
    kept = step_code.drop_internal_frames(text)
    assert "_run/bodies.py" not in kept
    assert 'raise ValueError("user line")' in kept and "ValueError: user line" in kept
    # The outermost frame outside kitaru and ZenML is this test itself.
    assert code is not None and code.co_filename == __file__


def test_docstring_and_source_of_a_decorated_function(step_code: Any) -> None:
    import kitaru

    @kitaru.checkpoint
    def shown(x: int) -> int:
        """Doubles x."""
        return x * 2

    doc, source = step_code.docstring_and_source(shown)
    assert doc == "Doubles x."
    assert source is not None and "def shown(x: int) -> int:" in source
    assert "return x * 2" in source


def test_web_without_a_server_says_how_to_start_one(tmp_path: Path) -> None:
    done = run_cli(
        "executions", "show", "0123abcd", "--web", env={"KITARU_CONFIG_PATH": str(tmp_path)}
    )
    assert done.returncode == 1
    assert "kitaru login --local" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_login_local_refuses_other_login_options(tmp_path: Path) -> None:
    done = run_cli(
        "login", "--local", "http://127.0.0.1:1", env={"KITARU_CONFIG_PATH": str(tmp_path)}
    )
    assert done.returncode == 2
    assert "--local takes no URL" in done.stderr
    port = run_cli(
        "login", "http://127.0.0.1:1", "--port", "1", env={"KITARU_CONFIG_PATH": str(tmp_path)}
    )
    assert port.returncode == 2
    assert "--port applies only to --local" in port.stderr


def test_step_errors_name_the_users_line_and_debug_keeps_kitarus_frames(
    monkeypatch: pytest.MonkeyPatch, step_code: Any
) -> None:
    from zenml.utils import exception_utils

    from kitaru._run.bodies import call_body
    from kitaru._zenml import pipelines  # importing it installs the hooks

    entry = pipelines.kitaru_flow  # what ZenML passes as the run's user function
    try:
        call_body(_user_function, (True,), {})
    except ValueError as exc:
        body_exc = exc
    assert step_code.body_error(body_exc) is body_exc  # not a stand-in of kitaru's step
    monkeypatch.delenv("KITARU_DEBUG", raising=False)
    info = exception_utils.collect_exception_information(body_exc, entry)
    assert info.message == "user line"
    assert "_run/bodies.py" not in info.traceback
    assert 'raise ValueError("user line")' in info.traceback
    assert info.user_code_line is not None
    monkeypatch.setenv("KITARU_DEBUG", "1")
    kept = exception_utils.collect_exception_information(body_exc, entry)
    assert "_run/bodies.py" in kept.traceback


def test_the_local_servers_dashboard_suggests_kitaru_login_and_lists_durations(
    tmp_path: Path,
) -> None:
    from kitaru._zenml import dashboard_files

    served = dashboard_files.prepare(tmp_path / "dash")
    source = dashboard_files.zenml_dashboard()
    names = sorted(p.name for p in (source / "assets").iterdir())
    assert sorted(p.name for p in (served / "assets").iterdir()) == names
    assert (served / "index.html").read_bytes() == (source / "index.html").read_bytes()
    edited = {
        p.name: p.read_text(encoding="utf-8")
        for p in (served / "assets").iterdir()
        if p.read_bytes() != (source / "assets" / p.name).read_bytes()
    }
    assert len(edited) == 2, sorted(edited)  # the header's bundle and the runs list's
    text = "\n".join(edited.values())
    assert "zenml login --local" not in text and "`kitaru login --local`" in text
    assert "label:`Duration`" in text and "label:`Replayed from`" in text
    assert "hydrate:!0" in text  # the list asks for start and end times
    # Prepared again (a second login) from scratch, not on top of the first.
    (served / "assets" / "stale.js").write_text("x")
    dashboard_files.prepare(served)
    assert not (served / "assets" / "stale.js").exists()


@pytest.mark.usefixtures("step_code")
def test_a_reused_checkpoint_names_the_step_it_came_from_and_has_no_expired_cache() -> None:
    from kitaru._zenml.client import get_client

    global _FAIL_SECOND
    _FAIL_SECOND = True
    failed = _two_steps.run()
    assert failed.status == "failed"
    _FAIL_SECOND = False
    replay = _two_steps.replay(str(failed.execution_id))
    assert replay.status == "completed", replay.error
    client = get_client()
    original = client.get_pipeline_run(str(failed.execution_id)).steps["_first_part"]
    reused = client.get_pipeline_run(str(replay.execution_id)).steps["_first_part"]
    assert reused.status.value == "skipped"
    assert reused.cache_expires_at is None  # the dashboard reads "Never", not "(Expired)"
    card = reused.run_metadata["kitaru_reused_from"]
    assert card == {
        "execution_id": str(failed.execution_id),
        "step_run_id": str(original.id),
    }  # no dashboard URL without a server
    # The record stays with the original step (ZenML links only metadata that a
    # step published itself), which the card names.
    assert original.run_metadata["kitaru"]["invocation_id"] == "_first_part"
    # A checkpoint that ran afresh in the replay has no such card.
    again = client.get_pipeline_run(str(replay.execution_id)).steps["_second_part"]
    assert "kitaru_reused_from" not in again.run_metadata
    assert again.cache_expires_at is None


_FAIL_SECOND = False


@kitaru.checkpoint
def _first_part() -> int:
    return 1


@kitaru.checkpoint
def _second_part(x: int) -> int:
    if _FAIL_SECOND:
        raise RuntimeError("second part fails")
    return x + 1


@kitaru.flow
def _two_steps() -> int:
    return _second_part(_first_part())


def test_a_dashboard_build_without_the_edited_text_is_served_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kitaru._zenml import dashboard_files

    other = tmp_path / "zenml-dashboard"
    (other / "assets").mkdir(parents=True)
    (other / "index.html").write_text("<html></html>")
    bundle = "function lF(e){return`zenml login --local --other-build`}"
    (other / "assets" / "index-Other.js").write_text(bundle)
    (other / "assets" / "RunsBody-Other.js").write_text("var N=[];")
    monkeypatch.setattr(dashboard_files, "zenml_dashboard", lambda: other)
    served = dashboard_files.prepare(tmp_path / "served")
    assert (served / "assets" / "index-Other.js").read_text() == bundle
    assert (served / "assets" / "RunsBody-Other.js").read_text() == "var N=[];"
    assert (served / "index.html").read_text() == "<html></html>"
