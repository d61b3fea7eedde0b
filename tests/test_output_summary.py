"""Outputs are summarised without materialising their full ``repr`` (bounded reprlib)."""

from __future__ import annotations

import dataclasses
import tracemalloc
from typing import Any

import pytest
from pydantic import BaseModel

from kitaru._run.output_summary import summarise
from kitaru.executions import SUMMARY_CHARS


class Report(BaseModel):
    title: str
    body: str


@dataclasses.dataclass
class Blob:
    name: str
    data: bytes


BIG = 20_000_000  # characters or bytes: a repr of any of these would be >= 20 MB


@pytest.mark.parametrize(
    "value",
    [
        "a b " * (BIG // 4),
        b"\x00" * BIG,
        bytearray(BIG),
        {"text": "x" * BIG, "n": 1},
        ["y" * BIG, 2, 3],
        Report(title="t", body="z" * BIG),
        Blob(name="b", data=b"\x01" * BIG),
    ],
    ids=["str", "bytes", "bytearray", "dict", "list", "pydantic", "dataclass"],
)
def test_a_big_output_is_summarised_in_bounded_memory(value: Any) -> None:
    tracemalloc.start()
    try:
        text = summarise(value, SUMMARY_CHARS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 0 < len(text) <= SUMMARY_CHARS and "\n" not in text
    assert peak < 1_000_000, peak  # a full repr alone would be 20 MB


def test_small_outputs_read_as_before() -> None:
    assert summarise("hello") == "'hello'"
    assert summarise({"a": 1}) == "{'a': 1}"
    assert summarise("line one\n  line two") == "'line one\\n line two'"
    long = summarise("w" * 500)
    assert long.startswith("'www") and long.endswith("…") and len(long) == SUMMARY_CHARS
    assert summarise(Report(title="t", body="b")) == "Report(title='t', body='b')"
