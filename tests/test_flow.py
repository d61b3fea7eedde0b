"""``@flow`` and ``@checkpoint``: decorator shape, options, ZenML mapping, runtime context.

Flows run for real on the session's local ZenML store. Flows and checkpoints are
defined at module level (as users would), and each flow run checks as much as
it naturally can, since every run costs a fraction of a second.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from typing import Any

import pytest

import kitaru
from kitaru import KitaruContextError, KitaruValidationError
from kitaru._zenml.client import get_client


def _run(execution_id: str) -> Any:
    return get_client().get_pipeline_run(execution_id)


def _outputs(step_run: Any) -> list[Any]:
    return [a.load() for artifacts in step_run.outputs.values() for a in artifacts]


def _status(obj: Any) -> str:
    return str(getattr(obj.status, "value", obj.status))


# --- module-level flows and checkpoints ---------------------------------------


@kitaru.checkpoint
def double(x: int, *, extra: int = 0) -> int:
    """Double ``x``."""
    return 2 * x + extra


@kitaru.checkpoint(name="probe-ctx")
def probe(tag: str) -> dict[str, Any]:
    """Report the runtime context as seen inside a checkpoint."""
    info = kitaru.current_execution()
    return {
        "tag": tag,
        "in_flow": kitaru.in_flow(),
        "in_checkpoint": kitaru.in_checkpoint(),
        "flow": info.flow_name,
        "execution_id": info.execution_id,
        "checkpoint": info.checkpoint_name,
        "thread": threading.current_thread().name,
    }


class Agent:
    """A class whose method is a checkpoint."""

    def __init__(self, factor: int) -> None:
        self.factor = factor

    @kitaru.checkpoint
    def scale(self, x: int) -> int:
        """Scale ``x`` by the agent's factor."""
        return self.factor * x


@kitaru.flow(name="shape-flow")
def shape_flow(n: int, label: str = "x") -> dict[str, Any]:
    """Exercise sync, submitted and method checkpoints; report the flow-body context."""
    info = kitaru.current_execution()
    agent = Agent(10)
    futures = [probe.submit(f"sub{i}") for i in range(2)]
    return {
        "double": double(n, extra=1),
        "double_2": double(n + 1),
        "method": agent.scale(n),
        "method_submit": agent.scale.submit(n + 1).result(),
        "probe_sync": probe("sync"),
        "probe_submitted": [f.result() for f in futures],
        "body": {
            "in_flow": kitaru.in_flow(),
            "in_checkpoint": kitaru.in_checkpoint(),
            "flow": info.flow_name,
            "execution_id": info.execution_id,
            "checkpoint": info.checkpoint_name,
        },
        "label": label,
    }


# --- decorator shape and options (no flow run) --------------------------------


def test_decorators_keep_the_function_shape() -> None:
    assert double.__name__ == "double"
    assert double.__doc__ == "Double ``x``."
    assert double.__qualname__ == "double"
    assert double.__module__ == __name__
    assert str(inspect.signature(double)) == "(x: 'int', *, extra: 'int' = 0) -> 'int'"
    assert inspect.isfunction(double.__wrapped__)
    assert double.checkpoint_name == "double"
    assert probe.__name__ == "probe" and probe.checkpoint_name == "probe-ctx"

    assert shape_flow.__name__ == "shape_flow"
    assert shape_flow.__doc__.startswith("Exercise sync")
    assert list(inspect.signature(shape_flow).parameters) == ["n", "label"]
    assert shape_flow.flow_name == "shape-flow"
    assert inspect.getsource(shape_flow).lstrip().startswith("@kitaru.flow")

    # Methods: looked up on the class and on an instance, as plain functions are.
    assert Agent.scale.__name__ == "scale" and Agent.scale.__doc__.startswith("Scale")
    assert list(inspect.signature(Agent.scale).parameters) == ["self", "x"]
    assert list(inspect.signature(Agent(1).scale).parameters) == ["x"]
    assert Agent(1).scale.checkpoint_name == "scale"

    assert not inspect.iscoroutinefunction(double)
    assert inspect.iscoroutinefunction(async_add)
    assert inspect.iscoroutinefunction(async_flow)


def test_bare_and_keyword_forms_build_the_same_kind_of_object() -> None:
    def work(a: int) -> int:
        return a

    bare = kitaru.checkpoint(work)
    named = kitaru.checkpoint(name="work-2", retries=2, retry_delay=0)(work)
    assert type(bare) is type(named)
    assert (bare.checkpoint_name, named.checkpoint_name) == ("work", "work-2")
    assert kitaru.flow(work).flow_name == "work"
    assert kitaru.flow(name="work.flow")(work).flow_name == "work.flow"


@pytest.mark.parametrize(
    ("decorator", "field"),
    [
        (lambda: kitaru.checkpoint(retries=-1), "checkpoint"),
        (lambda: kitaru.checkpoint(retries=1.5), "checkpoint"),
        (lambda: kitaru.checkpoint(retries=True), "checkpoint"),
        (lambda: kitaru.checkpoint(retries="2"), "checkpoint"),
        (lambda: kitaru.checkpoint(retry_delay=-0.1), "checkpoint"),
        (lambda: kitaru.checkpoint(retry_delay="1"), "checkpoint"),
        (lambda: kitaru.checkpoint(name=""), "name"),
        (lambda: kitaru.checkpoint(name="has space"), "name"),
        (lambda: kitaru.checkpoint(name=7), "name"),
        (lambda: kitaru.flow(name="bad/name"), "name"),
        (lambda: kitaru.flow(name="x" * 101), "name"),
        (lambda: kitaru.flow(name="-leading-dash"), "name"),
    ],
)
def test_bad_options_fail_when_applied_and_name_the_function(decorator: Any, field: str) -> None:
    apply = decorator()  # building the decorator itself is fine ...

    def fetch_report() -> None: ...

    with pytest.raises(KitaruValidationError) as info:
        apply(fetch_report)  # ... applying it checks the options
    assert "fetch_report" in str(info.value)
    assert info.value.field == field


def test_what_cannot_be_a_body_is_refused_with_the_function_named() -> None:
    def numbers() -> Any:
        yield 1

    with pytest.raises(KitaruValidationError, match=r"numbers.*generator"):
        kitaru.checkpoint(numbers)
    with pytest.raises(KitaruValidationError, match=r"numbers.*generator"):
        kitaru.flow(numbers)
    with pytest.raises(KitaruValidationError, match="class 'Agent'"):
        kitaru.flow(Agent)
    with pytest.raises(KitaruValidationError, match="must decorate a function"):
        kitaru.checkpoint("not-callable")  # type: ignore[call-overload]


# --- runtime context outside any flow (no flow run) ---------------------------


def test_runtime_context_outside_a_flow() -> None:
    assert kitaru.in_flow() is False
    assert kitaru.in_checkpoint() is False
    with pytest.raises(KitaruContextError, match="Not inside a kitaru flow"):
        kitaru.current_execution()


def test_checkpoint_outside_a_flow_is_refused_and_does_not_run() -> None:
    calls: list[int] = []

    @kitaru.checkpoint
    def record(x: int) -> int:
        calls.append(x)
        return x

    with pytest.raises(KitaruContextError, match="'record' was called outside a flow"):
        record(1)
    with pytest.raises(KitaruContextError, match="outside a flow"):
        record.submit(2)
    with pytest.raises(KitaruContextError, match="outside a flow"):
        Agent(2).scale(3)
    assert calls == []
    # The undecorated function stays callable, as the error message suggests.
    assert record.__wrapped__(5) == 5


# --- flows on ZenML -----------------------------------------------------------


def test_flow_runs_as_a_dynamic_pipeline_with_checkpoints_as_persisted_steps() -> None:
    handle = shape_flow.run(4, label="first")
    assert handle.status == "completed"
    result = handle.wait()
    assert handle.execution_id is not None

    assert result["double"] == 9 and result["double_2"] == 10
    assert result["method"] == 40 and result["method_submit"] == 50
    assert result["label"] == "first"

    # The runtime context in the flow body ...
    assert result["body"] == {
        "in_flow": True,
        "in_checkpoint": False,
        "flow": "shape-flow",
        "execution_id": handle.execution_id,
        "checkpoint": None,
    }
    # ... and inside checkpoints, sync and submitted to ZenML's worker threads.
    probes = [result["probe_sync"], *result["probe_submitted"]]
    for p in probes:
        assert p["in_flow"] is True and p["in_checkpoint"] is True
        assert p["flow"] == "shape-flow" and p["checkpoint"] == "probe-ctx"
        assert p["execution_id"] == handle.execution_id
    main = threading.current_thread().name
    assert result["probe_sync"]["thread"] == main
    assert all(p["thread"] != main for p in result["probe_submitted"])

    # ZenML: one pipeline run of the flow's name, one step run per checkpoint
    # call under its invocation ID, each output persisted and loadable.
    run = _run(handle.execution_id)
    assert run.pipeline.name == "shape-flow"
    assert _status(run) == "completed"
    # A plain-JSON result is kept in the execution's record: no extra step.
    assert not [k for k in run.steps if k.startswith("kitaru_result_")]
    steps = dict(run.steps)
    assert set(steps) == {
        "double",
        "double_2",
        "scale",
        "scale_2",
        "probe-ctx",
        "probe-ctx_2",
        "probe-ctx_3",
    }
    assert all(_status(s) == "completed" for s in steps.values())
    assert _outputs(steps["double"]) == [9]
    assert _outputs(steps["double_2"]) == [10]
    assert sorted(_outputs(steps["scale"]) + _outputs(steps["scale_2"])) == [40, 50]
    stored_probes = [_outputs(steps[k])[0] for k in ("probe-ctx", "probe-ctx_2", "probe-ctx_3")]
    assert sorted(p["tag"] for p in stored_probes) == ["sub0", "sub1", "sync"]

    # Calling the flow is ``.run(...).wait()``: a new execution with the same result shape.
    again = shape_flow(4, label="second")
    assert again["label"] == "second" and again["double"] == 9
    assert again["body"]["execution_id"] != handle.execution_id


_attempts: dict[str, int] = {}


@kitaru.checkpoint(retries=2, retry_delay=0)
def flaky(key: str, fail_times: int) -> str:
    _attempts[key] = _attempts.get(key, 0) + 1
    if _attempts[key] <= fail_times:
        raise ConnectionError(f"attempt {_attempts[key]} of {key} failed")
    return f"{key} ok after {_attempts[key]}"


@kitaru.checkpoint
def inner() -> int:
    return 1


@kitaru.checkpoint
def calls_inner() -> int:
    return inner()


@kitaru.checkpoint
def submits_inner() -> Any:
    return inner.submit()


@kitaru.flow
def nested_flow() -> int:
    return 1


@kitaru.flow
def misuse_flow(run_key: str) -> dict[str, Any]:
    """Misuses caught inside the flow body; the run itself completes."""
    caught: dict[str, Any] = {}
    for label, call in (
        ("checkpoint_in_checkpoint", calls_inner),
        ("submit_in_checkpoint", submits_inner),
        ("flow_in_flow", nested_flow),
    ):
        try:
            call()
        except KitaruContextError as exc:
            caught[label] = str(exc)
    caught["flaky"] = flaky(run_key, 2)  # succeeds on the third attempt
    return caught


@kitaru.flow
def failing_flow(run_key: str) -> str:
    return flaky(run_key, 5)  # more failures than retries


def test_misuse_inside_a_flow_raises_context_errors_and_retries_are_recorded(
    unique: str,
) -> None:
    handle = misuse_flow.run(f"ok-{unique}")
    caught = handle.wait()
    assert (
        "'inner' was called inside checkpoint 'calls_inner'" in caught["checkpoint_in_checkpoint"]
    )
    assert "'inner' was called inside checkpoint 'submits_inner'" in caught["submit_in_checkpoint"]
    assert "'nested_flow'" in caught["flow_in_flow"] and "misuse_flow" in caught["flow_in_flow"]
    assert caught["flaky"] == f"ok-{unique} ok after 3"
    assert _attempts[f"ok-{unique}"] == 3

    ex = kitaru.get_execution(handle.execution_id)
    by_id = {c.id: c for c in ex.checkpoints}
    assert by_id["flaky"].attempts == 3 and by_id["flaky"].status == "completed"
    assert by_id["calls_inner"].status == "failed"
    assert "inner" not in by_id  # refused before it started: no step run
    # No run was started for the nested flow.
    assert kitaru.list_executions(flow="nested_flow") == []


def test_failed_flow_handle_has_status_and_wait_raises_the_error(unique: str) -> None:
    handle = failing_flow.run(f"bad-{unique}")
    assert handle.status == "failed"
    assert isinstance(handle.error, ConnectionError)
    with pytest.raises(ConnectionError, match=f"attempt 3 of bad-{unique} failed"):
        handle.wait()
    assert _attempts[f"bad-{unique}"] == 3  # 1 try + 2 retries
    run = _run(handle.execution_id)
    assert _status(run) == "failed"
    # ZenML keeps a failed checkpoint's step `retrying`: a retry in place runs it again.
    assert _status(run.steps["flaky"]) == "retrying"
    [flaky] = [c for c in kitaru.get_execution(handle.execution_id).checkpoints]
    assert (flaky.status, flaky.attempts) == ("failed", 3)
    assert flaky.error is not None and f"attempt 3 of bad-{unique} failed" in flaky.error
    assert run.steps["flaky"].outputs == {}
    # Calling the flow raises the same way ``.wait()`` does.
    with pytest.raises(ConnectionError):
        failing_flow(f"bad2-{unique}")


# --- submitted checkpoints: errors ----------------------------------------------


@kitaru.checkpoint
def explode(x: int) -> int:
    raise ValueError(f"explode {x}")


@kitaru.flow
def catches_submitted_error() -> str:
    future = explode.submit(1)
    try:
        future.result()
    except ValueError as exc:
        return f"caught: {exc}"
    return "not caught"


@kitaru.flow
def forgets_submitted_error() -> int:
    explode.submit(2)  # never awaited
    return double(1)


def test_submitted_checkpoint_errors_behave_like_plain_python() -> None:
    # An error the flow catches from ``result()`` does not fail the flow ...
    handle = catches_submitted_error.run()
    assert handle.status == "completed", handle.error
    assert handle.wait() == "caught: explode 1"
    assert _status(_run(handle.execution_id).steps["explode"]) == "retrying"  # see above
    explode_call = kitaru.get_execution(handle.execution_id).checkpoints[0]
    assert (explode_call.id, explode_call.status) == ("explode", "failed")
    # ... and one nobody asked for is not lost: the flow fails with it.
    forgotten = forgets_submitted_error.run()
    assert forgotten.status == "failed"
    with pytest.raises(ValueError, match="explode 2"):
        forgotten.wait()


# --- async ----------------------------------------------------------------------


@kitaru.checkpoint
async def async_add(a: int, b: int) -> dict[str, Any]:
    await asyncio.sleep(0)
    return {"sum": a + b, "in_checkpoint": kitaru.in_checkpoint()}


@kitaru.flow
async def async_flow(a: int) -> dict[str, Any]:
    first = await async_add(a, 1)
    second = await async_add(a, 2)
    submitted = async_add.submit(a, 3).result()
    info = kitaru.current_execution()
    return {
        "sums": [first["sum"], second["sum"], submitted["sum"]],
        "in_checkpoint": [first["in_checkpoint"], submitted["in_checkpoint"]],
        "execution_id": info.execution_id,
    }


def test_async_flow_and_checkpoints() -> None:
    # ``asyncio.run(my_flow(...))``
    result = asyncio.run(async_flow(10))
    assert result["sums"] == [11, 12, 13]
    assert result["in_checkpoint"] == [True, True]
    run = _run(result["execution_id"])
    assert {k for k in run.steps if not k.startswith("kitaru_result_")} == {
        "async_add",
        "async_add_2",
        "async_add_3",
    }
    assert _outputs(run.steps["async_add_2"]) == [{"sum": 12, "in_checkpoint": True}]

    # ``await my_flow(...)`` from a running event loop, which stays responsive.
    async def main() -> tuple[dict[str, Any], int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        task = asyncio.create_task(ticker())
        try:
            out = await async_flow(20)
        finally:
            task.cancel()
        return out, ticks

    awaited, ticks = asyncio.run(main())
    assert awaited["sums"] == [21, 22, 23]
    assert ticks > 1  # the loop ran other tasks while the flow executed

    # ``.run(...)`` on an async flow returns a handle like a sync flow does.
    handle = async_flow.run(30)
    assert handle.status == "completed"
    assert handle.wait()["sums"] == [31, 32, 33]


# --- concurrency: independent executions, overlapping async checkpoints -------


@kitaru.checkpoint
async def timed_nap(tag: str) -> dict[str, Any]:
    import time

    start = time.monotonic()
    await asyncio.sleep(1)
    return {"tag": tag, "start": start, "end": time.monotonic()}


@kitaru.flow(name="gather-flow")
async def gather_flow() -> list[dict[str, Any]]:
    return list(await asyncio.gather(timed_nap("a"), timed_nap("b"), timed_nap("c")))


def test_gathered_async_checkpoints_overlap_instead_of_running_one_by_one() -> None:
    naps = asyncio.run(gather_flow())
    assert sorted(n["tag"] for n in naps) == ["a", "b", "c"]
    # Every nap started before any other ended: they ran at the same time.
    assert max(n["start"] for n in naps) < min(n["end"] for n in naps)


@kitaru.checkpoint
def tagged(tag: str, secret: str) -> str:
    kitaru.get_secret(secret).get("TOKEN")
    return f"{tag}:{kitaru.current_execution().execution_id}"


@kitaru.flow(name="same-flow-many-times")
def same_flow(tag: str, secret: str) -> dict[str, Any]:
    return {"tag": tag, "out": tagged(tag, secret), "id": kitaru.current_execution().execution_id}


def test_one_flow_started_at_once_from_tasks_and_threads_gives_independent_runs(
    unique: str,
) -> None:
    secret = f"many-{unique}"
    kitaru.set_secret(secret, {"TOKEN": "t-" + unique})

    async def three_tasks() -> list[Any]:
        return list(
            await asyncio.gather(
                *(asyncio.to_thread(same_flow.run, f"task{i}", secret) for i in range(3))
            )
        )

    handles = asyncio.run(three_tasks())
    threads_out: dict[str, Any] = {}

    def in_thread(tag: str) -> None:
        threads_out[tag] = same_flow.run(tag, secret)

    workers = [threading.Thread(target=in_thread, args=(f"thread{i}",)) for i in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    handles += [threads_out["thread0"], threads_out["thread1"]]
    assert len({h.execution_id for h in handles}) == 5
    for h in handles:
        result = h.wait()
        assert result["id"] == h.execution_id
        assert result["out"] == f"{result['tag']}:{h.execution_id}"
        assert [(r.secret, r.checkpoint) for r in h.secret_reads] == [(secret, "tagged")]
    assert sorted(h.wait()["tag"] for h in handles) == [
        "task0",
        "task1",
        "task2",
        "thread0",
        "thread1",
    ]


@kitaru.flow(name="tuple-result")
def tuple_result(n: int) -> Any:
    return (double(n), {1: "int key"}, float("nan"))


def test_a_result_that_is_not_plain_json_comes_back_exactly_through_an_artifact() -> None:
    handle = tuple_result.run(3)
    value = handle.wait()
    assert value[:2] == (6, {1: "int key"}) and value[2] != value[2]  # tuple, int key, NaN
    run = _run(handle.execution_id)
    result_steps = [k for k in run.steps if k.startswith("kitaru_result_")]
    assert len(result_steps) == 1


def test_runtime_option_is_checked_when_applied() -> None:
    def heavy() -> int:
        return 1

    with pytest.raises(KitaruValidationError) as info:
        kitaru.checkpoint(runtime="remote")(heavy)
    assert "heavy" in str(info.value) and "'inline' or 'isolated'" in str(info.value)


@kitaru.checkpoint(runtime="isolated")
def isolated_here(x: int) -> int:
    return x * 3


@kitaru.flow(name="isolated-on-local")
def isolated_on_local() -> list[int]:
    return [isolated_here(1), isolated_here(2)]


def test_isolated_checkpoint_runs_inline_with_one_warning_on_the_local_orchestrator() -> None:
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        handle = isolated_on_local.run()
        assert handle.wait() == [3, 6]
    mine = [w for w in caught if "cannot run isolated steps" in str(w.message)]
    assert len(mine) == 1 and handle.execution_id in str(mine[0].message)
    with pytest.raises(KitaruContextError):
        isolated_here.submit(1)  # outside a flow, and .submit() is for inline checkpoints
