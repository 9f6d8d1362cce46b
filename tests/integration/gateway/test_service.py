"""The service end to end in process: MemoryStore, real providers against loopback fakes, audit in a list."""

from __future__ import annotations

import base64
import json
import struct
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest

from regiongate.store.memory import MemoryStore
from tests.fixtures.fakes import FakeBedrock, FakeOpenAI
from tests.fixtures.gateway import body_of, get, make_gateway, new_key, post, sse_events

CHAT = "/v1/chat/completions"


@pytest.fixture
def store():
    return MemoryStore()


def chat(model="claude-sonnet-4-5", **extra):
    return {"model": model, "messages": [{"role": "user", "content": "Hello"}], **extra}


def test_bedrock_chat_translates_prices_times_and_audits(eu_runtime, store, bedrock):
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock)
    key = new_key(store, team_id="ml", user_id="ana")
    response = post(gateway, CHAT, chat(max_tokens=50, temperature=0.3), key)
    assert response.status == 200, response.body
    answer = body_of(response)
    assert answer["model"] == "claude-sonnet-4-5"
    assert answer["choices"][0]["message"] == {"role": "assistant", "content": "Hello from Bedrock", "refusal": None}
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"] == {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}
    # boto3 called the profile id in the configured region with Converse's fields.
    sent = bedrock.requests[0]
    assert sent["path"] == "/model/eu.anthropic.claude-sonnet-4-5-20250929-v1:0/converse"
    assert "eu-central-1/bedrock/aws4_request" in sent["headers"]["Authorization"]
    assert sent["json"]["inferenceConfig"] == {"maxTokens": 50, "temperature": 0.3}
    for header in ("x-request-id", "x-regiongate-added-ms", "x-regiongate-upstream-ms"):
        assert header in response.headers
    assert float(response.headers["x-regiongate-added-ms"]) >= 0
    [event] = sink.events
    assert event["request_id"] == response.headers["x-request-id"]
    assert (
        event["status"],
        event["model"],
        event["provider"],
        event["org_id"],
        event["team_id"],
        event["user_id"],
    ) == (200, "claude-sonnet-4-5", "bedrock-eu", "acme", "ml", "ana")
    assert Decimal(event["cost_usd"]) == Decimal("0.000141")  # 12 × 3 + 7 × 15 per million
    assert event["stream"] is False and event["guardrail"] == "pass"


def test_bedrock_stream_is_correct_sse_with_usage(eu_runtime, store, bedrock):
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock)
    key = new_key(store)
    response = post(gateway, CHAT, chat(stream=True, stream_options={"include_usage": True}), key)
    assert response.status == 200 and response.headers["content-type"] == "text/event-stream"
    events = sse_events(response.body)
    assert events[-1] == "[DONE]"
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1] if e.get("choices"))
    assert text == "Hello from Bedrock"
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    finish = [e for e in events[:-1] if e.get("choices") and e["choices"][0]["finish_reason"]]
    assert [f["choices"][0]["finish_reason"] for f in finish] == ["stop"]
    assert events[-2]["choices"] == [] and events[-2]["usage"]["total_tokens"] == 19
    assert bedrock.requests[0]["path"].endswith("/converse-stream")
    assert sink.events[0]["stream"] is True and sink.events[0]["output_tokens"] == 7


def test_stream_without_include_usage_has_no_usage_chunk(eu_runtime, store, bedrock):
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock)
    events = sse_events(post(gateway, CHAT, chat(stream=True), new_key(store)).body)
    assert all("usage" not in e for e in events[:-1])
    assert sink.events[0]["input_tokens"] == 12  # the audit still counts


def test_tool_calls_round_trip_through_bedrock(eu_runtime, store):
    fake = FakeBedrock(reply="", tool_call={"name": "get_weather", "input": {"city": "Paris"}})
    try:
        gateway, _ = make_gateway(eu_runtime, store, bedrock=fake)
        key = new_key(store)
        tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
        answer = body_of(post(gateway, CHAT, chat(tools=tools), key))
        assert answer["choices"][0]["finish_reason"] == "tool_calls"
        call = answer["choices"][0]["message"]["tool_calls"][0]
        assert call["function"]["name"] == "get_weather" and json.loads(call["function"]["arguments"]) == {
            "city": "Paris"
        }
        events = sse_events(post(gateway, CHAT, chat(tools=tools, stream=True), key).body)
        deltas = [e["choices"][0]["delta"] for e in events[:-1] if e.get("choices")]
        args = "".join(tc["function"].get("arguments", "") for d in deltas for tc in d.get("tool_calls", []))
        assert json.loads(args) == {"city": "Paris"}
        assert fake.requests[0]["json"]["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather"
    finally:
        fake.close()


def test_azure_chat_and_stream(eu_runtime, store, azure):
    gateway, sink = make_gateway(eu_runtime, store, azure=azure)
    key = new_key(store)
    answer = body_of(post(gateway, CHAT, chat("gpt-4o"), key))
    assert answer["choices"][0]["message"]["content"] == "Hello from Azure"
    sent = azure.requests[0]
    assert sent["path"] == "/openai/deployments/gpt-4o/chat/completions" and sent["query"] == "api-version=2024-10-21"
    assert sent["headers"]["api-key"] == "azure-test-key" and "model" not in sent["json"]
    events = sse_events(post(gateway, CHAT, chat("gpt-4o", stream=True), key).body)
    assert (
        "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1] if e.get("choices"))
        == "Hello from Azure"
    )
    assert azure.requests[1]["json"]["stream_options"] == {"include_usage": True}  # the gateway always asks for usage
    assert [e["output_tokens"] for e in sink.events] == [5, 5]


def test_embeddings_float_and_base64(eu_runtime, store, bedrock):
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock)
    key = new_key(store)
    answer = body_of(post(gateway, "/v1/embeddings", {"model": "titan-embed-text-v2", "input": ["a", "bb"]}, key))
    assert [d["index"] for d in answer["data"]] == [0, 1] and len(answer["data"][0]["embedding"]) == 8
    packed = body_of(
        post(
            gateway, "/v1/embeddings", {"model": "titan-embed-text-v2", "input": "a", "encoding_format": "base64"}, key
        )
    )
    raw = base64.b64decode(packed["data"][0]["embedding"])
    assert list(struct.unpack("<8f", raw)) == pytest.approx(answer["data"][0]["embedding"], rel=1e-6)
    assert bedrock.requests[0]["path"] == "/model/amazon.titan-embed-text-v2:0/invoke"
    assert sink.events[0]["endpoint"] == "embeddings"


def test_models_lists_only_this_regions_models_and_respects_allowlists(eu_runtime, store):
    gateway, _ = make_gateway(eu_runtime, store)
    names = [m["id"] for m in body_of(get(gateway, "/v1/models", new_key(store)))["data"]]
    assert names == list(eu_runtime.models)
    limited = new_key(store, model_allowlist=("gpt-4o",))
    assert [m["id"] for m in body_of(get(gateway, "/v1/models", limited))["data"]] == ["gpt-4o"]
    assert get(gateway, "/v1/models/gpt-4o", limited).status == 200
    assert get(gateway, "/v1/models/claude-sonnet-4-5", limited).status == 404


def test_health_needs_no_auth_and_does_no_io(eu_runtime, store):
    gateway, sink = make_gateway(eu_runtime, store)
    response = get(gateway, "/health")
    assert response.status == 200 and body_of(response) == {"status": "ok", "region": "eu"}
    assert "x-request-id" in response.headers and "x-regiongate-added-ms" in response.headers
    assert sink.events == [] and store.key_lookups == 0


def test_key_of_another_region_is_refused_before_any_lookup(eu_runtime, store, bedrock):
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock)
    us_key = new_key(store, region="us")
    response = post(gateway, CHAT, chat(), us_key)
    assert response.status == 403
    assert body_of(response) == {
        "error": {
            "message": "API key is for region US, but request was made to EU",
            "type": "region_mismatch",
            "code": 403,
        }
    }
    assert store.key_lookups == 0 and bedrock.requests == []
    # A failed authentication is counted (per source and key prefix), not audited one by one (#14).
    assert sink.events == []
    assert gateway.auth_failures.counts()[2] == {"rk-us-" + us_key[6:12]: 1}


@pytest.mark.parametrize(
    "headers", [{}, {"authorization": "Bearer nope"}, {"authorization": "Bearer rk-eu-" + "A" * 32}]
)
def test_missing_malformed_or_unknown_keys_are_401(eu_runtime, store, headers):
    gateway, sink = make_gateway(eu_runtime, store)
    response = post(gateway, CHAT, chat(), headers=headers)
    assert response.status == 401 and body_of(response)["error"]["type"] == "invalid_api_key"
    assert sink.events == []  # counted, not audited one by one (#14)
    assert gateway.auth_failures.counts()[0] == 1


def test_unknown_and_disallowed_models(eu_runtime, store):
    gateway, _ = make_gateway(eu_runtime, store)
    assert body_of(post(gateway, CHAT, chat("gpt-9"), new_key(store)))["error"]["type"] == "model_not_found"
    limited = new_key(store, model_allowlist=("gpt-4o",))
    response = post(gateway, CHAT, chat(), limited)
    assert response.status == 403 and body_of(response)["error"]["type"] == "model_not_allowed"
    response = post(gateway, CHAT, chat("titan-embed-text-v2"), new_key(store))
    assert response.status == 400


def test_guardrail_block_and_flag_record_type_and_message_only(eu_runtime, store, bedrock):
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock)
    key = new_key(store)
    card = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "my card is 4111 1111 1111 1111"}]}
    response = post(gateway, CHAT, card, key)
    assert response.status == 400 and body_of(response)["error"]["type"] == "guardrail_violation"
    assert "4111" not in response.body.decode()
    assert bedrock.requests == []
    iban = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "IBAN DE89 3704 0044 0532 0130 00"}]}
    assert post(gateway, CHAT, iban, key).status == 200
    blocked, flagged = sink.events
    assert blocked["guardrail"] == "block" and blocked["violations"] == [
        {
            "detector": "payment-card",
            "action": "block",
            "message": "a payment card number was found in messages[0].content",
        }
    ]
    assert flagged["guardrail"] == "flag" and flagged["violations"][0]["detector"] == "iban"
    # The numbers themselves (their first 4 digits alone can occur in the events' random request ids).
    events = json.dumps(sink.events)
    assert "4111 1111" not in events and "41111111" not in events and "DE89 3704" not in events


def test_input_token_limit_is_a_guardrail_violation(eu_runtime, store, bedrock):
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    long = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "word " * 130_000}]}
    response = post(gateway, CHAT, long, new_key(store))
    assert response.status == 400 and "limit is 150000" in body_of(response)["error"]["message"]


def test_budgets_per_key_and_org(eu_runtime, store, bedrock):
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock, key_cache_ttl=0)
    key = new_key(store, monthly_budget_usd=Decimal("0.0002"))
    assert post(gateway, CHAT, chat(), key).status == 200
    store.write_audit_events(sink.events)  # what the writer does
    assert post(gateway, CHAT, chat(), key).status == 200  # 0.000141 < 0.0002
    store.write_audit_events(sink.events)
    response = post(gateway, CHAT, chat(), key)
    assert response.status == 429 and body_of(response)["error"]["type"] == "budget_exceeded"
    other = new_key(store, org="globex")
    store.set_org_budget("globex", Decimal("0"))
    assert body_of(post(gateway, CHAT, chat(), other))["error"]["type"] == "budget_exceeded"
    assert len(bedrock.requests) == 2


@pytest.mark.clock
@pytest.mark.parametrize(
    "last_moment",
    [
        datetime(2027, 1, 31, 23, 59, 59, 999000, tzinfo=UTC),
        datetime(2028, 2, 29, 23, 59, 59, 999000, tzinfo=UTC),
        datetime(2030, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
    ],
)
def test_a_monthly_budget_starts_again_at_midnight_utc_on_the_first(eu_runtime, store, bedrock, last_moment):
    """Spent up at the month's last millisecond; the next request, at 00:00:00 on the first, is a new month
    (the budget reads the store on every request: no cached spend)."""
    now = [last_moment]
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock, clock=lambda: now[0], monotonic=lambda: 5.0)
    key = new_key(store, monthly_budget_usd=Decimal("0.0001"))
    assert post(gateway, CHAT, chat(), key).status == 200  # 0.000141: over the budget from now on
    store.write_audit_events(sink.events)
    [event] = sink.events
    assert event["created_at"] == last_moment.isoformat()
    assert post(gateway, CHAT, chat(), key).status == 429
    now[0] = last_moment + timedelta(milliseconds=1)
    assert now[0].day == 1 and now[0].time() == time(0, 0)
    assert post(gateway, CHAT, chat(), key).status == 200


def test_upstream_errors_are_retried_then_clear(eu_runtime, store, bedrock, azure):
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock, azure=azure)
    key = new_key(store)
    bedrock.fail_next(2, 503, "ServiceUnavailableException")
    assert post(gateway, CHAT, chat(), key).status == 200 and len(bedrock.requests) == 3
    bedrock.fail_next(3, 500, "InternalServerException")
    response = post(gateway, CHAT, chat(), key)
    assert response.status == 502 and body_of(response)["error"]["type"] == "upstream_error"
    azure.fail_next(3, 429, "rate_limit_exceeded")
    response = post(gateway, CHAT, chat("gpt-4o"), key)
    assert response.status == 429 and body_of(response)["error"]["type"] == "upstream_rate_limited"
    azure.fail_next(1, 400, "context_length_exceeded")
    response = post(gateway, CHAT, chat("gpt-4o"), key)
    assert response.status == 400 and "context_length_exceeded" in body_of(response)["error"]["message"]
    assert len(azure.requests) == 4  # 400 is not retried
    assert [e["status"] for e in sink.events] == [200, 502, 429, 400]


def test_never_falls_back_to_another_provider_or_region(eu_runtime, store):
    """EU Bedrock failing must never send the prompt anywhere else, even with other upstreams reachable."""
    eu_bedrock, eu_azure, us_bedrock = FakeBedrock(), FakeOpenAI(), FakeBedrock()
    try:
        gateway, _ = make_gateway(eu_runtime, store, bedrock=eu_bedrock, azure=eu_azure)
        eu_bedrock.fail_next(100, 503, "ServiceUnavailableException")
        key = new_key(store)
        for payload in (chat(), chat(stream=True)):
            assert post(gateway, CHAT, payload, key).status == 502
        assert len(eu_bedrock.requests) == 6  # 3 bounded attempts each, same provider, same region
        assert eu_azure.requests == [] and us_bedrock.requests == []
        assert all("eu-central-1" in r["headers"]["Authorization"] for r in eu_bedrock.requests)
    finally:
        for fake in (eu_bedrock, eu_azure, us_bedrock):
            fake.close()


def test_unreachable_upstream_is_502_after_bounded_retries(eu_runtime, store):
    dead = FakeOpenAI()
    dead.close()  # nothing listens on its port any more
    gateway, _ = make_gateway(eu_runtime, store, azure=dead)
    response = post(gateway, CHAT, chat("gpt-4o"), new_key(store))
    assert response.status == 502 and "could not connect" in body_of(response)["error"]["message"]


def test_stream_error_mid_way_ends_with_an_error_event(eu_runtime, store):
    fake = FakeBedrock()
    fake.stream_error_after = 2
    try:
        gateway, sink = make_gateway(eu_runtime, store, bedrock=fake)
        events = sse_events(post(gateway, CHAT, chat(stream=True), new_key(store)).body)
        assert events[-1] == "[DONE]" and events[-2]["error"]["type"] == "upstream_error"
        assert sink.events[0]["status"] == 502
    finally:
        fake.close()


def test_behind_an_alb_streams_are_sent_whole_and_big_responses_refused(eu_runtime, store):
    fake = FakeBedrock(reply="x" * 1_100_000)
    try:
        gateway, sink = make_gateway(eu_runtime, store, bedrock=fake, whole_responses=True)
        key = new_key(store)
        response = post(gateway, CHAT, chat(), key)
        assert response.status == 502 and body_of(response)["error"]["type"] == "response_too_large"
        fake.reply = "short answer"
        from regiongate.gateway.runtime.transport import Request

        raw = gateway.handle(
            Request("POST", CHAT, {"authorization": f"Bearer {key}"}, json.dumps(chat(stream=True)).encode())
        )
        assert raw.stream is None and raw.body.endswith(b"data: [DONE]\n\n")
        assert sink.events[0]["status"] == 502
    finally:
        fake.close()


def test_oversized_request_is_413(eu_runtime, store):
    gateway, _ = make_gateway(eu_runtime, store)
    response = post(gateway, CHAT, b"{" + b" " * 1_000_001 + b"}", new_key(store))
    assert response.status == 413 and body_of(response)["error"]["type"] == "request_too_large"


def test_unknown_path_and_method(eu_runtime, store):
    gateway, _ = make_gateway(eu_runtime, store)
    assert get(gateway, "/v1/completions").status == 404
    assert get(gateway, CHAT).status == 405


def test_database_outage_is_a_503(eu_runtime, store, bedrock):
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock)
    key = new_key(store)

    def down(*args, **kwargs):
        raise ConnectionRefusedError("database down")

    store.find_key_by_hash = down
    response = post(gateway, CHAT, chat(), key)
    assert response.status == 503 and body_of(response)["error"]["type"] == "service_unavailable"
    assert bedrock.requests == [] and sink.events[0]["status"] == 503
