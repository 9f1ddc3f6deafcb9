"""The progress and summary parsers on autoresearch's exact output format."""

from __future__ import annotations

import math

import pytest

from evo.evaluation.parsing import DEFAULT_PROGRESS, MAX_LINE_CHARS, LineSplitter, OutputParser, compile_progress

# autoresearch's train.py prints this block verbatim at the end of a run (its README shows the same).
AUTORESEARCH_SUMMARY = """\
---
val_bpb:          0.997900
training_seconds: 300.1
total_seconds:    325.9
peak_vram_mb:     45060.2
mfu_percent:      39.80
total_tokens_M:   499.6
num_steps:        953
num_params_M:     50.3
depth:            8
"""

# autoresearch's progress line, written with a carriage return and trailing spaces so it overwrites itself.
AUTORESEARCH_PROGRESS = (
    "\rstep 00120 (12.6%) | loss: 3.456789 | lrm: 1.00 | dt: 312ms | tok/sec: 1,680,123 | mfu: 39.5% | "
    "epoch: 0 | remaining: 262s    "
)


def parse(text: str, budget: float = 300.0) -> OutputParser:
    parser = OutputParser(compile_progress(DEFAULT_PROGRESS), budget)
    splitter = LineSplitter()
    for line in [*splitter.feed(text.encode()), *splitter.close()]:
        parser.feed(line)
    return parser


def test_autoresearch_summary_block_parses_to_numbers() -> None:
    parser = parse("some log line\n" + AUTORESEARCH_SUMMARY)
    assert parser.summary == {
        "val_bpb": 0.9979,
        "training_seconds": 300.1,
        "total_seconds": 325.9,
        "peak_vram_mb": 45060.2,
        "mfu_percent": 39.8,
        "total_tokens_M": 499.6,
        "num_steps": 953.0,
        "num_params_M": 50.3,
        "depth": 8.0,
    }


def test_autoresearch_progress_line_with_carriage_returns_becomes_curve_points() -> None:
    second = AUTORESEARCH_PROGRESS.replace("00120 (12.6%)", "00240 (25.0%)").replace("3.456789", "3.100000")
    parser = parse(AUTORESEARCH_PROGRESS + second + "\n" + AUTORESEARCH_SUMMARY)
    assert parser.curve == [pytest.approx((0.126 * 300, 3.456789)), pytest.approx((75.0, 3.1))]
    assert parser.summary["val_bpb"] == 0.9979


def test_only_the_last_summary_block_counts_and_progress_lines_are_not_summary_values() -> None:
    text = "---\nval_bpb: 5.0\nextra: 1\n" + "step 00001 (50.0%) | loss: 2.0\n" + "---\nval_bpb: 1.5\n"
    parser = parse(text, budget=10.0)
    assert parser.summary == {"val_bpb": 1.5}
    assert parser.curve == [(5.0, 2.0)]


def test_non_numeric_and_non_finite_values_are_kept_as_printed() -> None:
    parser = parse("---\nval_bpb: nan\ncorpus: pystdlib\ntok: 1,234\n")
    assert math.isnan(parser.summary["val_bpb"])
    assert parser.summary["corpus"] == "pystdlib"
    assert parser.summary["tok"] == 1234.0


def test_nan_progress_points_are_skipped_not_recorded() -> None:
    parser = parse("step 00001 (10.0%) | loss: nan\nstep 00002 (20.0%) | loss: 2.5\n", budget=10.0)
    assert parser.curve == [(2.0, 2.5)]


def test_custom_pattern_with_elapsed_seconds() -> None:
    parser = OutputParser(compile_progress(r"t=(?P<t>[\d.]+)s loss=(?P<value>[\d.]+)"), 60.0)
    assert parser.feed("t=12.5s loss=0.75") == (12.5, 0.75)


def test_a_pattern_without_the_needed_groups_is_refused() -> None:
    with pytest.raises(ValueError, match="value"):
        compile_progress(r"loss=(?P<loss>[\d.]+)")


def test_splitter_joins_lines_and_utf8_split_across_chunks() -> None:
    splitter = LineSplitter()
    data = "héllo\r\nwörld\rend".encode()
    lines = []
    for i in range(len(data)):
        lines += splitter.feed(data[i : i + 1])
    assert lines + splitter.close() == ["héllo", "", "wörld", "end"] or lines + splitter.close() == [
        "héllo",
        "wörld",
        "end",
    ]


def test_splitter_cuts_a_line_without_end_so_memory_stays_bounded() -> None:
    splitter = LineSplitter()
    lines = splitter.feed(b"x" * (MAX_LINE_CHARS + 10))
    assert lines == ["x" * MAX_LINE_CHARS]
    assert splitter.close() == []
