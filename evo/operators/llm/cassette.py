"""Record and replay LLM exchanges, so a search can be reproduced without an endpoint.

A cassette is a JSON-lines file, one exchange per line, keyed by a hash of the request (model, messages,
temperature, max_tokens). Repeated identical requests replay their answers in the order they were recorded.
Failures are recorded too, so a replay fails where the original did. Nothing about the endpoint's credentials is
in a request, so nothing secret reaches the file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from evo.config import LLMSection, ModelConfig
from evo.errors import EvoError
from evo.operators.base import Usage
from evo.operators.llm.client import Chat, LLMFailure, Message, Reply


def request_key(model: ModelConfig, messages: Sequence[Message], settings: LLMSection) -> str:
    request = {
        "model": model.name,
        "messages": list(messages),
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
    }
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()


class RecordingChat:
    """Passes calls to a live chat and appends each exchange to the cassette as it happens (a kill loses none)."""

    def __init__(self, inner: Chat, path: Path) -> None:
        self._inner, self._path = inner, path
        path.parent.mkdir(parents=True, exist_ok=True)

    def complete(self, model: ModelConfig, messages: Sequence[Message], settings: LLMSection) -> Reply:
        entry: dict[str, Any] = {
            "key": request_key(model, messages, settings),
            "model": model.name,
            "messages": list(messages),
        }
        try:
            reply = self._inner.complete(model, messages, settings)
        except LLMFailure as exc:
            self._append({**entry, "error": str(exc), "usage": asdict(exc.usage)})
            raise
        self._append({**entry, "text": reply.text, "reply_model": reply.model, "usage": asdict(reply.usage)})
        return reply

    def _append(self, entry: dict[str, Any]) -> None:
        with self._path.open("a") as handle:
            handle.write(json.dumps(entry) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


class ReplayChat:
    """Answers from a cassette only; a request it never saw is a failure that names the cassette."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise EvoError(f"cassette {path} not found")
        self._path = path
        self._entries: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                self._entries[entry["key"]].append(entry)
            except (ValueError, KeyError, TypeError):
                raise EvoError(f"{path}, line {number}: not a cassette entry") from None
        self._used: dict[str, int] = defaultdict(int)

    def complete(self, model: ModelConfig, messages: Sequence[Message], settings: LLMSection) -> Reply:
        key = request_key(model, messages, settings)
        recorded = self._entries.get(key, [])
        if self._used[key] >= len(recorded):
            raise LLMFailure(f"cassette {self._path.name} has no recorded answer for this {model.name} request")
        entry = recorded[self._used[key]]
        self._used[key] += 1
        usage = Usage(**entry.get("usage", {}))
        if "error" in entry:
            raise LLMFailure(entry["error"], usage)
        return Reply(entry["text"], entry.get("reply_model", model.name), usage)
