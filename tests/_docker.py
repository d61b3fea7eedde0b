"""A private Docker daemon and kitaru's container images, for the ``container`` tier.

Everything lives under one stable directory (``KITARU_TEST_DOCKER_DIR``, default
``/var/tmp/kitaru-test-docker``) so images survive between test sessions on the
same machine:

- ``dockerd`` (Debian's ``docker.io``, installed with apt when missing) runs with
  its own data root, exec root, pid file and socket, so it never touches a
  system daemon; it is stopped by its pid. A file lock keeps two sessions from
  starting it at once (the second one waits).
- ``BASE_IMAGE``: Debian bookworm from Debian's packages (``mmdebstrap``, then
  ``docker import``): no container registry is reachable here.
- a deps image: a venv at ``/opt/venv`` with every dependency of the kitaru
  wheel, from PyPI, tagged by a hash of the dependency list and its Dockerfile;
- a thin image: the deps image plus the kitaru wheel built from the checkout
  (``--no-deps``), tagged by a hash of the wheel's contents. A code change
  rebuilds only this layer.

Egress from containers goes through an intercepting CA, so the host's CA bundle
is copied into the images and pip/requests are pointed at it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("KITARU_TEST_DOCKER_DIR", "/var/tmp/kitaru-test-docker"))
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BASE_PACKAGES = "python3,python3-venv,python3-pip,ca-certificates"
BASE_IMAGE = "kitaru-test/debian:bookworm-" + hashlib.sha256(BASE_PACKAGES.encode()).hexdigest()[:8]
DEPS_REPO = "kitaru-test/deps"
KITARU_REPO = "kitaru-test/kitaru"
VENV_PATH = "PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

DEPS_DOCKERFILE = f"""\
FROM {{base}}
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt \\
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \\
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \\
    PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    PYTHONUNBUFFERED=1 \\
    {VENV_PATH}
COPY requirements.txt /tmp/requirements.txt
RUN python3 -m venv /opt/venv \\
    && pip install --no-cache-dir -q -r /tmp/requirements.txt \\
    && rm /tmp/requirements.txt
WORKDIR /app
"""

KITARU_DOCKERFILE = """\
FROM {deps}
COPY {wheel} /tmp/{wheel}
RUN pip install --no-cache-dir -q --no-deps /tmp/{wheel} && rm /tmp/{wheel}
"""

DAEMON_TIMEOUT = 60.0
BUILD_TIMEOUT = 1200.0


class DockerUnavailable(RuntimeError):
    """Docker cannot run here; the message says what is missing."""


def _sh(
    args: list[str], *, env: dict[str, str] | None = None, timeout: float, what: str
) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure raise with its output's tail, saying what was attempted."""
    try:
        proc = subprocess.run(
            args, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DockerUnavailable(f"{what}: {exc}") from None
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise DockerUnavailable(f"{what} failed (exit {proc.returncode}): {' '.join(args)}\n{tail}")
    return proc


def announce(what: str) -> None:
    """Say on the terminal what the container tier is about to do to this machine."""
    print(f"container tier: {what} ...", file=sys.stderr, flush=True)


def apt_install(*packages: str) -> None:
    """Install Debian packages (root only); raise DockerUnavailable saying which and why."""
    if os.geteuid() != 0:
        raise DockerUnavailable(
            f"{', '.join(packages)} missing and not root (uid {os.geteuid()}): "
            f"run `apt-get install -y {' '.join(packages)}` as root"
        )
    if shutil.which("apt-get") is None:
        raise DockerUnavailable(f"{', '.join(packages)} missing and no apt-get to install it")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    announce(f"installing {' '.join(packages)} with apt-get (as root; missing on this machine)")
    _sh(["apt-get", "update", "-q"], env=env, timeout=600, what="apt-get update")
    _sh(
        ["apt-get", "install", "-y", "-q", *packages],
        env=env,
        timeout=900,
        what=f"apt-get install {' '.join(packages)}",
    )


def ensure_program(program: str, package: str) -> str:
    """The path of ``program``, installing Debian's ``package`` first when it is missing."""
    for directory in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        candidate = Path(directory) / program
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    apt_install(package)
    found = shutil.which(program, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if found is None:
        raise DockerUnavailable(f"`{program}` still missing after installing {package}")
    return found


@dataclass
class Daemon:
    """One ``dockerd`` this session started, on its own socket."""

    root: Path
    process: subprocess.Popen[bytes]
    cli: str
    log: Path
    lock: IO[str]
    pid: int = field(init=False)

    def __post_init__(self) -> None:
        self.pid = self.process.pid

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def host(self) -> str:
        """The ``DOCKER_HOST`` value for clients of this daemon."""
        return f"unix://{self.socket}"

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """``base`` (default ``os.environ``) pointed at this daemon, classic builder."""
        env = dict(os.environ if base is None else base)
        env.update(DOCKER_HOST=self.host, DOCKER_BUILDKIT="0")
        return env

    def docker(
        self, *args: str, timeout: float = 120, what: str = ""
    ) -> subprocess.CompletedProcess[str]:
        """Run the docker CLI against this daemon; raise on failure."""
        return _sh(
            [self.cli, *args], env=self.env(), timeout=timeout, what=what or f"docker {args[0]}"
        )

    def has_image(self, tag: str) -> bool:
        proc = subprocess.run(
            [self.cli, "image", "inspect", tag], env=self.env(), capture_output=True, timeout=60
        )
        return proc.returncode == 0

    def containers(self, *filters: str) -> list[str]:
        """IDs of all containers (running or not) matching ``docker ps`` filters."""
        args = ["ps", "-aq", "--no-trunc"]
        for f in filters:
            args += ["--filter", f]
        return self.docker(*args).stdout.split()

    def remove_containers(self, ids: list[str]) -> None:
        if ids:
            self.docker("rm", "-f", *ids, timeout=120)

    def stop(self) -> None:
        """Stop exactly this daemon (by pid) and release the directory lock."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=10)
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(self.lock, fcntl.LOCK_UN)
            self.lock.close()


def _stop_stale(pidfile: Path) -> None:
    """Stop a dockerd a crashed session left on this directory (we hold its lock)."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        pidfile.unlink(missing_ok=True)
        return
    if b"dockerd" not in cmdline or str(STATE).encode() not in cmdline:
        pidfile.unlink(missing_ok=True)
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)


def start_daemon(root: Path = STATE) -> Daemon:
    """Start a private ``dockerd`` under ``root`` and wait until it answers."""
    if os.geteuid() != 0:
        raise DockerUnavailable(
            f"the container tier starts its own dockerd and needs root (running as uid "
            f"{os.geteuid()})"
        )
    dockerd = ensure_program("dockerd", "docker.io")
    # The Debian package's own CLI matches its daemon (/usr/local/bin/docker may not).
    cli = str(Path(dockerd).with_name("docker"))
    if not Path(cli).exists():
        cli = ensure_program("docker", "docker.io")
    root.mkdir(parents=True, exist_ok=True)
    lock = open(root / "lock", "w", encoding="utf-8")  # noqa: SIM115 (released in Daemon.stop)
    fcntl.flock(lock, fcntl.LOCK_EX)
    pidfile = root / "dockerd.pid"
    _stop_stale(pidfile)
    sock = root / "docker.sock"
    sock.unlink(missing_ok=True)
    log = root / "dockerd.log"
    announce(f"starting a private dockerd as root (state in {root}, socket {sock})")
    args = [
        dockerd,
        "--data-root", str(root / "data"),
        "--exec-root", str(root / "exec"),
        "-p", str(pidfile),
        "-H", f"unix://{sock}",
    ]  # fmt: skip
    with open(log, "wb") as out:
        process = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    daemon = Daemon(root=root, process=process, cli=cli, log=log, lock=lock)
    deadline = time.monotonic() + DAEMON_TIMEOUT
    while True:
        if process.poll() is not None:
            daemon.stop()
            raise DockerUnavailable(
                f"dockerd exited with {process.returncode} (kernel support for overlay/cgroups/"
                f"iptables, or another daemon on {root}?). Its log:\n"
                + log.read_text(errors="replace")[-3000:]
            )
        ping = subprocess.run(
            [cli, "version", "--format", "{{.Server.Version}}"],
            env=daemon.env(), capture_output=True, timeout=30,
        )  # fmt: skip
        if ping.returncode == 0:
            # Containers a crashed session left behind (the daemon is ours alone).
            daemon.docker("container", "prune", "-f")
            return daemon
        if time.monotonic() > deadline:
            daemon.stop()
            raise DockerUnavailable(
                f"dockerd did not answer on {sock} in {DAEMON_TIMEOUT:.0f} s. Its log:\n"
                + log.read_text(errors="replace")[-3000:]
            )
        time.sleep(0.3)


def ensure_base_image(daemon: Daemon) -> str:
    """Debian bookworm with Python, from Debian's packages; built once per machine."""
    if daemon.has_image(BASE_IMAGE):
        return BASE_IMAGE
    mmdebstrap = ensure_program("mmdebstrap", "mmdebstrap")
    announce(f"building the Debian base image {BASE_IMAGE} with mmdebstrap (once per machine)")
    with tempfile.TemporaryDirectory(dir=daemon.root) as tmp:
        tar = Path(tmp) / "base.tar"
        _sh(
            [mmdebstrap, "--variant=apt", f"--include={BASE_PACKAGES}", "bookworm", str(tar)],
            timeout=BUILD_TIMEOUT,
            what="mmdebstrap (Debian bookworm base image)",
        )
        daemon.docker("import", str(tar), BASE_IMAGE, timeout=600)
    return BASE_IMAGE


def build_wheel(dest: Path) -> Path:
    """Build kitaru's wheel from the checkout (a copy, so the checkout gets no build files)."""
    src = dest / "src"
    shutil.copytree(
        REPO / "kitaru", src / "kitaru", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    _sh(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(dest), str(src)],
        timeout=600, what="building the kitaru wheel",
    )  # fmt: skip
    wheels = sorted(dest.glob("kitaru-*.whl"))
    if len(wheels) != 1:
        raise DockerUnavailable(f"expected one kitaru wheel in {dest}, found {wheels}")
    return wheels[0]


def wheel_requirements(wheel: Path) -> list[str]:
    """The wheel's unconditional ``Requires-Dist`` lines (no extras)."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(meta).decode()
    reqs = [
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("Requires-Dist:")
    ]
    return [r for r in reqs if "extra ==" not in r]


def wheel_digest(wheel: Path) -> str:
    """A hash of the wheel's file names and contents (not its zip timestamps)."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(wheel) as zf:
        for name in sorted(zf.namelist()):
            digest.update(name.encode() + b"\0" + zf.read(name) + b"\0")
    return digest.hexdigest()[:16]


def _build(daemon: Daemon, tag: str, dockerfile: str, files: dict[str, Path | str]) -> None:
    with tempfile.TemporaryDirectory(dir=daemon.root) as tmp:
        ctx = Path(tmp)
        (ctx / "Dockerfile").write_text(dockerfile)
        for name, content in files.items():
            if isinstance(content, Path):
                shutil.copy2(content, ctx / name)
            else:
                (ctx / name).write_text(content)
        daemon.docker(
            "build", "-q", "-t", tag, str(ctx), timeout=BUILD_TIMEOUT, what=f"building {tag}"
        )


def ensure_kitaru_image(daemon: Daemon, workdir: Path) -> str:
    """The image a flow's container runs: deps image + the checkout's kitaru wheel."""
    base = ensure_base_image(daemon)
    wheel = build_wheel(workdir)
    requirements = "\n".join(wheel_requirements(wheel)) + "\n"
    deps_file = DEPS_DOCKERFILE.format(base=base)
    deps_hash = hashlib.sha256((deps_file + requirements).encode()).hexdigest()[:16]
    deps = f"{DEPS_REPO}:{deps_hash}"
    if not daemon.has_image(deps):
        if not CA_BUNDLE.is_file():
            raise DockerUnavailable(f"no CA bundle at {CA_BUNDLE} to copy into the image")
        _build(
            daemon,
            deps,
            deps_file,
            {"ca-certificates.crt": CA_BUNDLE, "requirements.txt": requirements},
        )
    image = f"{KITARU_REPO}:{deps_hash[:8]}-{wheel_digest(wheel)}"
    if not daemon.has_image(image):
        _build(
            daemon,
            image,
            KITARU_DOCKERFILE.format(deps=deps, wheel=wheel.name),
            {wheel.name: wheel},
        )
        # Earlier code versions' thin images, then deps images nothing builds on now.
        _drop_other_tags(daemon, KITARU_REPO, keep=image)
        _drop_other_tags(daemon, DEPS_REPO, keep=deps)
    return image


def _drop_other_tags(daemon: Daemon, repo: str, keep: str) -> None:
    """Remove the other tags of ``repo`` (best effort: an image still in use stays)."""
    tags = daemon.docker("images", repo, "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    old = [t for t in tags if t != keep]
    if old:
        subprocess.run(
            [daemon.cli, "rmi", *old], env=daemon.env(), capture_output=True, timeout=120
        )
