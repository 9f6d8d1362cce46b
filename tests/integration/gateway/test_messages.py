"""Anthropic Messages API (``/v1/messages``) in process: MemoryStore, the real Bedrock provider (boto3) against
the loopback fake's InvokeModel, InvokeModelWithResponseStream and CountTokens, audit in a list."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from regiongate.store.memory import MemoryStore
from tests.fixtures.gateway import body_of, make_gateway, new_key, post

MESSAGES = "/v1/messages"
PROFILE = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"


@pytest.fixture
def store():
    return MemoryStore()


def message(model="claude-sonnet-4-5", **extra):
    return {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "Hello"}], **extra}


def anthropic_post(gateway, path, body, key, **headers):
    return post(gateway, path, body, headers={"x-api-key": key, "anthropic-version": "2023-06-01", **headers})


def sse(raw: bytes) -> list[tuple[str, dict]]:
    events = []
    for block in raw.decode().split("\n\n"):
        if block:
            name, data = block.split("\n", 1)
            assert name.startswith("event: ") and data.startswith("data: ")
            events.append((name[7:], json.loads(data[6:])))
    return events


def test_create_sends_the_native_body_in_region_and_prices_cache_tokens(eu_runtime, store, bedrock):
    bedrock.cache_usage = (100, 200)
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock)
    key = new_key(store, team_id="ml")
    system = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    response = anthropic_post(
        gateway, MESSAGES, message(system=system, stop_sequences=["END"], temperature=0.2, top_k=5), key
    )
    assert response.status == 200, response.body
    answer = body_of(response)
    assert answer["type"] == "message" and answer["model"] == "claude-sonnet-4-5"
    assert answer["content"] == [{"type": "text", "text": "Hello from Bedrock"}]
    assert answer["id"] == "msg_" + response.headers["x-request-id"].replace("-", "")
    assert answer["usage"] == {
        "input_tokens": 12,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 200,
        "output_tokens": 7,
    }
    [sent] = bedrock.requests
    assert sent["path"] == f"/model/{PROFILE}/invoke"
    assert "eu-central-1/bedrock/aws4_request" in sent["headers"]["Authorization"]
    assert sent["json"] == {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Hello"}],
        "system": system,
        "stop_sequences": ["END"],
        "temperature": 0.2,
        "top_k": 5,
    }
    [event] = sink.events
    assert (event["endpoint"], event["status"], event["model"], event["provider"]) == (
        "messages",
        200,
        "claude-sonnet-4-5",
        "bedrock-eu",
    )
    # Every input token the model read is audited: 12 uncached + 100 written to + 200 read from the cache, each
    # at its price in regions.yaml (3.00 input, 3.75 cache write, 0.30 cache read, 15.00 output per million).
    assert (event["input_tokens"], event["output_tokens"]) == (312, 7)
    cost = Decimal(12) * 3 + Decimal(100) * Decimal("3.75") + Decimal(200) * Decimal("0.30") + Decimal(7) * 15
    assert Decimal(event["cost_usd"]) == (cost / 1_000_000).quantize(Decimal("1e-10")) == Decimal("0.000576")


def test_anthropic_model_ids_map_to_the_in_region_profile_and_nothing_else(eu_runtime, store, bedrock):
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    key = new_key(store)
    assert anthropic_post(gateway, MESSAGES, message("claude-sonnet-4-5-20250929"), key).status == 200
    assert bedrock.requests[-1]["path"] == f"/model/{PROFILE}/invoke"
    missing = anthropic_post(gateway, MESSAGES, message("claude-haiku-4-5-20251001"), key)
    assert missing.status == 404
    assert body_of(missing) == {
        "type": "error",
        "error": {
            "type": "not_found_error",
            "message": "model 'claude-haiku-4-5-20251001' has no in-region mapping in region "
            f"{eu_runtime.display_name}; Claude models served here (catalogue name and Anthropic id): "
            "claude-sonnet-4-5 (claude-sonnet-4-5-20250929)",
        },
    }
    other = anthropic_post(gateway, MESSAGES, message("nova-pro"), key)
    assert other.status == 400 and "not a Claude model on Bedrock" in body_of(other)["error"]["message"]
    assert len(bedrock.requests) == 1


def test_global_profiles_are_never_an_anthropic_id():
    from regiongate.gateway.runtime.translate_messages import anthropic_id, foundation_model_id

    assert anthropic_id("global.anthropic.claude-sonnet-4-5-20250929-v1:0") is None
    assert anthropic_id("eu.anthropic.claude-sonnet-4-5-20250929-v1:0") == "claude-sonnet-4-5-20250929"
    assert anthropic_id("anthropic.claude-3-haiku-20240307-v1:0") == "claude-3-haiku-20240307"
    assert anthropic_id("eu.amazon.nova-pro-v1:0") is None
    assert foundation_model_id("eu.anthropic.claude-sonnet-4-5-20250929-v1:0") == (
        "anthropic.claude-sonnet-4-5-20250929-v1:0"
    )
    assert foundation_model_id("anthropic.claude-3-haiku-20240307-v1:0") == "anthropic.claude-3-haiku-20240307-v1:0"


def test_tools_tool_results_thinking_and_betas_pass_through(eu_runtime, store, bedrock):
    bedrock.tool_call = {"name": "get_weather", "input": {"city": "Paris"}}
    bedrock.thinking = {"thinking": "Let me look it up.", "signature": "sig-abc"}
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    key = new_key(store)
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}]
    history = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Use the tool.", "signature": "sig-1"},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 C"}]},
    ]
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "messages": history,
        "tools": tools,
        "tool_choice": {"type": "auto"},
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "metadata": {"user_id": "someone"},
    }
    response = anthropic_post(
        gateway, MESSAGES, body, key, **{"anthropic-beta": "interleaved-thinking-2025-05-14,claude-code-20250219"}
    )
    assert response.status == 200, response.body
    answer = body_of(response)
    assert [b["type"] for b in answer["content"]] == ["thinking", "text", "tool_use"]
    assert answer["content"][0]["signature"] == "sig-abc" and answer["stop_reason"] == "tool_use"
    assert response.headers["x-regiongate-dropped-betas"] == "claude-code-20250219"
    sent = bedrock.requests[0]["json"]
    assert sent["anthropic_beta"] == ["interleaved-thinking-2025-05-14"]
    assert sent["messages"] == history and sent["tools"] == tools and sent["tool_choice"] == {"type": "auto"}
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert "metadata" not in sent and "model" not in sent and "stream" not in sent


def test_stream_relays_anthropic_events_with_ping_and_meters(eu_runtime, store, bedrock):
    bedrock.tool_call = {"name": "lookup", "input": {"q": "x"}}
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock)
    key = new_key(store)
    response = anthropic_post(gateway, MESSAGES, message(stream=True), key)
    assert response.status == 200 and response.headers["content-type"] == "text/event-stream"
    events = sse(response.body)
    names = [name for name, _ in events]
    assert names[:2] == ["message_start", "ping"] and names[-2:] == ["message_delta", "message_stop"]
    assert all(name == data["type"] for name, data in events)
    start = events[0][1]["message"]
    assert start["model"] == "claude-sonnet-4-5" and start["id"].startswith("msg_")
    text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta" and "text" in d["delta"])
    assert text == "Hello from Bedrock"
    assert "amazon-bedrock-invocationMetrics" not in events[-1][1]
    assert bedrock.requests[0]["path"] == f"/model/{PROFILE}/invoke-with-response-stream"
    [event] = sink.events
    assert (event["status"], event["stream"], event["input_tokens"], event["output_tokens"]) == (200, True, 12, 7)


def test_stream_failure_is_an_error_event_and_audited(eu_runtime, store, bedrock):
    bedrock.stream_error_after = 3
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock)
    response = anthropic_post(gateway, MESSAGES, message(stream=True), new_key(store))
    events = sse(response.body)
    assert events[-1] == (
        "error",
        {"type": "error", "error": {"type": "api_error", "message": events[-1][1]["error"]["message"]}},
    )
    assert "modelStreamErrorException" in events[-1][1]["error"]["message"]
    [event] = sink.events
    assert event["status"] == 502 and event["input_tokens"] == 12  # what the upstream reported before it broke


def test_count_tokens_asks_bedrock_with_the_foundation_model(eu_runtime, store, bedrock):
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock)
    body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Hello there"}]}
    response = anthropic_post(gateway, "/v1/messages/count_tokens", body, new_key(store))
    assert response.status == 200, response.body
    [counted] = bedrock.counted
    assert body_of(response) == {"input_tokens": max(1, len(json.dumps(counted["messages"])) // 4)}
    assert bedrock.requests[0]["path"] == "/model/anthropic.claude-sonnet-4-5-20250929-v1:0/count-tokens"
    assert counted == {"anthropic_version": "bedrock-2023-05-31", "messages": body["messages"], "max_tokens": 1}
    [event] = sink.events
    assert (event["endpoint"], event["input_tokens"], event["cost_usd"]) == ("count_tokens", 0, "0")


def test_errors_are_in_anthropics_envelope(eu_runtime, catalogue, store, bedrock):
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock)
    key = new_key(store)
    us_key = new_key(store, region="us")
    mismatch = anthropic_post(gateway, MESSAGES, message(), us_key)
    assert mismatch.status == 403
    assert body_of(mismatch) == {
        "type": "error",
        "error": {"type": "permission_error", "message": "API key is for region US, but request was made to EU"},
    }
    missing = post(gateway, MESSAGES, message())
    assert missing.status == 401 and body_of(missing)["error"]["type"] == "authentication_error"
    bearer = post(gateway, MESSAGES, message(), key)  # Authorization: Bearer works too
    assert bearer.status == 200
    no_max = anthropic_post(gateway, MESSAGES, {"model": "claude-sonnet-4-5", "messages": []}, key)
    assert body_of(no_max)["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens: must be an integer, got null",
    }
    for old in ("2023-01-01", "latest"):
        version = anthropic_post(gateway, MESSAGES, message(), key, **{"anthropic-version": old})
        assert version.status == 400 and "anthropic-version" in body_of(version)["error"]["message"]
    later = anthropic_post(gateway, MESSAGES, message(), key, **{"anthropic-version": "2026-10-21"})
    assert later.status == 200  # what the SDK sends; answered in the bedrock-2023-05-31 shape
    server_tool = anthropic_post(
        gateway, MESSAGES, message(tools=[{"type": "web_search_20250305", "name": "web_search"}]), key
    )
    assert server_tool.status == 400 and "outside this region" in body_of(server_tool)["error"]["message"]
    image_url = anthropic_post(
        gateway,
        MESSAGES,
        message(messages=[{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "x"}}]}]),
        key,
    )
    assert image_url.status == 400 and body_of(image_url)["error"]["message"].startswith("messages.0.content.0.source")
    method = gateway.handle(
        __import__("regiongate.gateway.runtime.transport", fromlist=["Request"]).Request("GET", MESSAGES, {}, b"")
    )
    assert method.status == 405 and json.loads(method.body)["type"] == "error"
    bedrock.fail_next(3, 500, "InternalServerException")
    upstream = anthropic_post(gateway, MESSAGES, message(), key)
    assert upstream.status == 502 and body_of(upstream)["error"]["type"] == "api_error"
    keyed = [e["status"] for e in sink.events if e["key_id"] is not None]
    assert keyed == [200, 400, 400, 400, 200, 400, 400, 502]  # every authenticated request is audited


def test_guardrails_and_budgets_apply(eu_runtime, store, bedrock):
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock)
    key = new_key(store)
    card = message(messages=[{"role": "user", "content": [{"type": "text", "text": "card 4111 1111 1111 1111"}]}])
    blocked = anthropic_post(gateway, MESSAGES, card, key)
    assert (
        blocked.status == 400 and "payment card number was found in messages.0.content.0.text" in blocked.body.decode()
    )
    assert bedrock.requests == []
    tool_result = message(
        messages=[
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "n", "input": {}}]},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t",
                        "content": [{"type": "text", "text": "IBAN DE89 3704 0044 0532 0130 00"}],
                    }
                ],
            },
        ]
    )
    flagged = anthropic_post(gateway, MESSAGES, tool_result, key)
    assert flagged.status == 200 and sink.events[-1]["guardrail"] == "flag"
    budget_key = new_key(store, monthly_budget_usd=Decimal("0"))
    over = anthropic_post(gateway, MESSAGES, message(), budget_key)
    assert over.status == 429 and body_of(over)["error"]["type"] == "billing_error"
