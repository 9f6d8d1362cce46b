"""OpenAI fidelity without I/O: tool history without tools on Converse, parameters Converse lacks, the
answer fields OpenAI upstreams send (refusal, logprobs, system_fingerprint), error bodies with ``param``."""

from __future__ import annotations

import pytest

from regiongate.contract.errors import InvalidRequest, NotFound, RegionMismatch
from regiongate.gateway.runtime import converse_params
from regiongate.gateway.runtime.requests import validate_chat
from regiongate.gateway.runtime.translate import from_openai, from_openai_chunks, to_converse

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
HISTORY = [
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
    {"role": "user", "content": "And now summarise."},
]


def _blocks(request):
    return [b for m in request["messages"] for b in m["content"]]


@pytest.mark.parametrize("extra", [{"tools": TOOLS, "tool_choice": "none"}, {}], ids=["tool_choice_none", "no_tools"])
def test_tool_history_without_a_tool_config_is_rendered_as_text(extra):
    request = to_converse(validate_chat({"model": "m", "messages": HISTORY, **extra}))
    assert "toolConfig" not in request
    blocks = _blocks(request)
    assert not any("toolUse" in b or "toolResult" in b for b in blocks)
    assert {"text": '[earlier tool call call_1: get_weather({"city": "Paris"})]'} in blocks
    assert {"text": "[result of tool call call_1: 18C]"} in blocks
    assert [m["role"] for m in request["messages"]] == ["user", "assistant", "user"]


def test_tool_history_with_tools_offered_stays_tool_blocks():
    request = to_converse(validate_chat({"model": "m", "messages": HISTORY, "tools": TOOLS, "tool_choice": "auto"}))
    assert request["toolConfig"]["toolChoice"] == {"auto": {}}
    assert any("toolUse" in b for b in _blocks(request)) and any("toolResult" in b for b in _blocks(request))


def test_invalid_arguments_in_history_are_refused_even_as_text():
    bad = [
        HISTORY[0],
        {**HISTORY[1], "tool_calls": [{**HISTORY[1]["tool_calls"][0], "function": {"name": "f", "arguments": "{"}}]},
    ]
    with pytest.raises(InvalidRequest, match=r"messages\[1\]\.tool_calls\[0\]\.function\.arguments is not valid JSON"):
        to_converse(validate_chat({"model": "m", "messages": [*bad, HISTORY[2]], "tool_choice": "none"}))


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"seed": 1}, "seed"),
        ({"presence_penalty": 1}, "presence_penalty"),
        ({"frequency_penalty": 0.1}, "frequency_penalty"),
        ({"logprobs": True}, "logprobs"),
        ({"tools": TOOLS, "parallel_tool_calls": False}, "parallel_tool_calls"),
    ],
)
def test_converse_refuses_what_it_has_no_equivalent_of(extra, param):
    with pytest.raises(InvalidRequest, match=rf"^{param} is not supported by provider bedrock-eu \(Bedrock\)") as info:
        converse_params.check_chat(validate_chat({"model": "m", "messages": HISTORY[:1], **extra}), "bedrock-eu")
    assert info.value.body()["error"]["param"] == param


def test_parallel_tool_calls_false_without_tools_offered_changes_nothing():
    for extra in (
        {"parallel_tool_calls": False},
        {"tools": TOOLS, "tool_choice": "none", "parallel_tool_calls": False},
    ):
        converse_params.check_chat(validate_chat({"model": "m", "messages": HISTORY[:1], **extra}), "bedrock-eu")


def test_embedding_dimensions_only_where_the_model_takes_them():
    assert converse_params.embedding_dimensions("amazon.titan-embed-text-v2:0", 256, "b") == 256
    assert converse_params.embedding_dimensions("cohere.embed-multilingual-v3", None, "b") is None
    with pytest.raises(InvalidRequest, match=r"^dimensions is not supported by provider b \(Bedrock\)"):
        converse_params.embedding_dimensions("cohere.embed-multilingual-v3", 256, "b")


def test_openai_answer_fields_are_kept():
    answer = {
        "system_fingerprint": "fp_1",
        "choices": [
            {"message": {"content": None, "refusal": "No."}, "finish_reason": "stop", "logprobs": {"content": []}}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1},
    }
    result = from_openai(answer)
    assert (result.refusal, result.system_fingerprint, result.logprobs) == ("No.", "fp_1", {"content": []})
    chunks = [
        {"system_fingerprint": "fp_1", "choices": [{"delta": {"refusal": "No"}}]},
        {"system_fingerprint": "fp_1", "choices": [{"delta": {"content": "x"}, "logprobs": {"content": [1]}}]},
    ]
    deltas = list(from_openai_chunks(chunks))
    assert [(d.kind, d.text) for d in deltas] == [("fingerprint", "fp_1"), ("refusal", "No"), ("text", "x")]
    assert deltas[-1].logprobs == {"content": [1]}


def test_error_bodies_carry_param_but_the_region_mismatch_body_is_exact():
    assert InvalidRequest("bad", param="seed").body() == {
        "error": {"message": "bad", "type": "invalid_request_error", "param": "seed", "code": None}
    }
    assert NotFound("none").body()["error"]["param"] is None
    assert RegionMismatch("eu", "us").body() == {
        "error": {
            "message": "API key is for region EU, but request was made to US",
            "type": "region_mismatch",
            "code": 403,
        }
    }
