"""`make test-fast` skips the container tier; `make test` and the tier say what they do first."""

from __future__ import annotations

import subprocess
from pathlib import Path

import _docker
import pytest

REPO = Path(__file__).resolve().parent.parent


def dry_run(target: str) -> str:
    proc = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", target],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_test_fast_runs_everything_but_the_container_tier() -> None:
    out = dry_run("test-fast")
    assert "pytest" in out and '-m "not container"' in out


def test_make_test_says_it_installs_packages_and_starts_a_daemon() -> None:
    out = dry_run("test")
    assert "docker.io" in out and "dockerd" in out and "make test-fast" in out
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "make test-fast" in readme
    assert "make test\n" in (REPO / ".ci" / "run").read_text(encoding="utf-8")


def test_the_container_tier_says_what_it_installs_before_it_does(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[tuple[list[str], str]] = []

    def record(args: list[str], **_: object) -> None:
        # apt-get cannot run in a test: record what would run, and what was said by then.
        ran.append((args, capsys.readouterr().err))

    monkeypatch.setattr(_docker.os, "geteuid", lambda: 0)
    monkeypatch.setattr(_docker.shutil, "which", lambda _: "/usr/bin/apt-get")
    monkeypatch.setattr(_docker, "_sh", record)
    _docker.apt_install("docker.io", "mmdebstrap")
    first_args, said_before = ran[0]
    assert first_args[0] == "apt-get"
    assert "installing docker.io mmdebstrap with apt-get" in said_before
