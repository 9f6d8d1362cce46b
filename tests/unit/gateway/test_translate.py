"""OpenAI ↔ Bedrock Converse translation: messages, tools, inference settings, usage and finish reasons."""

from __future__ import annotations

import json

import pytest

from regiongate.contract.errors import InvalidRequest
from regiongate.gateway.runtime.requests import validate_chat
from regiongate.gateway.runtime.translate import (
    Delta,
    from_converse,
    from_converse_stream,
    from_openai_chunks,
    to_converse,
)

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def test_messages_tools_and_settings_become_converse():
    body = validate_chat(
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "Weather in "}, {"type": "text", "text": "Paris?"}],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        },
                        {
                            "id": "call_2",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Lyon"}'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
                {"role": "tool", "tool_call_id": "call_2", "content": "20C"},
                {"role": "user", "content": "Thanks"},
            ],
            "max_tokens": 64,
            "temperature": 0.2,
            "top_p": 0.9,
            "stop": "END",
            "tools": TOOLS,
            "tool_choice": "required",
        }
    )
    request = to_converse(body)
    assert request["system"] == [{"text": "Be brief."}]
    assert request["inferenceConfig"] == {"maxTokens": 64, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]}
    assert [m["role"] for m in request["messages"]] == ["user", "assistant", "user"]
    assert request["messages"][0]["content"] == [{"text": "Weather in Paris?"}]
    uses = request["messages"][1]["content"]
    assert uses[0] == {"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}}
    # Both tool results and the next user turn merge into one user message (Converse needs alternation).
    assert request["messages"][2]["content"] == [
        {"toolResult": {"toolUseId": "call_1", "content": [{"text": "18C"}]}},
        {"toolResult": {"toolUseId": "call_2", "content": [{"text": "20C"}]}},
        {"text": "Thanks"},
    ]
    spec = request["toolConfig"]["tools"][0]["toolSpec"]
    assert spec["name"] == "get_weather" and spec["inputSchema"]["json"]["properties"]["city"]["type"] == "string"
    assert request["toolConfig"]["toolChoice"] == {"any": {}}


def test_tool_arguments_that_are_not_json_are_a_400():
    body = validate_chat(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "x"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{not json"}}
                    ],
                },
            ],
        }
    )
    with pytest.raises(InvalidRequest, match=r"messages\[1\].tool_calls\[0\].function.arguments"):
        to_converse(body)


def test_conversation_must_start_with_user():
    with pytest.raises(InvalidRequest, match=r"^the conversation must start with a user message"):
        to_converse(validate_chat({"model": "m", "messages": [{"role": "assistant", "content": "hi"}]}))


@pytest.mark.parametrize(
    "stop, finish",
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("content_filtered", "content_filter"),
        ("guardrail_intervened", "content_filter"),
    ],
)
def test_finish_reasons(stop, finish):
    result = from_converse(
        {
            "output": {"message": {"content": [{"text": "x"}]}},
            "stopReason": stop,
            "usage": {"inputTokens": 3, "outputTokens": 4},
        }
    )
    assert result.finish_reason == finish
    assert (result.input_tokens, result.output_tokens) == (3, 4)


def test_converse_tool_use_becomes_openai_tool_calls():
    result = from_converse(
        {
            "output": {
                "message": {
                    "content": [{"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Zürich"}}}]
                }
            },
            "stopReason": "tool_use",
            "usage": {"inputTokens": 1, "outputTokens": 2},
        }
    )
    assert result.content is None
    assert result.tool_calls[0]["id"] == "t1"
    assert json.loads(result.tool_calls[0]["function"]["arguments"]) == {"city": "Zürich"}


def test_converse_stream_events_become_deltas():
    events = [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Hi"}}},
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"contentBlockStart": {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t1", "name": "f"}}}},
        {"contentBlockDelta": {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"a":'}}}},
        {"contentBlockDelta": {"contentBlockIndex": 1, "delta": {"toolUse": {"input": "1}"}}}},
        {"messageStop": {"stopReason": "tool_use"}},
        {"metadata": {"usage": {"inputTokens": 9, "outputTokens": 8}}},
    ]
    assert list(from_converse_stream(events)) == [
        Delta("text", text="Hi"),
        Delta("tool_start", index=0, tool_id="t1", name="f"),
        Delta("tool_args", index=0, text='{"a":'),
        Delta("tool_args", index=0, text="1}"),
        Delta("finish", finish_reason="tool_calls"),
        Delta("usage", input_tokens=9, output_tokens=8),
    ]


def test_openai_chunks_become_deltas():
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {"choices": [{"index": 0, "delta": {"content": "Hi"}}]},
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": ""}}]},
                }
            ]
        },
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 6}},
    ]
    kinds = [d.kind for d in from_openai_chunks(chunks)]
    assert kinds == ["text", "tool_start", "tool_args", "finish", "usage"]


def test_a_text_delta_made_quickly_is_the_delta_the_constructor_makes():
    import dataclasses

    from regiongate.gateway.runtime.translate import text_delta

    logprobs = {"content": [{"token": "a", "logprob": -0.5}]}
    for fast, slow in [
        (text_delta("tok "), Delta("text", text="tok ")),
        (text_delta("é", logprobs), Delta("text", text="é", logprobs=logprobs)),
    ]:
        assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
        assert dataclasses.asdict(fast) == dataclasses.asdict(slow)
        assert fast.logprobs is slow.logprobs
        assert dataclasses.replace(fast, text="x") == dataclasses.replace(slow, text="x")
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'text'"):
        text_delta("x").text = "y"  # type: ignore[misc]
