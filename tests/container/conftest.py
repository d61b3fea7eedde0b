"""Fixtures of the ``container`` tier: a private dockerd, kitaru's image, a ZenML server.

The tier runs in every ``make test``. It never skips: where the daemon cannot
start (not root, no kernel support, no package), its fixtures fail with a
message that says what is missing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _docker import Daemon, DockerUnavailable, ensure_kitaru_image, start_daemon

from container._support import LoggedIn, start_logged_in


@pytest.fixture(scope="session")
def docker_daemon(request: pytest.FixtureRequest) -> Iterator[Daemon]:
    """A dockerd of this session's own (its socket in ``.host``), stopped by pid at the end."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    try:
        # Shown as it happens: what this tier installs and starts on the machine.
        with capture.global_and_fixture_disabled():
            daemon = start_daemon()
    except DockerUnavailable as exc:
        pytest.fail(f"container tier cannot run: {exc}", pytrace=False)
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="session")
def kitaru_image(
    docker_daemon: Daemon, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> str:
    """The tag of an image with kitaru (from this checkout) in ``/opt/venv``."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    try:
        with capture.global_and_fixture_disabled():
            return ensure_kitaru_image(docker_daemon, tmp_path_factory.mktemp("kitaru-wheel"))
    except DockerUnavailable as exc:
        pytest.fail(f"container tier cannot build its image: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def zenml_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedIn]:
    """A real ZenML server on 127.0.0.1 and a kitaru config dir logged in to it."""
    logged_in = start_logged_in(tmp_path_factory.mktemp("container-server"))
    try:
        yield logged_in
    finally:
        logged_in.server.stop()
