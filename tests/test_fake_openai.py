"""The fake server against the real `openai` client: what the client returns or raises for each kind of step.

These pin the client's behaviour as much as the fake's: an LLM operator's error handling is written against them.
"""

from __future__ import annotations

import json
import time

import httpx2
import openai
import pytest

from .fake_openai import (
    Completion,
    EmptyChoices,
    FakeOpenAI,
    Hangup,
    HttpError,
    Malformed,
    Slow,
    Truncated,
)

MESSAGES = [{"role": "system", "content": "You edit train.py."}, {"role": "user", "content": "Lower the LR."}]


def client(server: FakeOpenAI, **kwargs: object) -> openai.OpenAI:
    options: dict[str, object] = {"base_url": server.base_url, "api_key": "sk-test", "max_retries": 0, "timeout": 5.0}
    options.update(kwargs)
    return openai.OpenAI(**options)  # type: ignore[arg-type]


def ask(server: FakeOpenAI, **kwargs: object) -> object:
    return client(server, **kwargs).chat.completions.create(model="gpt-test", messages=MESSAGES)  # type: ignore[arg-type]


def test_completion_is_parsed_and_request_recorded(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Completion("DESCRIPTION: lower LR", prompt_tokens=11, completion_tokens=7))
    out = client(fake_openai).chat.completions.create(
        model="gpt-test", messages=MESSAGES, temperature=0.7, max_tokens=256
    )
    assert isinstance(out, openai.types.chat.ChatCompletion)
    assert out.object == "chat.completion" and out.model == "gpt-test"
    assert out.choices[0].message.role == "assistant"
    assert out.choices[0].message.content == "DESCRIPTION: lower LR"
    assert out.choices[0].finish_reason == "stop"
    assert out.usage is not None
    assert (out.usage.prompt_tokens, out.usage.completion_tokens, out.usage.total_tokens) == (11, 7, 18)
    (req,) = fake_openai.requests
    assert (req.method, req.path) == ("POST", "/v1/chat/completions")
    assert req.authorization == "Bearer sk-test"
    assert req.body == {"model": "gpt-test", "messages": MESSAGES, "temperature": 0.7, "max_tokens": 256}


def test_usage_is_derived_from_text_when_not_given(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Completion("x" * 40))
    out = ask(fake_openai)
    assert out.usage.completion_tokens == 10  # type: ignore[attr-defined]
    assert out.usage.prompt_tokens == len("You edit train.py.Lower the LR.") // 4 + 1  # type: ignore[attr-defined]


def test_length_finish_reason_is_returned_not_raised(fake_openai: FakeOpenAI) -> None:
    """`create` hands back a truncated answer as is; only `.parse()` raises LengthFinishReasonError."""
    fake_openai.script(Completion("<<<<<<< SEARCH\nLR = 1e-3", finish_reason="length"))
    out = ask(fake_openai)
    assert out.choices[0].finish_reason == "length"  # type: ignore[attr-defined]
    assert out.choices[0].message.content.endswith("LR = 1e-3")  # type: ignore[attr-defined]


def test_refusal_comes_back_with_no_content(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Completion(None, refusal="I can't help with that."))
    message = ask(fake_openai).choices[0].message  # type: ignore[attr-defined]
    assert message.content is None and message.refusal == "I can't help with that."


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (403, openai.PermissionDeniedError),
        (404, openai.NotFoundError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_http_errors_map_to_status_exceptions(fake_openai: FakeOpenAI, status: int, error: type[Exception]) -> None:
    fake_openai.script(HttpError(status, message="nope"))
    with pytest.raises(error) as info:
        ask(fake_openai)
    assert isinstance(info.value, openai.APIStatusError)
    assert info.value.status_code == status
    assert str(info.value) == f"Error code: {status} - nope"
    assert info.value.body == {"message": "nope", "type": info.value.type, "param": None, "code": None}


def test_text_error_body_is_kept_raw(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(HttpError(502, body="upstream connect error"))
    with pytest.raises(openai.InternalServerError) as info:
        ask(fake_openai)
    assert str(info.value) == "Error code: 502" and info.value.body == "upstream connect error"


def test_429_retry_after_is_honoured(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(HttpError(429, retry_after=0.3), Completion("ok"))
    start = time.perf_counter()
    out = ask(fake_openai, max_retries=1)
    assert out.choices[0].message.content == "ok"  # type: ignore[attr-defined]
    assert time.perf_counter() - start >= 0.3
    assert len(fake_openai.requests) == 2
    assert [r.headers["x-stainless-retry-count"] for r in fake_openai.requests] == ["0", "1"]


def test_429_retry_after_over_two_minutes_is_not_retried(fake_openai: FakeOpenAI) -> None:
    """The client gives up at once rather than sleep past its 120 s cap, even with retries left."""
    fake_openai.script(HttpError(429, retry_after=600), Completion("never"))
    with pytest.raises(openai.RateLimitError) as info:
        ask(fake_openai, max_retries=2)
    assert info.value.response.headers["retry-after"] == "600"
    assert len(fake_openai.requests) == 1 and fake_openai.remaining == 1


def test_500_is_retried(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(HttpError(500, retry_after=0.05), HttpError(503, retry_after=0.05), Completion("third time"))
    out = ask(fake_openai, max_retries=2)
    assert out.choices[0].message.content == "third time"  # type: ignore[attr-defined]
    assert len(fake_openai.requests) == 3


def test_401_is_not_retried(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(HttpError(401), Completion("never"))
    with pytest.raises(openai.AuthenticationError):
        ask(fake_openai, max_retries=2)
    assert len(fake_openai.requests) == 1


def test_slow_answer_times_out(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Slow(1.0))
    start = time.perf_counter()
    with pytest.raises(openai.APITimeoutError) as info:
        ask(fake_openai, timeout=0.2)
    assert time.perf_counter() - start < 0.9
    assert isinstance(info.value, openai.APIConnectionError)  # APITimeoutError subclasses it
    assert isinstance(info.value.__cause__, httpx2.ReadTimeout)


def test_slow_answer_within_timeout_succeeds(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Slow(0.1, Completion("worth the wait")))
    assert ask(fake_openai, timeout=2.0).choices[0].message.content == "worth the wait"  # type: ignore[attr-defined]


def test_malformed_json_body_raises_raw_json_error(fake_openai: FakeOpenAI) -> None:
    """Not an OpenAIError: a caller catching only `openai.APIError` lets this through."""
    fake_openai.script(Malformed())
    with pytest.raises(json.JSONDecodeError) as info:
        ask(fake_openai)
    assert not isinstance(info.value, openai.OpenAIError)


def test_non_json_content_type_returns_a_string(fake_openai: FakeOpenAI) -> None:
    """With a non-JSON Content-Type the client does not raise at all: `create` returns the body text."""
    fake_openai.script(Malformed(body="<html>oops</html>", content_type="text/html"))
    assert ask(fake_openai) == "<html>oops</html>"


def test_truncated_body_is_a_connection_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Truncated())
    with pytest.raises(openai.APIConnectionError) as info:
        ask(fake_openai)
    assert not isinstance(info.value, openai.APITimeoutError)
    assert isinstance(info.value.__cause__, httpx2.RemoteProtocolError)


def test_truncated_body_is_retried(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Truncated(), Completion("whole"))
    client_ = client(fake_openai, max_retries=1)
    start = time.perf_counter()
    out = client_.chat.completions.create(model="gpt-test", messages=MESSAGES)  # type: ignore[arg-type]
    assert out.choices[0].message.content == "whole"
    assert time.perf_counter() - start < 1.5  # one backoff of at most 0.5 s


def test_hangup_is_a_connection_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Hangup())
    with pytest.raises(openai.APIConnectionError):
        ask(fake_openai)


def test_empty_choices_parse_as_an_empty_list(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(EmptyChoices())
    out = ask(fake_openai)
    assert out.choices == []  # type: ignore[attr-defined]
    assert out.usage is not None  # type: ignore[attr-defined]


def test_exhausted_script_answers_500_with_a_clear_message(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Completion("only one"))
    ask(fake_openai)
    with pytest.raises(openai.InternalServerError, match="script exhausted after 1 chat requests"):
        ask(fake_openai, max_retries=2)  # x-should-retry: false, so no backoff
    assert len(fake_openai.requests) == 2


def test_models_list_and_bare_base_url(fake_openai: FakeOpenAI) -> None:
    models = client(fake_openai).models.list()
    assert [m.id for m in models.data] == ["fake-model"]
    fake_openai.script(Completion("no /v1"))
    bare = client(fake_openai, base_url=fake_openai.base_url.removesuffix("/v1"))
    assert bare.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content == "no /v1"  # type: ignore[arg-type]
    assert [r.path for r in fake_openai.requests] == ["/v1/models", "/chat/completions"]


def test_steps_play_in_order_and_model_is_echoed(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Completion("a"), Completion("b", model="served-model"))
    c = client(fake_openai)
    first = c.chat.completions.create(model="asked", messages=MESSAGES)  # type: ignore[arg-type]
    second = c.chat.completions.create(model="asked", messages=MESSAGES)  # type: ignore[arg-type]
    assert (first.choices[0].message.content, first.model) == ("a", "asked")
    assert (second.choices[0].message.content, second.model) == ("b", "served-model")
    assert first.id != second.id
