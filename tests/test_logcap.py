"""The size-capped log keeps the head and the tail of a flood."""

from __future__ import annotations

from pathlib import Path

from evo.evaluation.logcap import CappedLog


def test_a_flood_is_capped_keeping_head_tail_and_a_marker(tmp_path: Path) -> None:
    log = CappedLog(tmp_path / "log.txt", cap_bytes=1000)
    log.write(b"HEAD" + b"a" * 496)
    for _ in range(1000):
        log.write(b"b" * 997 + b"\n..")
    log.write(b"THE END")
    log.close()
    data = (tmp_path / "log.txt").read_bytes()
    assert data.startswith(b"HEAD")
    assert data.endswith(b"THE END")
    assert b"bytes of output omitted" in data
    assert len(data) < 1000 + 100
    assert log.tail_text(7) == "THE END"


def test_small_output_is_kept_whole(tmp_path: Path) -> None:
    log = CappedLog(tmp_path / "log.txt", cap_bytes=1000)
    log.write(b"one\ntwo\n")
    log.close()
    assert (tmp_path / "log.txt").read_bytes() == b"one\ntwo\n"
    assert log.tail_text() == "one\ntwo\n"
