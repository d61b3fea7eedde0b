"""A real headless Chromium (Debian's package) driven by Playwright, for dashboard tests.

Nothing is mocked and no browser is downloaded: Playwright's own browser builds
are never fetched (``PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD``); it drives the system's
``chromium`` through ``executable_path``. What is missing is installed (Debian's
``chromium`` with apt-get, ``playwright`` with pip); if that is not possible the
test fails saying what is missing, it never skips.

Every response body the browser receives is kept, so a test can assert that a
value never reached the browser at all, not only that it is not on screen.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# On 2 cores without these, the login page's animation takes about a minute and a half.
CHROMIUM_ARGS = ["--disable-gpu", "--disable-3d-apis", "--no-sandbox"]
_TEXT_TYPES = ("json", "text", "javascript", "html")


def chromium_path() -> str:
    """Debian's chromium, installed with apt-get if missing (fails the test otherwise)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = ["apt-get", "install", "-y", "-q", "chromium"]
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600)
            subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
        found = shutil.which("chromium")
    if not found:
        pytest.fail(
            "Debian's chromium is missing and could not be installed: run "
            "`apt-get install chromium` (as root)."
        )
    return found


def ensure_playwright() -> None:
    """Playwright from PyPI (without its browsers), pip-installed if missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        env = dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "playwright"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            pytest.fail(
                "playwright is missing and `pip install playwright` failed: "
                f"{done.stderr.strip()[-300:]}"
            )


@dataclass
class Browser:
    """One logged-in browser page; keeps what it saw and screenshots of it."""

    base_url: str
    shots: Path
    page: Any
    bodies: list[tuple[str, bytes]] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)

    def _keep(self, response: Any) -> None:
        kind = response.headers.get("content-type", "")
        if any(t in kind for t in _TEXT_TYPES):
            # A redirect or an aborted request has no body.
            with contextlib.suppress(Exception):
                self.bodies.append((response.url, response.body()))

    def login(self, user: str, password: str) -> None:
        page = self.page
        page.goto(f"{self.base_url}/login")
        page.get_by_label("Username").fill(user)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Login").click()
        page.wait_for_url(lambda url: "/login" not in url, timeout=60_000)
        self.settle()
        self.shot("after-login")

    def settle(self) -> None:
        self.page.wait_for_load_state("networkidle", timeout=60_000)

    def wait_for_text(self, expect: str | None, timeout: float = 30) -> None:
        """Wait until ``expect`` is on the page (the dashboard renders after its requests)."""
        deadline = time.monotonic() + timeout
        while expect and expect not in self.text() and time.monotonic() < deadline:
            time.sleep(0.3)

    def open(self, url: str, name: str, expect: str | None = None) -> str:
        self.page.goto(url)
        self.settle()
        self.wait_for_text(expect)
        return self.shot(name)

    def text(self) -> str:
        return str(self.page.inner_text("body"))

    def shot(self, name: str) -> str:
        """Screenshot the page as ``name``; returns (and keeps) the page's text."""
        self.page.screenshot(path=str(self.shots / f"{len(self.texts):02d}-{name}.png"))
        text = self.text()
        self.texts.append((name, text))
        return text

    def open_step(self, step: str) -> None:
        """Open a step's (or an artifact's) side sheet from the run's graph."""
        self.wait_for_text(step)
        self.page.get_by_text(step, exact=True).first.click()
        self.page.get_by_role("tab", name="Overview").last.wait_for(timeout=30_000)
        self.settle()

    def row(self, text: str) -> str:
        """The text of the (first) table row holding ``text``."""
        return str(self.page.get_by_role("row").filter(has_text=text).first.inner_text())

    def tab(self, name: str, expect: str | None = None) -> str:
        """Click the step sheet's tab ``name``; wait for ``expect`` on the page if given."""
        self.page.get_by_role("tab", name=name).last.click()
        self.settle()
        self.wait_for_text(expect)
        return self.shot(f"tab-{name}")


def launch(playwright: Any, base_url: str, shots: Path) -> Browser:
    """A fresh headless Chromium page on the system browser."""
    browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    b = Browser(base_url=base_url, shots=shots, page=page)
    page.on("response", b._keep)
    return b
