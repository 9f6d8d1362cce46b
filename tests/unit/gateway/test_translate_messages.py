"""The Messages API translation on its own: request validation, the Bedrock body, answer and stream checks."""

from __future__ import annotations

import json
import re

import pytest

from regiongate.contract.errors import InvalidRequest, UpstreamError
from regiongate.gateway.runtime import translate_messages as tm


def request(**extra):
    return {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}], **extra}


def test_the_bedrock_body_carries_the_version_and_betas_and_not_model_stream_or_metadata():
    body = tm.validate(request(stream=True, metadata={"user_id": "u"}, top_k=3))
    assert tm.to_bedrock(body, ["interleaved-thinking-2025-05-14"]) == {
        "anthropic_version": "bedrock-2023-05-31",
        "anthropic_beta": ["interleaved-thinking-2025-05-14"],
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "Hi"}],
        "top_k": 3,
    }


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"service_tier": "auto"}, "service_tier: this field is not supported"),
        ({"max_tokens": 0}, "max_tokens: must be between 1 and 1000000"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages.0.role: must be user or assistant"),
        ({"messages": [{"role": "user", "content": [{"type": "video"}]}]}, "messages.0.content.0.type: 'video'"),
        ({"thinking": {"type": "enabled", "budget_tokens": 5}}, "thinking.budget_tokens: must be at least 1024"),
        ({"tool_choice": {"type": "tool"}}, "tool_choice.name: must be a string"),
        ({"tools": [{"type": "code_execution_20250522", "name": "c"}]}, "tools.0.type: 'code_execution_20250522'"),
        ({"system": [{"type": "image"}]}, "system.0.type: 'image'"),
        ({"temperature": 1.5}, "temperature: must be between 0 and 1"),
    ],
)
def test_invalid_requests_name_the_field(extra, message):
    with pytest.raises(InvalidRequest, match="^" + re.escape(message)):
        tm.validate(request(**extra))


def test_count_tokens_takes_no_max_tokens():
    with pytest.raises(InvalidRequest, match=r"^max_tokens: count_tokens takes no max_tokens"):
        tm.count_tokens_request(request())


def test_betas_bedrock_does_not_know_are_dropped_and_named():
    kept, dropped = tm.split_betas({"anthropic-beta": "claude-code-20250219, context-1m-2025-08-07,,"})
    assert (kept, dropped) == (["context-1m-2025-08-07"], ["claude-code-20250219"])


def test_guardrails_see_every_text_the_model_reads():
    body = request(
        system=[{"type": "text", "text": "S"}],
        tools=[{"name": "t", "description": "D", "input_schema": {"type": "object", "description": "J"}}],
        messages=[
            {"role": "user", "content": "U"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "T", "signature": "s"},
                    {"type": "tool_use", "id": "1", "name": "t", "input": {"q": "I"}},
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "1", "content": [{"type": "text", "text": "R"}]}],
            },
        ],
    )
    assert dict(tm.texts(body)) == {
        "system.0.text": "S",
        "messages.0.content": "U",
        "messages.1.content.0.thinking": "T",
        "messages.1.content.1.input": '{"q": "I"}',
        "messages.2.content.0.content.0.text": "R",
        "tools.0.description": "D",
        "tools.0.input_schema": '{"type": "object", "description": "J"}',
    }


@pytest.mark.parametrize(
    "answer",
    [
        "not json object",
        {"type": "error", "content": [], "usage": {}},
        {"type": "message", "content": "text", "usage": {}},
        {"type": "message", "content": [], "usage": {"input_tokens": -1}},
        {"type": "message", "content": [], "usage": {"output_tokens": 2**31}},
        {"type": "message", "content": [], "usage": {"input_tokens": "12"}},
    ],
)
def test_broken_or_impossible_answers_are_upstream_errors(answer):
    with pytest.raises(UpstreamError, match=r"^Bedrock"):
        tm.message(answer, request_id="00000000-0000-4000-8000-000000000000", model="m")


def test_the_stream_is_rewritten_and_metered():
    state = tm.StreamState(request_id="00000000-0000-4000-8000-000000000001", model="claude-sonnet-4-5")
    start = state.event(
        {
            "type": "message_start",
            "message": {
                "id": "msg_bdrk",
                "model": "x",
                "usage": {"input_tokens": 5, "cache_read_input_tokens": 3, "output_tokens": 1},
            },
        }
    )
    name, data = start.decode().split("\n")[:2]
    message = json.loads(data[len("data: ") :])["message"]
    assert name == "event: message_start"
    assert (message["id"], message["model"]) == ("msg_00000000000040008000000000000001", "claude-sonnet-4-5")
    state.event({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}})
    stop = state.event({"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 5}})
    assert b"invocationMetrics" not in stop and state.stopped
    assert (state.usage.billed_input, state.usage.output_tokens) == (8, 9)
    with pytest.raises(UpstreamError, match=r"^Bedrock streamed an event"):
        state.event({"type": "surprise"})
    with pytest.raises(UpstreamError, match=r"^Bedrock reported an impossible output_tokens"):
        state.event({"type": "message_delta", "usage": {"output_tokens": -4}})
