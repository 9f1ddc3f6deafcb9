"""A size-capped log: keeps the head and the tail of a candidate's output, drops the middle of a flood."""

from __future__ import annotations

from pathlib import Path


class CappedLog:
    """Writes the first half of the cap straight to disk and holds a rolling tail of the other half in memory.

    The tail matters most (the summary block, the traceback), so it is always kept; the file never exceeds the cap
    plus one marker line.
    """

    def __init__(self, path: Path, cap_bytes: int) -> None:
        self.path = path
        self._head_left = cap_bytes // 2
        self._tail_cap = cap_bytes - self._head_left
        self._tail = bytearray()
        self._dropped = 0
        self._file = path.open("wb")

    def write(self, data: bytes) -> None:
        if self._head_left > 0:
            head = data[: self._head_left]
            self._file.write(head)
            self._head_left -= len(head)
            data = data[len(head) :]
        if not data:
            return
        self._tail += data
        excess = len(self._tail) - self._tail_cap
        if excess > self._tail_cap:  # trim in large steps so a flood costs amortised O(1) per byte
            del self._tail[:excess]
            self._dropped += excess

    def tail_text(self, max_bytes: int = 4096) -> str:
        """The last output, for error messages; complete once the log is closed."""
        tail = bytes(self._tail[-max_bytes:]) if self._tail else self.path.read_bytes()[-max_bytes:]
        return tail.decode("utf-8", errors="replace")

    def close(self) -> None:
        excess = len(self._tail) - self._tail_cap
        if excess > 0:
            del self._tail[:excess]
            self._dropped += excess
        if self._dropped:
            self._file.write(f"\n[evo: {self._dropped} bytes of output omitted]\n".encode())
        self._file.write(self._tail)
        self._file.close()
