"""``kitaru_subprocess``: a ZenML orchestrator that runs each flow in a fresh process.

Public name: ``kitaru.testing.subprocess_orchestrator``; a registered flavor
names ``kitaru.zenml_sources.SubprocessOrchestratorFlavor``.

It does what ZenML's remote orchestrators do in their pods and containers, on
this machine: it starts ZenML's dynamic-pipeline entrypoint
(``--snapshot_id``/``--run_id``) in a new interpreter with a clean environment
(only what ZenML hands over, plus PATH, a fresh HOME and LANG), a fresh working
directory, and the code taken from ZenML's code archive. As root it also gives
the process its own mount namespace: a private ``/app`` (ZenML's hard-coded code
directory) and empty tmpfs mounts over the ``hide`` paths (the checkout), so the
run can only use what an orchestrator's container would have.

Options (``kitaru stack create NAME --orchestrator kitaru_subprocess --option K=V``):
``python`` (interpreter of the fresh process, e.g. a venv with kitaru installed
from a wheel), ``isolate`` (``false`` where a mount namespace is not available),
``hide`` (paths to hide, separated by ``os.pathsep``), ``synchronous`` (wait for
the run in ``.run()``), ``workdir`` (where run directories and logs go).

Isolated steps (``@checkpoint(runtime="isolated")``) run the same way in their
own process, through ZenML's isolated-step hooks, as the Kubernetes
orchestrator runs them in their own pods.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from zenml.config.build_configuration import BuildConfiguration
from zenml.enums import ExecutionStatus
from zenml.orchestrators import BaseOrchestratorConfig, BaseOrchestratorFlavor
from zenml.orchestrators.base_orchestrator import SubmissionResult
from zenml.orchestrators.containerized_orchestrator import ContainerizedOrchestrator

if TYPE_CHECKING:
    from zenml.config.step_run_info import StepRunInfo
    from zenml.models import PipelineRunResponse, PipelineSnapshotResponse, StepRunResponse
    from zenml.models.v2.core.pipeline_snapshot import PipelineSnapshotBase
    from zenml.stack import Stack

FLAVOR_NAME = "kitaru_subprocess"
ENV_RUN_ID = "KITARU_SUBPROCESS_RUN_ID"
# ZenML needs an image name on the build it records for the code archive; no
# image is ever built or pulled for this orchestrator.
_NO_IMAGE = "kitaru/subprocess:no-image"
_PASSTHROUGH = ("PATH", "LANG", "LC_ALL", "TZ")


def make_run_dir(workdir: str | None, run_id: str) -> Path:
    """A new private (0700) folder for one run, with a name nobody can guess.

    The flow process imports from its working directory first, so the folder
    must be one this process created: ``mkdtemp`` (``O_EXCL``-style creation,
    random name), directly in the system temp folder unless ``workdir`` is set,
    never under a fixed, shared name that another user could create first.
    """
    base = None
    if workdir:
        base = Path(workdir)
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
    return Path(tempfile.mkdtemp(prefix=f"kitaru-run-{run_id}-", dir=base))


class SubprocessOrchestratorConfig(BaseOrchestratorConfig):
    """Options of the ``kitaru_subprocess`` orchestrator."""

    python: str | None = None
    isolate: bool = True
    hide: str = ""
    synchronous: bool = False
    workdir: str | None = None

    @property
    def is_local(self) -> bool:
        return True

    @property
    def is_synchronous(self) -> bool:
        return self.synchronous


class SubprocessOrchestrator(ContainerizedOrchestrator):
    """Runs each dynamic pipeline (and each isolated step) in a fresh local process."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._steps: dict[Any, subprocess.Popen[bytes]] = {}
        self._stopped: set[Any] = set()
        self._steps_lock = threading.Lock()

    @property
    def config(self) -> SubprocessOrchestratorConfig:
        return cast(SubprocessOrchestratorConfig, self._config)

    def get_orchestrator_run_id(self) -> str:
        try:
            return os.environ[ENV_RUN_ID]
        except KeyError:
            raise RuntimeError(
                f"{ENV_RUN_ID} is not set: only a process started by the kitaru_subprocess "
                "orchestrator has a run ID."
            ) from None

    def get_docker_builds(self, snapshot: PipelineSnapshotBase) -> list[BuildConfiguration]:
        # A build record (never built) makes ZenML upload the code archive that
        # the fresh process downloads, as it does for container orchestrators.
        return [
            BuildConfiguration(
                key=b.key,
                settings=b.settings.model_copy(
                    update={"skip_build": True, "parent_image": _NO_IMAGE}
                ),
                step_name=b.step_name,
            )
            for b in super().get_docker_builds(snapshot)
        ]

    def _run_dir(self, run_id: str) -> Path:
        return make_run_dir(self.config.workdir, run_id)

    def _environment(self, run_id: str, run_dir: Path, handed: dict[str, str]) -> dict[str, str]:
        from zenml.config.global_config import GlobalConfiguration

        env = {k: os.environ[k] for k in _PASSTHROUGH if k in os.environ}
        env.update(handed)
        home = run_dir / "home"
        home.mkdir(exist_ok=True)
        env["HOME"] = str(home)
        env["ZENML_CONFIG_PATH"] = str(run_dir / "zenml-config")
        env["ZENML_LOCAL_STORES_PATH"] = str(GlobalConfiguration().local_stores_path)
        env["ZENML_ANALYTICS_OPT_IN"] = "false"
        env[ENV_RUN_ID] = run_id
        return env

    def _launch(
        self, argv: list[str], env: dict[str, str], run_dir: Path, watch_run: str | None = None
    ) -> subprocess.Popen[bytes]:
        python = self.config.python or sys.executable
        if argv and Path(argv[0]).name.startswith("python"):
            argv = [python, *argv[1:]]
        app = run_dir / "app"
        app.mkdir(exist_ok=True)
        if self.config.isolate:
            hide = [p for p in self.config.hide.split(os.pathsep) if p.strip()]
            script = " && ".join(
                [
                    "mount --make-rprivate /",
                    "mkdir -p /app",
                    f"mount --bind {shlex.quote(str(app))} /app",
                    *(f"mount -t tmpfs kitaru-hidden {shlex.quote(p)}" for p in hide),
                    'cd /app && exec "$@"',
                ]
            )
            argv = ["unshare", "--mount", "--", "/bin/sh", "-c", script, "sh", *argv]
        if watch_run is not None:
            # The watcher runs on this interpreter (it has kitaru and ZenML), outside
            # the mount namespace, and reports the run crashed if the flow process
            # ends first (see kitaru._zenml.flow_process).
            argv = [sys.executable, "-m", "kitaru._zenml.flow_process", watch_run, "--", *argv]
        log = open(run_dir / "process.log", "ab")  # noqa: SIM115 - owned by the child
        try:
            return subprocess.Popen(
                argv,
                env=env,
                cwd=str(app),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()

    def submit_dynamic_pipeline(
        self,
        snapshot: PipelineSnapshotResponse,
        stack: Stack,
        environment: dict[str, str],
        placeholder_run: PipelineRunResponse | None = None,
    ) -> SubmissionResult | None:
        from zenml.pipelines.dynamic.entrypoint_configuration import (
            DynamicPipelineEntrypointConfiguration,
        )

        assert placeholder_run is not None
        run_id = str(placeholder_run.id)
        # A new list: ZenML returns its module-level default command itself.
        argv = [
            *DynamicPipelineEntrypointConfiguration.get_entrypoint_command(),
            *DynamicPipelineEntrypointConfiguration.get_entrypoint_arguments(
                snapshot_id=snapshot.id, run_id=run_id
            ),
        ]
        run_dir = self._run_dir(run_id)
        env = self._environment(run_id, run_dir, environment)
        proc = self._launch(argv, env, run_dir, watch_run=run_id)
        if self.config.synchronous:

            def wait() -> None:
                proc.wait()

            return SubmissionResult(wait_for_completion=wait)
        return None

    def submit_isolated_step(self, step_run_info: StepRunInfo, environment: dict[str, str]) -> None:
        from zenml.orchestrators.utils import get_step_entrypoint_command
        from zenml.step_operators.step_operator_entrypoint_configuration import (
            StepOperatorEntrypointConfiguration,
        )

        command, args = get_step_entrypoint_command(
            invocation_id=step_run_info.pipeline_step_name,
            config=step_run_info.config,
            entrypoint_config_class=StepOperatorEntrypointConfiguration,
            snapshot_id=step_run_info.snapshot.id,
            step_run_id=str(step_run_info.step_run_id),
        )
        run_id = self.get_orchestrator_run_id()
        run_dir = self._run_dir(f"{run_id}-step")
        env = self._environment(run_id, run_dir, environment)
        proc = self._launch(command + args, env, run_dir)
        with self._steps_lock:
            self._steps[step_run_info.step_run_id] = proc
            self._stopped.discard(step_run_info.step_run_id)

    def get_isolated_step_status(self, step_run: StepRunResponse) -> ExecutionStatus:
        with self._steps_lock:
            proc = self._steps.get(step_run.id)
            stopped = step_run.id in self._stopped
        if proc is None or proc.poll() is None:
            return ExecutionStatus.RUNNING
        if stopped:
            return ExecutionStatus.STOPPED
        return ExecutionStatus.COMPLETED if proc.returncode == 0 else ExecutionStatus.FAILED

    def stop_isolated_step(self, step_run: StepRunResponse) -> None:
        with self._steps_lock:
            proc = self._steps.get(step_run.id)
            if proc is None or proc.poll() is not None:
                return
            self._stopped.add(step_run.id)
        try:
            os.killpg(os.getpgid(proc.pid), signal.SIGTERM)
            proc.wait(timeout=10)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            os.killpg(os.getpgid(proc.pid), signal.SIGKILL)
            proc.wait()


def report_crashed(run_id: str, exit_code: int, pid: int, started: float) -> bool:
    """Mark run ``run_id`` failed, with ``kitaru_end`` saying it crashed, if it has not ended.

    Called once the flow process ``pid`` (started at ``started``, epoch seconds)
    has exited; True if the run was still open and still that process's. The
    ``kitaru_end`` metadata (``{"status": "crashed", "reason": ...}``) is what
    kitaru's readers show as ``crashed``; ZenML's own status becomes FAILED.
    """
    from zenml.client import Client
    from zenml.enums import MetadataResourceTypes
    from zenml.models import PipelineRunUpdate, RunMetadataResource

    from kitaru._zenml import run_state

    client = Client()
    run = client.zen_store.get_run(uuid.UUID(run_id), hydrate=True)
    status = ExecutionStatus(run.status)
    if status.is_finished or status == ExecutionStatus.PAUSED:
        return False  # ended, or released at a wait (kitaru.wait): not a crash
    runner = run_state.run_meta(run, run_state.RUNNER_KEY)
    ended = run_state.end_record(run).get("status")
    if runner.get("pid") == pid and ended == "waiting":
        return False  # released at a wait, and already being resumed: not a crash
    recorded_at = runner.get("at")
    if runner.get("pid") != pid and isinstance(recorded_at, int | float) and recorded_at >= started:
        return False  # a later process (resuming the run) has taken it over
    how = f"code {exit_code}" if exit_code >= 0 else f"signal {-exit_code}"
    reason = f"the flow process exited with {how} before the run ended"
    # For the run's current runner (if the flow process got as far as recording
    # itself), with every field named: see run_state.END_FIELDS.
    end = {**run_state.END_FIELDS, "status": "crashed", "error": reason, "reason": reason}
    end["token"] = runner.get("token")
    client.create_run_metadata(
        metadata={run_state.END_KEY: end},
        resources=[RunMetadataResource(id=run.id, type=MetadataResourceTypes.PIPELINE_RUN)],
    )
    # ZenML sets the run's end time itself when its status becomes a finished one.
    client.zen_store.update_run(
        run.id, PipelineRunUpdate(status=ExecutionStatus.FAILED, status_reason=reason)
    )
    return True


class SubprocessOrchestratorFlavor(BaseOrchestratorFlavor):
    """Flavor of :class:`SubprocessOrchestrator` (``kitaru_subprocess``)."""

    @property
    def name(self) -> str:
        return FLAVOR_NAME

    @property
    def docs_url(self) -> str | None:
        return None

    @property
    def sdk_docs_url(self) -> str | None:
        return None

    @property
    def logo_url(self) -> str:
        return ""

    @property
    def config_class(self) -> type[SubprocessOrchestratorConfig]:
        return SubprocessOrchestratorConfig

    @property
    def implementation_class(self) -> type[SubprocessOrchestrator]:
        return SubprocessOrchestrator
