"""``response_format`` on Bedrock models: a forced tool whose input is the JSON answer (never dropped)."""

from __future__ import annotations

import json

import pytest

from regiongate.store.memory import MemoryStore
from tests.fixtures.gateway import body_of, make_gateway, new_key, post, sse_events

CHAT = "/v1/chat/completions"
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@pytest.fixture
def store():
    return MemoryStore()


def chat(**extra):
    return {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Capital of France?"}], **extra}


def test_json_schema_is_a_forced_tool_and_comes_back_as_content(eu_runtime, store, bedrock):
    bedrock.reply, bedrock.tool_call = "", {"name": "json_response", "input": {"city": "Paris"}}
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA, "strict": True}}
    response = post(gateway, CHAT, chat(response_format=fmt), new_key(store))
    assert response.status == 200, response.body
    choice = body_of(response)["choices"][0]
    assert json.loads(choice["message"]["content"]) == {"city": "Paris"}
    assert "tool_calls" not in choice["message"] and choice["finish_reason"] == "stop"
    config = bedrock.requests[0]["json"]["toolConfig"]
    assert config["toolChoice"] == {"tool": {"name": "json_response"}}
    assert config["tools"][0]["toolSpec"]["inputSchema"] == {"json": SCHEMA}


def test_json_mode_streams_the_json_as_text(eu_runtime, store, bedrock):
    bedrock.reply, bedrock.tool_call = "", {"name": "json_response", "input": {"city": "Paris"}}
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    response = post(gateway, CHAT, chat(response_format={"type": "json_object"}, stream=True), new_key(store))
    chunks = [c for c in sse_events(response.body) if c != "[DONE]"]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert json.loads(text) == {"city": "Paris"}
    assert not any("tool_calls" in c["choices"][0]["delta"] for c in chunks if c["choices"])
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"][0]["finish_reason"]] == ["stop"]
    assert bedrock.requests[0]["json"]["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"] == {
        "json": {"type": "object"}
    }


@pytest.mark.parametrize(
    ("fmt", "extra", "message"),
    [
        ({"type": "xml"}, {}, "response_format.type must be text, json_object or json_schema"),
        ({"type": "json_schema", "json_schema": {"name": "a"}}, {}, "response_format.json_schema.schema must be"),
        (
            {"type": "json_schema", "json_schema": {"schema": {"type": "array"}}},
            {},
            "response_format.json_schema.schema must describe an object",
        ),
        (
            {"type": "json_object"},
            {"tools": [{"type": "function", "function": {"name": "f"}}]},
            "response_format json_object or json_schema together with tools",
        ),
    ],
)
def test_formats_that_cannot_be_honoured_are_refused(eu_runtime, store, bedrock, fmt, extra, message):
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    response = post(gateway, CHAT, chat(response_format=fmt, **extra), new_key(store))
    assert response.status == 400 and body_of(response)["error"]["message"].startswith(message)
    assert bedrock.requests == []


def test_text_format_changes_nothing(eu_runtime, store, bedrock):
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    response = post(gateway, CHAT, chat(response_format={"type": "text"}), new_key(store))
    assert body_of(response)["choices"][0]["message"]["content"] == "Hello from Bedrock"
    assert "toolConfig" not in bedrock.requests[0]["json"]
