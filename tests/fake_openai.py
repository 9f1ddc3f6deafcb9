"""A fake OpenAI-compatible server, so LLM-operator tests exercise the real `openai` client's request path.

It is a real HTTP server on 127.0.0.1 that plays a script: a queue of steps, one per chat-completion request, each a
well-formed completion or one of the ways real endpoints fail (an HTTP error, a slow answer, a body that is not JSON,
a body cut short, no choices). Every request is recorded, so a test can assert what the client actually sent.

    def test_something(fake_openai):
        fake_openai.script(Completion("<<<<<<< SEARCH ..."), HttpError(429, retry_after=0.1))
        client = openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-test", max_retries=0)
        ...
        assert fake_openai.requests[0].body["model"] == "m"
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = [
    "Completion",
    "EmptyChoices",
    "FakeOpenAI",
    "Hangup",
    "HttpError",
    "Malformed",
    "RecordedRequest",
    "Slow",
    "Step",
    "Truncated",
    "fake_openai",
]

CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
MODELS_PATHS = ("/v1/models", "/models")
FAKE_MODELS = ("fake-model",)


# --------------------------------------------------------------------------------------------------------------------
# Script steps
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Completion:
    """A well-formed chat completion. Token counts default to about one per four characters, as real tokenizers give."""

    content: str | None
    finish_reason: str = "stop"  # "length" when the model ran out of max_tokens mid-answer
    prompt_tokens: int | None = None  # None: derived from the request's messages
    completion_tokens: int | None = None  # None: derived from `content`
    refusal: str | None = None  # a safety refusal; real APIs then send content None
    model: str | None = None  # None: echo the requested model, as OpenAI does


@dataclass(frozen=True)
class HttpError:
    """An HTTP error with OpenAI's error envelope; a `str` body is sent as text/plain, as proxies in front of a model
    server do."""

    status: int
    message: str = ""  # "" : a default for the status
    retry_after: float | None = None  # seconds, sent as the `Retry-After` header (the client honours up to 120 s)
    body: str | dict[str, Any] | None = None  # overrides the envelope entirely
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Slow:
    """Wait `delay` seconds, then play `then`; a client with a shorter timeout gives up first."""

    delay: float
    then: Step = field(default_factory=lambda: Completion("late answer"))


@dataclass(frozen=True)
class Malformed:
    """A 200 whose body is not JSON (an HTML error page from a proxy, a half-written log line)."""

    body: str = "<html><body>502 Bad Gateway</body></html>"
    content_type: str = "application/json"  # what the server claims; the client's behaviour depends on it
    status: int = 200


@dataclass(frozen=True)
class Truncated:
    """A completion whose body stops after `fraction` of its bytes while Content-Length promises them all, then the
    connection closes: what a crashing server or a dropped proxy connection looks like."""

    content: str = "truncated answer"
    fraction: float = 0.5


@dataclass(frozen=True)
class EmptyChoices:
    """A well-formed completion with an empty `choices` list (some compatible servers do this on internal errors)."""


@dataclass(frozen=True)
class Hangup:
    """Read the request, then close the connection without answering."""


Step = Completion | HttpError | Slow | Malformed | Truncated | EmptyChoices | Hangup


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it; header names are lower-cased, `body` is the parsed JSON (None if not)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


_DEFAULT_MESSAGES = {
    400: ("Bad request.", "invalid_request_error"),
    401: ("Incorrect API key provided.", "invalid_request_error"),
    403: ("You are not allowed to use this model.", "invalid_request_error"),
    404: ("The model does not exist.", "invalid_request_error"),
    429: ("Rate limit reached for requests.", "requests"),
    500: ("The server had an error while processing your request.", "server_error"),
    503: ("The engine is currently overloaded, please try again later.", "server_error"),
}


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _prompt_text(body: Any) -> str:
    messages = body.get("messages", []) if isinstance(body, dict) else []
    return "".join(
        m.get("content") or "" for m in messages if isinstance(m, dict) and isinstance(m.get("content"), str)
    )


def _prompt_tokens(body: Any) -> int:
    return _tokens(_prompt_text(body))


def _shared(a: str, b: str) -> int:
    """How many leading characters `a` and `b` share."""
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def completion_body(step: Completion, request: Any, ident: int, cached: int | None = None) -> dict[str, Any]:
    """The JSON a real endpoint returns for `step`, shaped exactly like an OpenAI chat completion (with `cached`,
    the prompt tokens its prompt cache served, as `usage.prompt_tokens_details.cached_tokens`)."""
    requested = request.get("model") if isinstance(request, dict) else None
    prompt = step.prompt_tokens if step.prompt_tokens is not None else _prompt_tokens(request)
    completion = step.completion_tokens if step.completion_tokens is not None else _tokens(step.content or "")
    return {
        "id": f"chatcmpl-fake{ident:06d}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": step.model or requested or FAKE_MODELS[0],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": step.content, "refusal": step.refusal},
                "logprobs": None,
                "finish_reason": step.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            **({"prompt_tokens_details": {"cached_tokens": cached}} if cached is not None else {}),
        },
        "system_fingerprint": "fp_fake",
    }


def error_body(status: int, message: str = "", kind: str = "") -> dict[str, Any]:
    default_message, default_kind = _DEFAULT_MESSAGES.get(status, (f"HTTP {status}.", "server_error"))
    return {"error": {"message": message or default_message, "type": kind or default_kind, "param": None, "code": None}}


# --------------------------------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects
    disable_nagle_algorithm = True  # headers and body go out in two writes; Nagle would hold the body ~40 ms
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures, not access logs
        pass

    def do_GET(self) -> None:
        self._record(None)
        if self.path.split("?")[0] in MODELS_PATHS:
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "evo-tests"} for m in FAKE_MODELS]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_json(404, error_body(404, f"fake_openai: no route GET {self.path}"))

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self._record(body)
        if self.path.split("?")[0] not in CHAT_PATHS:
            self._send_json(404, error_body(404, f"fake_openai: no route POST {self.path}"))
            return
        if isinstance(body, dict) and body.get("stream"):
            self._send_json(400, error_body(400, "fake_openai: streaming is not supported"))
            return
        step, ident = self.server.fake.next_step(body)
        if step is None:
            msg = f"fake_openai: script exhausted after {ident - 1} chat requests; add steps with .script(...)"
            # x-should-retry: false, so a client with retries fails at once instead of backing off on our 500.
            self._send_json(500, error_body(500, msg, "fake_script_exhausted"), {"x-should-retry": "false"})
            return
        self._play(step, body, ident)

    def _play(self, step: Step, body: Any, ident: int) -> None:
        if isinstance(step, Slow):
            if self.server.stopping.wait(step.delay):
                self.close_connection = True
                return
            self._play(step.then, body, ident)
        elif isinstance(step, Completion):
            self._send_json(200, completion_body(step, body, ident, self.server.fake.cached_tokens(body)))
        elif isinstance(step, HttpError):
            headers = dict(step.headers)
            if step.retry_after is not None:
                headers["retry-after"] = f"{step.retry_after:g}"
            if isinstance(step.body, str):
                self._send_bytes(step.status, step.body.encode(), "text/plain; charset=utf-8", headers)
            else:
                self._send_json(
                    step.status, step.body if step.body is not None else error_body(step.status, step.message), headers
                )
        elif isinstance(step, Malformed):
            self._send_bytes(step.status, step.body.encode(), step.content_type)
        elif isinstance(step, Truncated):
            data = json.dumps(completion_body(Completion(step.content), body, ident)).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self._write(data[: int(len(data) * step.fraction)])
            self.close_connection = True
        elif isinstance(step, EmptyChoices):
            data = completion_body(Completion(""), body, ident)
            data["choices"] = []
            self._send_json(200, data)
        elif isinstance(step, Hangup):
            self.close_connection = True
        else:  # pragma: no cover - a test wrote a bad script
            self._send_json(500, error_body(500, f"fake_openai: unknown step {step!r}"))

    def _record(self, body: Any) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.fake.record(RecordedRequest(self.command, self.path, headers, body))

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(payload).encode(), "application/json", headers)

    def _send_bytes(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self._write(data)

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:  # the client gave up (its timeout fired) before we answered
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a handler parked in a keep-alive read must not hold up teardown

    def __init__(self, fake: FakeOpenAI) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake
        self.stopping = threading.Event()


class FakeOpenAI:
    """The server and its script; use as a context manager, or through the `fake_openai` fixture."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._steps: deque[Step] = deque()
        self._ids = itertools.count(1)
        self.requests: list[RecordedRequest] = []
        self._responder: Callable[[Any], Step] | None = None
        self._prefix_cache = False
        self._server = _Server(self)
        # A short poll interval: shutdown() waits up to one interval, and every test tears a server down.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-openai", daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST"]

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._steps)

    def script(self, *steps: Step) -> FakeOpenAI:
        """Queue steps; each chat request plays the next one."""
        with self._lock:
            self._steps.extend(steps)
        return self

    def cache_prompts(self) -> FakeOpenAI:
        """Report cached prompt tokens as an endpoint with prefix caching does: the tokens of the longest prefix a
        request's messages share with an earlier request's."""
        self._prefix_cache = True
        return self

    def cached_tokens(self, body: Any) -> int | None:
        """What `cache_prompts` reports for `body` (already recorded as the last request); None when off."""
        if not self._prefix_cache:
            return None
        text = _prompt_text(body)
        with self._lock:
            earlier = [_prompt_text(r.body) for r in self.requests[:-1] if r.method == "POST"]
        return max((_tokens(text[: _shared(text, other)]) for other in earlier), default=0)

    def answer_with(self, responder: Callable[[Any], Step]) -> FakeOpenAI:
        """Answer each request the script leaves unanswered with `responder(body)` (the request's parsed JSON), e.g.
        by the model it asks for."""
        self._responder = responder
        return self

    def next_step(self, body: Any = None) -> tuple[Step | None, int]:
        with self._lock:
            if self._steps:
                return self._steps.popleft(), next(self._ids)
            return (self._responder(body) if self._responder else None), next(self._ids)

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.stopping.set()  # wakes Slow steps so they do not outlive the test
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture(name="fake_openai")
def fake_openai() -> Iterator[FakeOpenAI]:
    """A running fake server with an empty script; shut down after the test."""
    with FakeOpenAI() as server:
        yield server
