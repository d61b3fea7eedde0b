"""kitaru.llm() overhead against raw litellm.completion to the same local server.

Targets (issue: kitaru.llm() and model aliases):
- inside a checkpoint: at most 10 ms more per call than the raw litellm call;
- from a flow body (each call is its own durable checkpoint): at most 100 ms per call.

All calls go to kitaru.testing.LocalOpenAIServer on 127.0.0.1, in one warm
process, interleaved; medians over N calls. Run: python benchmarks/bench_llm.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid

N = int(os.environ.get("BENCH_N", "30"))


def main() -> int:
    if "KITARU_CONFIG_PATH" in os.environ:
        return _bench()
    # Run alone, the benchmark gets a store of its own, removed when it ends.
    with tempfile.TemporaryDirectory(prefix="kitaru-bench-llm-") as config:
        os.environ["KITARU_CONFIG_PATH"] = config
        return _bench()


def _bench() -> int:
    os.environ.pop("OPENAI_API_KEY", None)
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

    import kitaru
    from kitaru.testing import LocalOpenAIServer

    with LocalOpenAIServer() as server:
        key = f"sk-bench-{uuid.uuid4().hex}"
        kitaru.set_secret("bench-llm", {"OPENAI_API_KEY": key})
        kitaru.register_model("bench", "openai/bench", secret="bench-llm", api_base=server.base_url)

        import litellm

        def raw_call(i: int) -> float:
            t = time.perf_counter()
            litellm.completion(
                model="openai/bench",
                messages=[{"role": "user", "content": f"raw {i}"}],
                api_key=key,
                api_base=server.base_url,
            )
            return time.perf_counter() - t

        in_checkpoint: list[float] = []
        raw_beside: list[float] = []

        @kitaru.checkpoint
        def many_calls(n: int) -> int:
            for i in range(n):
                raw_beside.append(raw_call(i))
                t = time.perf_counter()
                kitaru.llm(f"kitaru {i}", model="bench")
                in_checkpoint.append(time.perf_counter() - t)
            return n

        @kitaru.flow
        def bench_in_checkpoint(n: int) -> int:
            return many_calls(n)

        @kitaru.flow
        def bench_flow_body(n: int) -> list[float]:
            times = []
            for i in range(n):
                t = time.perf_counter()
                kitaru.llm(f"body {i}", model="bench", name="body")
                times.append(time.perf_counter() - t)
            return times

        # Warm-up: litellm import, first connection, first flow run.
        raw_call(-1)
        bench_in_checkpoint(2)
        in_checkpoint.clear()
        raw_beside.clear()
        bench_flow_body(2)

        bench_in_checkpoint(N)
        body_times = bench_flow_body(N)

    raw_ms = statistics.median(raw_beside) * 1000
    cp_ms = statistics.median(in_checkpoint) * 1000
    body_ms = statistics.median(body_times) * 1000
    extra = cp_ms - raw_ms
    ok1 = extra <= 10.0
    ok2 = body_ms <= 100.0
    print(f"raw litellm.completion (median of {N}):        {raw_ms:8.2f} ms")
    print(
        f"kitaru.llm() inside a checkpoint:              {cp_ms:8.2f} ms  -> extra {extra:+.2f} ms "
        f"(ratio {cp_ms / raw_ms:.2f}x; target extra <= 10 ms) {'PASS' if ok1 else 'FAIL'}"
    )
    print(
        f"kitaru.llm() from a flow body (own checkpoint): {body_ms:8.2f} ms per call "
        f"(ratio {body_ms / raw_ms:.2f}x raw; target <= 100 ms) {'PASS' if ok2 else 'FAIL'}"
    )
    return 0 if ok1 and ok2 else 1


if __name__ == "__main__":
    sys.exit(main())
