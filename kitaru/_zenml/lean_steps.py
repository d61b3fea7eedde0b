"""Inline checkpoints' step runs written by kitaru itself, on the embedded store.

ZenML's own path for one step run (create it, run it, register its output,
publish it) was about 90% of a checkpoint's cost: some fifty SQL statements and
three fully built responses, for six rows (see ``benchmarks/RESULTS.md``). In a
run that started fresh, on the embedded store (``lean_store``), kitaru writes
those rows itself in two transactions: the step run as running, with its
configuration and parent link, before the body starts; its output, output link
and completed status in one commit after the body returns. A kill between the
two leaves the step running, as ZenML's own path would, and a retry in place
runs it again through ZenML.

The rows are ZenML's own: the first inline checkpoint of each run goes through
ZenML, and its rows (step run, step configuration, output artifact) are the
template for the rest of the run, with only names, IDs, times, the upstream step
and the user's source changed. ZenML's functions still choose the materializer,
save and describe the output, publish a failure and handle signals during the
body (see ``lean_step``).

The variables and secrets a stack sets are the run's, set for the whole run: a
step of kitaru's sets none of its own (a template that does is not used).

Everything else goes through ZenML: a server, another schema revision, a
continued or replayed run, submitted and isolated checkpoints, a run being
stopped, an output that ZenML would give metadata, tags or visualizations.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

from kitaru._zenml.lean_step import OUTPUT, LeanStep, RunInfo, StepRef, Template
from kitaru._zenml.lean_store import now, tables, verified_engine

_ENTRY = "kitaru_checkpoint"
# The run statuses in which ZenML lets a new step start (kitaru's runs continue
# on failure, so a failed run still takes steps).
_STARTABLE = frozenset({"initializing", "provisioning", "running", "failed"})

_lock = threading.Lock()
_runs: dict[str, _Run] = {}  # the flows running in this process that may use this path


def begin(run_id: str, fresh: bool) -> None:
    """Let run ``run_id`` write its inline steps itself, if it started fresh here."""
    from zenml.execution.pipeline.dynamic.run_context import DynamicPipelineRunContext

    ctx = DynamicPipelineRunContext.get()
    runner = getattr(ctx, "runner", None)
    if not fresh or ctx is None or not hasattr(runner, "_last_successful_sync_invocation_id"):
        return
    engine = verified_engine()
    if engine is None:
        return
    mode = ctx.snapshot.pipeline_configuration.execution_mode
    with _lock:
        _runs[run_id] = _Run(engine, uuid.UUID(run_id), runner, mode)


def end(run_id: str) -> None:
    """Forget run ``run_id`` (its flow body has ended)."""
    with _lock:
        _runs.pop(run_id, None)


def writer(run_id: str) -> _Run | None:
    """The writer of run ``run_id`` once it has its template (None: ZenML's path)."""
    with _lock:
        run = _runs.get(run_id)
    return run if run is not None and run.info is not None else None


def learn(run_id: str, invocation_id: str) -> None:
    """Take the rows ZenML wrote for inline step ``invocation_id`` as the run's template."""
    with _lock:
        run = _runs.get(run_id)
    if run is not None and run.info is None:
        run.learn(invocation_id)
        if run.info is None:
            # A run's inline steps all share one configuration: one that cannot be
            # the template says no later step can be written here either.
            end(run_id)


class _Run:
    def __init__(self, engine: Any, run_id: uuid.UUID, runner: Any, mode: Any) -> None:
        self.engine = engine
        self.run_id = run_id
        self.runner = runner
        self.mode = mode
        self.info: RunInfo | None = None

    def learn(self, invocation_id: str) -> None:
        template = self._template(invocation_id)
        if template is not None:
            self.info = RunInfo(self.engine, self.run_id, self.runner, self.mode, template)

    def _template(self, invocation_id: str) -> Template | None:
        from sqlalchemy import select
        from zenml.config.source import Source
        from zenml.utils import source_utils

        artifacts, versions, configs, outputs, steps = tables(
            "artifact",
            "artifact_version",
            "step_configuration",
            "step_run_output_artifact",
            "step_run",
        )

        with self.engine.connect() as conn:
            step = (
                conn.execute(
                    select(steps).where(
                        steps.c.pipeline_run_id == self.run_id,
                        steps.c.name == invocation_id,
                    )
                )
                .mappings()
                .first()
            )
            if step is None or step["status"] != "completed" or step["original_step_run_id"]:
                return None
            config = (
                conn.execute(select(configs).where(configs.c.step_run_id == step["id"]))
                .mappings()
                .first()
            )
            artifact = (
                conn.execute(
                    select(artifacts)
                    .join(
                        versions,
                        versions.c.artifact_id == artifacts.c.id,
                    )
                    .join(
                        outputs,
                        outputs.c.artifact_id == versions.c.id,
                    )
                    .where(
                        outputs.c.step_id == step["id"],
                        outputs.c.name == OUTPUT,
                    )
                )
                .mappings()
                .first()
            )
        if config is None or artifact is None:
            return None
        body = json.loads(config["config"])
        spec, overrides = body.get("spec", {}), body.get("step_config_overrides", {})
        output = overrides.get("outputs", {}).get(OUTPUT, {})
        suffix = f"::{invocation_id}::{OUTPUT}"
        if (
            spec.get("source", {}).get("attribute") != _ENTRY
            or spec.get("inputs")
            or output.get("materializer_source")
            or overrides.get("enable_artifact_metadata") is not False
            or overrides.get("environment")
            or overrides.get("secrets")
            or not str(artifact["name"]).endswith(suffix)
        ):
            return None  # not the step kitaru knows how to write
        default = output.get("default_materializer_source")
        return Template(
            step=dict(step),
            config=dict(config),
            config_body=body,
            artifact=dict(artifact),
            pipeline_name=str(artifact["name"])[: -len(suffix)],
            default_materializer=(
                source_utils.load(Source.model_validate(default)) if default else None
            ),
            store_visualizations=overrides.get("enable_artifact_visualization") is not False,
        )

    def start(self, invocation_id: str, text: tuple[str | None, str | None]) -> LeanStep | None:
        """Write step run ``invocation_id`` as running; None where ZenML must start it."""
        from sqlalchemy import desc, insert, select

        runs, configs, parents, steps = tables(
            "pipeline_run", "step_configuration", "step_run_parents", "step_run"
        )

        info = self.info
        assert info is not None
        template = info.template
        step_id, stamp = uuid.uuid4(), now()
        with self.engine.begin() as conn:
            status = conn.execute(select(runs.c.status).where(runs.c.id == self.run_id)).scalar()
            if status not in _STARTABLE:
                return None  # ZenML's path says why, as it always has
            # ZenML's runner refuses an ID it has handed out (every step of the run
            # goes through it), as its own path would.
            self.runner.allocate_invocation_id(base_name=invocation_id, allow_suffix=False)
            upstream = self.runner._last_successful_sync_invocation_id
            parent = None
            if upstream:
                parent = conn.execute(
                    select(steps.c.id)
                    .where(
                        steps.c.pipeline_run_id == self.run_id,
                        steps.c.name == upstream,
                    )
                    .order_by(desc(steps.c.version))
                ).scalar()
            docstring, source = text
            step = dict(template.step, id=step_id, name=invocation_id, status="running")
            step.update(created=stamp, updated=stamp, start_time=stamp, end_time=None)
            step.update(docstring=docstring, source_code=source, version=1)
            step.update(latest_heartbeat=None, exception_info=None)
            conn.execute(insert(steps).values(step))
            body = dict(template.config_body)
            body["spec"] = dict(body["spec"], invocation_id=invocation_id)
            body["spec"]["upstream_steps"] = [upstream] if upstream else []
            config = dict(template.config, id=uuid.uuid4(), created=stamp, updated=stamp)
            config.update(name=invocation_id, step_run_id=step_id)
            config["config"] = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
            conn.execute(insert(configs).values(config))
            if parent is not None:
                link = {"parent_id": parent, "child_id": step_id}
                conn.execute(insert(parents).values(link))
        return LeanStep(info, StepRef(step_id, invocation_id, self.run_id))
