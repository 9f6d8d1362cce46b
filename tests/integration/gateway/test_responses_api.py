"""OpenAI's Responses API (``/v1/responses``) in process: MemoryStore, real providers against loopback fakes."""

from __future__ import annotations

import json

import pytest

from regiongate.gateway.runtime.transport import Request
from regiongate.store.memory import MemoryStore
from tests.fixtures.gateway import body_of, make_gateway, new_key, post

RESPONSES = "/v1/responses"


@pytest.fixture
def store():
    return MemoryStore()


def events(raw: bytes) -> list[dict]:
    out = []
    for block in raw.decode().split("\n\n"):
        if block:
            name, data = block.split("\n", 1)
            event = json.loads(data[len("data: ") :])
            assert name == f"event: {event['type']}"
            out.append(event)
    return out


def test_text_input_and_instructions_become_a_chat_call(eu_runtime, store, bedrock):
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock)
    body = {
        "model": "claude-sonnet-4-5",
        "instructions": "Be brief.",
        "input": "Hello",
        "max_output_tokens": 50,
        "temperature": 0.3,
        "top_p": 0.9,
    }
    response = post(gateway, RESPONSES, body, new_key(store))
    assert response.status == 200, response.body
    answer = body_of(response)
    assert answer["object"] == "response" and answer["status"] == "completed" and "store" not in answer
    assert answer["id"] == "resp_" + response.headers["x-request-id"].replace("-", "")
    [item] = answer["output"]
    assert item["type"] == "message" and item["content"][0] == {
        "type": "output_text",
        "text": "Hello from Bedrock",
        "annotations": [],
        "logprobs": [],
    }
    assert answer["usage"]["input_tokens"] == 12 and answer["usage"]["total_tokens"] == 19
    sent = bedrock.requests[0]["json"]
    assert sent["system"] == [{"text": "Be brief."}]
    assert sent["messages"] == [{"role": "user", "content": [{"text": "Hello"}]}]
    assert sent["inferenceConfig"] == {"maxTokens": 50, "temperature": 0.3, "topP": 0.9}
    [event] = sink.events
    assert (event["endpoint"], event["status"], event["input_tokens"], event["output_tokens"]) == (
        "responses",
        200,
        12,
        7,
    )


def test_function_calls_round_trip(eu_runtime, store, azure):
    azure.tool_call = {"name": "get_weather", "input": {"city": "Paris"}}
    gateway, _ = make_gateway(eu_runtime, store, azure=azure)
    key = new_key(store)
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
    first = body_of(post(gateway, RESPONSES, {"model": "gpt-4o", "input": "Weather?", "tools": tools}, key))
    call = next(i for i in first["output"] if i["type"] == "function_call")
    assert (call["name"], json.loads(call["arguments"])) == ("get_weather", {"city": "Paris"})
    follow_up = {
        "model": "gpt-4o",
        "tools": tools,
        "tool_choice": {"type": "function", "name": "get_weather"},
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
            {
                "type": "function_call",
                "call_id": call["call_id"],
                "name": "get_weather",
                "arguments": call["arguments"],
            },
            {"type": "function_call_output", "call_id": call["call_id"], "output": "18 C"},
        ],
    }
    assert post(gateway, RESPONSES, follow_up, key).status == 200
    sent = azure.requests[-1]["json"]
    assert sent["messages"] == [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call["call_id"],
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": call["arguments"]},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call["call_id"], "content": "18 C"},
    ]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent["tools"] == [
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    ]


def test_stream_emits_the_responses_events_in_order(eu_runtime, store, bedrock):
    bedrock.tool_call = {"name": "lookup", "input": {"q": "x"}}
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock)
    tools = [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]
    response = post(
        gateway,
        RESPONSES,
        {"model": "claude-sonnet-4-5", "input": "Hi", "tools": tools, "stream": True},
        new_key(store),
    )
    assert response.headers["content-type"] == "text/event-stream"
    stream = events(response.body)
    kinds = [e["type"] for e in stream]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[-1] == "response.completed"
    assert [e["sequence_number"] for e in stream] == list(range(len(stream)))
    text = "".join(e["delta"] for e in stream if e["type"] == "response.output_text.delta")
    assert text == "Hello from Bedrock"
    arguments = "".join(e["delta"] for e in stream if e["type"] == "response.function_call_arguments.delta")
    assert json.loads(arguments) == {"q": "x"}
    final = stream[-1]["response"]
    assert [i["type"] for i in final["output"]] == ["message", "function_call"]
    assert final["usage"]["output_tokens"] == 7
    [event] = sink.events
    assert (event["stream"], event["input_tokens"], event["output_tokens"]) == (True, 12, 7)


def test_stream_failure_is_an_error_and_a_failed_response(eu_runtime, store, bedrock):
    bedrock.stream_error_after = 2
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock)
    response = post(gateway, RESPONSES, {"model": "claude-sonnet-4-5", "input": "Hi", "stream": True}, new_key(store))
    stream = events(response.body)
    assert [e["type"] for e in stream][-2:] == ["error", "response.failed"]
    assert stream[-1]["response"]["status"] == "failed"
    assert sink.events[0]["status"] == 502


def test_nothing_is_stored_and_the_client_is_told_how_to_send_the_conversation(eu_runtime, store, bedrock):
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock)
    key = new_key(store)
    stored = post(gateway, RESPONSES, {"model": "claude-sonnet-4-5", "input": "Hi", "store": True}, key)
    assert stored.status == 400
    message = body_of(stored)["error"]["message"]
    assert message.startswith("store must be false or absent") and "send the whole conversation in input" in message
    chained = post(gateway, RESPONSES, {"model": "claude-sonnet-4-5", "input": "Hi", "previous_response_id": "r"}, key)
    assert chained.status == 400 and "never stored" in body_of(chained)["error"]["message"]
    for method, path in (
        ("GET", "/v1/responses/resp_123"),
        ("DELETE", "/v1/responses/resp_123"),
        ("POST", "/v1/responses/resp_123/cancel"),
        ("GET", "/v1/responses/resp_123/input_items"),
    ):
        answer = gateway.handle(Request(method, path, {"authorization": f"Bearer {key}"}, b""))
        assert answer.status == 404
        error = json.loads(answer.body)["error"]
        assert error["type"] == "response_not_found" and "never stored" in error["message"]
    unauthenticated = gateway.handle(Request("GET", "/v1/responses/resp_123", {}, b""))
    assert unauthenticated.status == 401
    assert bedrock.requests == []


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"tools": [{"type": "web_search"}]}, "tools[0].type 'web_search' is not supported"),
        ({"text": {"format": {"type": "yaml"}}}, "text.format.type 'yaml' is not supported"),
        ({"text": {"format": {"type": "json_schema", "name": "a"}}}, "response_format.json_schema.schema must be"),
        ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0]: item references are not supported"),
        ({"input": [{"role": "user", "content": [{"type": "input_image"}]}]}, "input[0].content[0].type"),
        (
            {
                "parallel_tool_calls": False,
                "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
            },
            "parallel_tool_calls is not supported by provider bedrock-eu (Bedrock)",
        ),
        ({"background": True}, "background is not supported"),
        ({"reasoning": {"effort": "xhigh"}}, "reasoning.effort must be one of none, minimal, low, medium, high"),
    ],
)
def test_what_cannot_be_served_is_refused_clearly(eu_runtime, store, bedrock, extra, expected):
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    body = {"model": "claude-sonnet-4-5", "input": "Hi", **extra}
    response = post(gateway, RESPONSES, body, new_key(store))
    assert response.status == 400 and body_of(response)["error"]["message"].startswith(expected)
    assert bedrock.requests == []


def test_parallel_tool_calls_false_is_honoured_where_the_provider_can(eu_runtime, store, bedrock, azure):
    """Carried into chat: forwarded to Azure and echoed; on Bedrock without tools offered it changes nothing (with
    tools, Converse cannot honour it: the 400 above)."""
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock, azure=azure)
    key = new_key(store)
    tools = [{"type": "function", "name": "f", "parameters": {"type": "object"}}]
    body = {"model": "gpt-4o", "input": "Hi", "tools": tools, "parallel_tool_calls": False}
    answer = body_of(post(gateway, RESPONSES, body, key))
    assert answer["parallel_tool_calls"] is False and azure.requests[0]["json"]["parallel_tool_calls"] is False
    plain = post(gateway, RESPONSES, {"model": "claude-sonnet-4-5", "input": "Hi", "parallel_tool_calls": False}, key)
    assert plain.status == 200 and body_of(plain)["parallel_tool_calls"] is False
    assert body_of(post(gateway, RESPONSES, {"model": "gpt-4o", "input": "Hi"}, key))["parallel_tool_calls"] is True


def test_an_upstream_refusal_is_a_refusal_part(eu_runtime, store, azure):
    azure.refusal = "I can't help with that."
    gateway, _ = make_gateway(eu_runtime, store, azure=azure)
    key = new_key(store)
    [item] = body_of(post(gateway, RESPONSES, {"model": "gpt-4o", "input": "Hi"}, key))["output"]
    assert item["type"] == "message" and item["content"] == [{"type": "refusal", "refusal": "I can't help with that."}]
    raw = post(gateway, RESPONSES, {"model": "gpt-4o", "input": "Hi", "stream": True}, key).body.decode()
    events = [json.loads(line[6:]) for line in raw.split("\n") if line.startswith("data: ")]
    refused = "".join(e["delta"] for e in events if e["type"] == "response.refusal.delta")
    [done] = [e for e in events if e["type"] == "response.refusal.done"]
    assert refused == done["refusal"] == "I can't help with that."
    assert events[-1]["response"]["output"][0]["content"] == [{"type": "refusal", "refusal": refused}]


def test_guardrails_see_function_outputs(eu_runtime, store, bedrock):
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock)
    body = {
        "model": "claude-sonnet-4-5",
        "input": [
            {"role": "user", "content": "pay"},
            {"type": "function_call", "call_id": "c1", "name": "card", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "4111 1111 1111 1111"},
        ],
    }
    response = post(gateway, RESPONSES, body, new_key(store))
    assert response.status == 400 and body_of(response)["error"]["type"] == "guardrail_violation"
    assert bedrock.requests == [] and sink.events[0]["guardrail"] == "block"


def test_what_codex_sends_besides_the_conversation_is_accepted(eu_runtime, store, bedrock):
    """Codex's hints (prompt-cache key, client metadata, a reasoning summary, encrypted reasoning) change nothing."""
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    body = {
        "model": "claude-sonnet-4-5",
        "input": [{"type": "message", "role": "developer", "content": "Rules"}, {"role": "user", "content": "Hi"}],
        "store": False,
        "parallel_tool_calls": True,
        "reasoning": {"summary": "auto"},
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "session-1",
        "client_metadata": {"x-codex-window-id": "w"},
    }
    response = post(gateway, RESPONSES, body, new_key(store))
    assert response.status == 200, response.body
    sent = bedrock.requests[0]["json"]
    assert sent["system"] == [{"text": "Rules"}] and "session-1" not in json.dumps(sent)


def test_a_json_schema_text_format_is_honoured(eu_runtime, store, bedrock):
    bedrock.reply, bedrock.tool_call = "", {"name": "json_response", "input": {"city": "Paris"}}
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    fmt = {"type": "json_schema", "name": "answer", "schema": schema, "strict": True}
    response = post(
        gateway, RESPONSES, {"model": "claude-sonnet-4-5", "input": "Where?", "text": {"format": fmt}}, new_key(store)
    )
    answer = body_of(response)
    assert json.loads(answer["output"][0]["content"][0]["text"]) == {"city": "Paris"}
    assert answer["text"] == {"format": fmt}
    assert bedrock.requests[0]["json"]["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"] == {"json": schema}
