"""Refusals on ``/v1/messages*`` are in Anthropic's envelope whichever layer makes them (#13): the service (405,
malformed JSON, 413, 429 with Retry-After, 503 audit_unavailable both before and after the call) and the Lambda
handler (a gateway that cannot start). The ASGI server's own refusals: tests/e2e/gateway/test_asgi_server.py."""

from __future__ import annotations

import json

import pytest
from anthropic.types import ErrorResponse

from regiongate.contract import environment as settings_module
from regiongate.gateway.runtime import handler
from regiongate.gateway.runtime.transport import Request
from regiongate.store import RateLimits
from regiongate.store.memory import MemoryStore
from tests.fixtures.gateway import body_of, make_gateway, new_key, post

MESSAGES = "/v1/messages"
COUNT_TOKENS = "/v1/messages/count_tokens"
MESSAGE = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "Hello"}]}


def anthropic_error(response, status: int, error_type: str) -> str:
    """The body is exactly Anthropic's ErrorResponse (validated with the SDK's model); returns its message."""
    assert response.status == status, response.body
    assert response.headers["content-type"] == "application/json"
    body = body_of(response)
    assert set(body) == {"type", "error"} and set(body["error"]) == {"type", "message"}, body
    parsed = ErrorResponse.model_validate(body)
    assert parsed.error.type == error_type, body
    return parsed.error.message


class FailingSink:
    def emit(self, event):
        raise ConnectionError("the audit queue is unreachable")


class FullSink:
    def admit(self):
        return False

    def release(self):
        pass

    def emit(self, event):
        raise AssertionError("a refused request emits nothing")


@pytest.fixture
def store():
    return MemoryStore()


def test_405_names_the_methods_in_allow_on_both_envelopes(eu_runtime, store):
    gateway, _ = make_gateway(eu_runtime, store)
    key = new_key(store)
    for path in (MESSAGES, COUNT_TOKENS):
        response = gateway.handle(Request("GET", path, {"x-api-key": key}, b""))
        assert "GET is not allowed" in anthropic_error(response, 405, "invalid_request_error")
        assert response.headers["allow"] == "POST"
    chat = gateway.handle(Request("PUT", "/v1/chat/completions", {"authorization": f"Bearer {key}"}, b""))
    assert chat.status == 405 and chat.headers["allow"] == "POST"
    assert body_of(chat)["error"]["code"] == "method_not_allowed"
    model = gateway.handle(Request("DELETE", "/v1/models/gpt-4o", {"authorization": f"Bearer {key}"}, b""))
    assert model.status == 405 and model.headers["allow"] == "GET"


def test_an_unknown_path_below_messages_is_an_anthropic_404(eu_runtime, store):
    gateway, _ = make_gateway(eu_runtime, store)
    response = post(gateway, "/v1/messages/batches", MESSAGE, headers={"x-api-key": new_key(store)})
    assert "no such endpoint" in anthropic_error(response, 404, "not_found_error")


def test_malformed_json_and_a_body_over_the_limit(eu_runtime, store):
    gateway, _ = make_gateway(eu_runtime, store)
    key = new_key(store)
    anthropic_error(post(gateway, MESSAGES, b"{not json", headers={"x-api-key": key}), 400, "invalid_request_error")
    too_large = post(gateway, COUNT_TOKENS, b"{" + b" " * 1_000_001 + b"}", headers={"x-api-key": key})
    assert "limit" in anthropic_error(too_large, 413, "invalid_request_error")


def test_a_rate_limited_key_gets_an_anthropic_429_with_retry_after(eu_runtime, store, bedrock):
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    key = new_key(store, limits=RateLimits(requests_per_minute=1))
    assert post(gateway, MESSAGES, MESSAGE, headers={"x-api-key": key}).status == 200
    refused = post(gateway, MESSAGES, MESSAGE, headers={"x-api-key": key})
    anthropic_error(refused, 429, "rate_limit_error")
    assert int(refused.headers["retry-after"]) >= 1
    assert len(bedrock.requests) == 1


def test_audit_unavailable_is_an_anthropic_503_before_and_after_the_call(eu_runtime, store, bedrock):
    key = new_key(store)
    full, _ = make_gateway(eu_runtime, store, bedrock=bedrock, sink=FullSink())
    message = anthropic_error(post(full, MESSAGES, MESSAGE, headers={"x-api-key": key}), 503, "api_error")
    assert "cannot record requests" in message and bedrock.requests == []
    failing, _ = make_gateway(eu_runtime, store, bedrock=bedrock, sink=FailingSink())
    withheld = post(failing, MESSAGES, MESSAGE, headers={"x-api-key": key})
    assert "withholds the answer" in anthropic_error(withheld, 503, "api_error")
    assert len(bedrock.requests) == 1 and b"Hello" not in withheld.body
    # The OpenAI paths keep OpenAI's envelope for the same refusal.
    chat = post(failing, "/v1/chat/completions", {"model": "claude-sonnet-4-5", "messages": MESSAGE["messages"]}, key)
    assert chat.status == 503 and body_of(chat)["error"]["code"] == "audit_unavailable"


def test_the_lambda_answers_a_gateway_that_cannot_start_in_the_envelope_of_the_path(monkeypatch):
    monkeypatch.delenv("REGIONGATE_REGION_CODE", raising=False)
    settings_module.settings.cache_clear()
    monkeypatch.setattr(handler, "_gateway", None)
    try:
        event = {"httpMethod": "POST", "path": MESSAGES, "headers": {}, "body": "{}", "isBase64Encoded": False}
        messages = handler.handle(event, None)
        chat = handler.handle({**event, "path": "/v1/chat/completions"}, None)
    finally:
        settings_module.settings.cache_clear()
    assert messages["statusCode"] == 503 and chat["statusCode"] == 503
    body = json.loads(messages["body"])
    assert ErrorResponse.model_validate(body).error.type == "api_error" and set(body) == {"type", "error"}
    assert json.loads(chat["body"])["error"]["type"] == "service_unavailable"
