"""The output-only pass: a constant that only feeds printouts is found, one with any real use is not."""

from __future__ import annotations

import textwrap

import pytest

from evo.operators.constant_flow import output_only


@pytest.mark.parametrize(
    ("source", "printed"),
    [
        # through a derived name into an f-string
        ("PEAK = 1e15\nmfu = 100 * flops / dt / PEAK\nprint(f'mfu: {mfu:.1f}%')\n", True),
        # straight into print, through a conditional expression and a pure builtin
        ("PEAK = 1e15\nprint('mfu', round(x / PEAK if x > 0 else 0, 2))\n", True),
        # str.format, %-formatting and a logger
        ("X = 3\nmsg = '{}'.format(X)\nline = 'x=%d' % X\nprint(msg, line)\n", True),
        ("import logging\nlogger = logging.getLogger()\nX = 3\nlogger.info('x=%d', X * 2)\n", True),
        # a name that feeds itself, then is printed
        ("X = 0.5\ntotal = 0\nfor i in range(3):\n    total += X\nprint(total)\n", True),
        # a derived name nobody reads is no real use either
        ("X = 3\nunused = X * 2\nprint(X)\n", True),
        # real uses
        ("X = 3\ny = X * 2\nprint(y)\nmodel(y)\n", False),
        ("X = 3\nassert X > 0\nprint(X)\n", False),
        ("X = 3\nif X > 2:\n    pass\n", False),
        ("X = 3\ny = math.log(X)\nprint(y)\n", False),  # math.log is no logger
        ("X = 3\nconfig = {'x': X}\nprint(config)\n", False),  # a dict is not followed
        ("X = 3\nprint(X)\ndef f(X):\n    return X\n", False),  # names are followed by name, whatever the scope
        ("X = 3\n", False),  # never read: it may be read elsewhere
        ("X = 3\nprint(X)\nreport({k: v for k, v in globals().items() if k.isupper()})\n", False),  # read unnamed
    ],
)
def test_a_constant_is_output_only_when_every_use_ends_in_output(source: str, printed: bool) -> None:
    assert ("X" in output_only(source) or "PEAK" in output_only(source)) is printed


def test_the_mfu_block_of_a_training_loop() -> None:
    source = textwrap.dedent(
        """\
        H100_BF16_PEAK_FLOPS = 989.5e12
        TOTAL_BATCH_SIZE = 2**19
        num_flops_per_token = model.estimate_flops()
        while True:
            for micro_step in range(TOTAL_BATCH_SIZE // 65536):
                backward()
            dt = step()
            tok_per_sec = int(TOTAL_BATCH_SIZE / dt)
            mfu = 100 * num_flops_per_token * TOTAL_BATCH_SIZE / dt / H100_BF16_PEAK_FLOPS
            print(f"\\rtok/sec: {tok_per_sec:,} | mfu: {mfu:.1f}%", end="", flush=True)
            if dt > 1:
                break
        total_tokens = step * TOTAL_BATCH_SIZE
        """
    )
    printed = output_only(source)
    assert {"H100_BF16_PEAK_FLOPS", "mfu", "tok_per_sec", "num_flops_per_token"} <= printed
    assert "TOTAL_BATCH_SIZE" not in printed and "dt" not in printed


def test_a_file_that_does_not_parse_has_none() -> None:
    assert output_only("X = (\n") == frozenset()
