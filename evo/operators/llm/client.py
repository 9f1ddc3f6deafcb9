"""Chat completions through the real `openai` client, at any OpenAI-compatible endpoint, with bounded retries.

The client's own retries are off (`max_retries=0`) so that evo owns the policy: rate limits, 5xx, timeouts and
connection errors are retried with capped exponential backoff, honouring `Retry-After`; other errors and unusable
answers (empty, refused, truncated) fail at once with a one-line reason. Every call's tokens and cost are counted.
The API key is read from the environment when the client is made and is never stored anywhere else.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import openai

from evo.config import LLMSection, ModelConfig
from evo.operators.base import Usage

Message = dict[str, str]  # {"role": ..., "content": ...}


class LLMFailure(Exception):
    """A call that produced no usable answer; the message says why in one line, `kind` says what failed (one of
    `evo.operators.base.FAILURES`) so the search can tell a broken setup from a bad answer."""

    def __init__(self, reason: str, usage: Usage | None = None, kind: str = "answer") -> None:
        super().__init__(reason)
        self.usage = usage or Usage()
        self.kind = kind


@dataclass(frozen=True)
class Reply:
    text: str
    model: str
    usage: Usage


class Chat(Protocol):
    """Anything that answers a chat: the live endpoint, or a cassette replaying one."""

    def complete(self, model: ModelConfig, messages: Sequence[Message], settings: LLMSection) -> Reply: ...


@dataclass
class Spend:
    """Running totals and caps for a run's LLM use; a call is refused once a cap is reached."""

    max_cost: float | None = None
    max_tokens: int | None = None
    total: Usage = field(default_factory=Usage)

    def check(self) -> None:
        if self.max_cost is not None and self.total.cost >= self.max_cost:
            raise LLMFailure(f"LLM cost cap reached ({self.total.cost:.4f} >= {self.max_cost:g})", kind="cap")
        tokens = self.total.prompt_tokens + self.total.completion_tokens
        if self.max_tokens is not None and tokens >= self.max_tokens:
            raise LLMFailure(f"LLM token cap reached ({tokens} >= {self.max_tokens})", kind="cap")

    def add(self, usage: Usage) -> None:
        self.total = self.total + usage


_RETRYABLE = (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError)
_STATUS_KINDS = {401: "auth", 403: "auth", 404: "model"}  # a wrong key, a wrong model name or path


def _unreachable(exc: Exception) -> bool:
    """A connection refused or a host that does not resolve (not a timeout or a connection dropped mid-answer)."""
    if isinstance(exc, openai.APITimeoutError) or not isinstance(exc, openai.APIConnectionError):
        return False
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, (ConnectionRefusedError, socket.gaierror)):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


class OpenAIChat:
    """The live endpoint. One `openai.OpenAI` client per (base_url, key variable), made on first use."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self._clients: dict[tuple[str | None, str], openai.OpenAI] = {}
        self._sleep = sleep

    def _client(self, model: ModelConfig, settings: LLMSection) -> openai.OpenAI:
        key = (model.base_url, model.api_key_env)
        if key not in self._clients:
            # local servers (vLLM, Ollama, llama.cpp) take any key; the client insists on one
            api_key = os.environ.get(model.api_key_env) or "no-key"
            base_url = model.base_url or os.environ.get("OPENAI_BASE_URL") or None
            self._clients[key] = openai.OpenAI(
                api_key=api_key, base_url=base_url, max_retries=0, timeout=settings.timeout
            )
        return self._clients[key]

    def complete(self, model: ModelConfig, messages: Sequence[Message], settings: LLMSection) -> Reply:
        client = self._client(model, settings)
        wait = settings.backoff
        for attempt in range(settings.retries + 1):
            try:
                response = client.chat.completions.create(
                    model=model.name,
                    messages=list(messages),
                    temperature=settings.temperature,
                    max_tokens=settings.max_tokens,
                    timeout=settings.timeout,
                )
                return _reply(response, model, settings)
            except _RETRYABLE as exc:
                if _unreachable(exc):  # nothing listens there: retrying would only delay the message
                    raise LLMFailure(_describe(exc, model), kind="endpoint") from None
                if attempt == settings.retries:
                    reason = f"{_describe(exc, model)}; gave up after {attempt + 1} attempts"
                    raise LLMFailure(reason, kind="unavailable") from None
                self._sleep(min(settings.max_backoff, _retry_after(exc) or wait))
                wait *= 2
            except openai.APIStatusError as exc:
                raise LLMFailure(_describe(exc, model), kind=_STATUS_KINDS.get(exc.status_code, "request")) from None
            except (openai.APIResponseValidationError, ValueError, AttributeError, TypeError) as exc:
                raise LLMFailure(f"malformed response from the endpoint: {str(exc)[:200]}") from None
        raise AssertionError("unreachable")


def _reply(response: object, model: ModelConfig, settings: LLMSection) -> Reply:
    """Check a parsed completion and turn it into a Reply, or raise LLMFailure with the usage it cost."""
    raw_usage = getattr(response, "usage", None)
    prompt = int(getattr(raw_usage, "prompt_tokens", 0) or 0)
    completion = int(getattr(raw_usage, "completion_tokens", 0) or 0)
    cached = int(getattr(getattr(raw_usage, "prompt_tokens_details", None), "cached_tokens", 0) or 0)  # if reported
    usage = Usage(1, prompt, completion, model.cost(prompt, completion), cached)
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list):
        raise LLMFailure(f"malformed response from the endpoint: {str(response)[:120]!r}", usage)
    if not choices:
        raise LLMFailure("the endpoint returned no choices", usage)
    choice = choices[0]
    message = choice.message
    if getattr(message, "refusal", None):
        raise LLMFailure(f"the model refused: {message.refusal[:200]}", usage)
    if choice.finish_reason == "content_filter":
        raise LLMFailure("the answer was blocked by the endpoint's content filter", usage)
    if choice.finish_reason == "length":
        raise LLMFailure(f"the answer was truncated at max_tokens={settings.max_tokens}", usage)
    text = message.content or ""
    if not text.strip():
        raise LLMFailure("the model returned an empty answer", usage)
    return Reply(text, getattr(response, "model", None) or model.name, usage)


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _describe(exc: Exception, model: ModelConfig) -> str:
    status = getattr(exc, "status_code", None)
    if isinstance(exc, openai.APITimeoutError):
        return "request timed out"
    if status is None:
        return f"connection error: {redact(str(exc), model)[:160]}"
    message = re.sub(r"^Error code: \d+ - ", "", str(getattr(exc, "message", exc)))  # the client's own prefix
    return f"HTTP {status} from the endpoint: {redact(message, model)[:160]}"


_KEY_LIKE = re.compile(r"\b(sk|key|api)[-_][A-Za-z0-9_*.-]{6,}", re.IGNORECASE)


def redact(text: str, model: ModelConfig) -> str:
    """Endpoint error text with the key (whole, or the partly masked form a 401 echoes) taken out, since errors
    travel on into proposals, ledgers and logs."""
    key = os.environ.get(model.api_key_env)
    if key:
        text = text.replace(key, "[redacted]")
    return _KEY_LIKE.sub("[redacted]", text)
