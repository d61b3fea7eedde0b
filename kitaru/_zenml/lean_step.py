"""One inline step run that kitaru writes itself, from start to end (see ``lean_steps``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kitaru._zenml.lean_store import now, tables

OUTPUT = "output"


@dataclass(frozen=True)
class Template:
    """The rows ZenML wrote for a run's first inline step, and what they say of outputs."""

    step: dict[str, Any]
    config: dict[str, Any]
    config_body: dict[str, Any]
    artifact: dict[str, Any]
    pipeline_name: str
    default_materializer: Any
    store_visualizations: bool


@dataclass(frozen=True)
class RunInfo:
    """The run a lean step belongs to: its store, ZenML's runner and the template."""

    engine: Any
    run_id: uuid.UUID
    runner: Any
    execution_mode: Any
    template: Template


@dataclass(frozen=True)
class StepRef:
    """What ZenML's signal handler and artifact URIs read of a step run."""

    id: uuid.UUID
    name: str
    pipeline_run_id: uuid.UUID


class LeanStep:
    """A step run written as running by kitaru; :meth:`run` runs its body and ends it."""

    def __init__(self, run: RunInfo, ref: StepRef) -> None:
        self._run = run
        self.ref = ref

    def run(self, body: Callable[[str], Any], entrypoint: Callable[..., Any]) -> Any:
        """Run ``body`` (given the step run's ID) and publish how it ended.

        As on ZenML's path: SIGINT and SIGTERM are ZenML's to handle meanwhile, a
        failing body is published failed with its exception described for
        ``entrypoint``, and a failure to save the output fails the step without one.
        """
        from zenml.orchestrators.signal_handler import SignalHandler

        handler = SignalHandler(step_run=self.ref, execution_mode=self._run.execution_mode)  # type: ignore[arg-type]
        handler.register()
        try:
            try:
                value = body(str(self.ref.id))
            except BaseException as exc:
                self._fail(exc, entrypoint)
                raise
            try:
                self._complete(value)
            except BaseException:
                self._fail(None, None)
                raise
        finally:
            handler.unregister()
        return value

    def _fail(self, exc: BaseException | None, entrypoint: Callable[..., Any] | None) -> None:
        from zenml.orchestrators import publish_utils
        from zenml.utils import exception_utils

        info = None
        if exc is not None:
            info = exception_utils.collect_exception_information(exc, entrypoint)
        publish_utils.step_exception_info.set(info)
        publish_utils.publish_failed_step_run(self.ref.id)

    def _complete(self, value: Any) -> None:
        from zenml.artifacts import utils as artifact_utils
        from zenml.client import Client
        from zenml.enums import ArtifactSaveType
        from zenml.materializers.materializer_registry import materializer_registry
        from zenml.orchestrators import publish_utils
        from zenml.orchestrators.output_utils import generate_artifact_uri

        template = self._run.template
        store = Client().active_stack.artifact_store
        uri = generate_artifact_uri(store.path, self.ref, OUTPUT)  # type: ignore[arg-type]
        if store.exists(uri):
            raise RuntimeError("Artifact already exists")  # as ZenML says it
        if template.default_materializer is not None:
            materializer_registry.default_materializer = template.default_materializer
        request = artifact_utils._store_artifact_data_and_prepare_request(
            name=f"{template.pipeline_name}::{self.ref.name}::{OUTPUT}",
            data=value,
            materializer_class=materializer_registry[type(value)],
            uri=uri,
            artifact_store=store,
            store_metadata=False,
            store_visualizations=template.store_visualizations,
            has_custom_name=False,
            tags=[],
            save_type=ArtifactSaveType.STEP_OUTPUT,
        )
        if request.visualizations or request.metadata or request.tags:
            (response,) = Client().zen_store.batch_create_artifact_versions([request])
            publish_utils.publish_successful_step_run(self.ref.id, {OUTPUT: [response.id]})
        else:
            version, done = self._write(request)
            if not done:
                publish_utils.publish_successful_step_run(self.ref.id, {OUTPUT: [version]})
        # What ZenML's runner notes after a sync step: the next one's upstream.
        self._run.runner._last_successful_sync_invocation_id = self.ref.name

    def _write(self, request: Any) -> tuple[uuid.UUID, bool]:
        """Write the output's artifact version and link; end the step if all still runs.

        Returns the version's ID and whether the step was ended. Where the run or the
        step no longer runs (being stopped), ZenML's publish decides their status; it
        finds the link already there.
        """
        from sqlalchemy import func, insert, select, update

        artifacts, versions, runs, outputs, steps = tables(
            "artifact", "artifact_version", "pipeline_run", "step_run_output_artifact", "step_run"
        )

        run = self._run
        step = run.template.step
        stamp = now()
        with run.engine.begin() as conn:
            status = conn.execute(select(runs.c.status).where(runs.c.id == run.run_id)).scalar()
            artifact_id = conn.execute(
                select(artifacts.c.id).where(
                    artifacts.c.name == request.artifact_name,
                    artifacts.c.project_id == step["project_id"],
                )
            ).scalar()
            number = 1
            if artifact_id is None:
                artifact_id = uuid.uuid4()
                row = dict(run.template.artifact, id=artifact_id, created=stamp, updated=stamp)
                row["name"] = request.artifact_name
                conn.execute(insert(artifacts).values(row))
            else:
                latest = conn.execute(
                    select(func.max(versions.c.version_number)).where(
                        versions.c.artifact_id == artifact_id
                    )
                ).scalar()
                number = int(latest or 0) + 1
            version_id = uuid.uuid4()
            conn.execute(
                insert(versions).values(
                    id=version_id,
                    created=stamp,
                    updated=stamp,
                    version=str(number),
                    version_number=number,
                    type=request.type.value,
                    uri=request.uri,
                    materializer=request.materializer.model_dump_json(),
                    data_type=request.data_type.model_dump_json(),
                    save_type=request.save_type.value,
                    content_hash=request.content_hash,
                    item_count=request.item_count,
                    artifact_id=artifact_id,
                    artifact_store_id=request.artifact_store_id,
                    user_id=step["user_id"],
                    project_id=step["project_id"],
                )
            )
            conn.execute(
                insert(outputs).values(name=OUTPUT, step_id=self.ref.id, artifact_id=version_id)
            )
            done = status == "running" and (
                conn.execute(
                    update(steps)
                    .where(steps.c.id == self.ref.id, steps.c.status == "running")
                    .values(status="completed", end_time=stamp, updated=stamp)
                ).rowcount
                == 1
            )
        return version_id, done
