"""Claude's extended thinking through the service (#13): the Responses API's ``reasoning.effort`` and chat's
``reasoning_effort`` against the loopback fake Bedrock (tests/fixtures/fakes.py answers reasoningContent and checks
thinking requests as Bedrock does: budget, max tokens, temperature, the signed block of a tool-use turn). Every
answer and stream event is validated with the conformance checker (tests/integration/gateway/test_conformance.py)."""

from __future__ import annotations

import json

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response as ResponsesResponse
from openai.types.responses import ResponseStreamEvent

from regiongate.gateway.runtime import reasoning
from regiongate.store.memory import MemoryStore
from tests.fixtures.gateway import body_of, make_gateway, new_key, post, sse_events
from tests.fixtures.processing_area import MODEL as CLAUDE
from tests.integration.gateway.test_conformance import conforms, named_events

RESPONSES = "/v1/responses"
CHAT = "/v1/chat/completions"
TOOLS = [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]
CHAT_TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


@pytest.fixture
def store():
    return MemoryStore()


def thinking_sent(bedrock, n: int = 0) -> dict:
    return bedrock.requests[n]["json"]["additionalModelRequestFields"]["thinking"]


# --- /v1/responses ------------------------------------------------------------------------------------------------


def test_effort_sends_the_thinking_config_and_the_answer_has_a_conforming_reasoning_item(eu_runtime, store, bedrock):
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock)
    body = {"model": CLAUDE, "input": "Hi", "reasoning": {"effort": "medium", "summary": "auto"}}
    response = post(gateway, RESPONSES, body, new_key(store))
    assert response.status == 200, response.body
    answer = body_of(response)
    conforms(ResponsesResponse, answer, "response")
    assert thinking_sent(bedrock) == {"type": "enabled", "budget_tokens": 8192}
    assert bedrock.requests[0]["json"]["inferenceConfig"] == {"maxTokens": 8192 + reasoning.ANSWER_TOKENS}
    first, message = answer["output"]
    assert first["type"] == "reasoning" and first["summary"] == [{"type": "summary_text", "text": bedrock.reasoning}]
    assert "encrypted_content" not in first  # not asked for
    assert message["content"][0]["text"] == "Hello from Bedrock"
    assert answer["reasoning"] == {"effort": "medium", "summary": "auto"}
    assert answer["usage"]["output_tokens_details"] == {"reasoning_tokens": 0}  # Converse does not report them
    assert sink.events[0]["output_tokens"] == 7  # the thinking tokens are in Bedrock's outputTokens, priced there


def test_the_stream_has_conforming_reasoning_events_in_order(eu_runtime, store, bedrock):
    bedrock.redacted_reasoning = b"\x01opaque"
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    body = {
        "model": CLAUDE,
        "input": "Hi",
        "stream": True,
        "reasoning": {"effort": "low"},
        "include": ["reasoning.encrypted_content"],
    }
    events = named_events(post(gateway, RESPONSES, body, new_key(store)).body)
    for i, (name, data) in enumerate(events):
        assert name == data["type"] and data["sequence_number"] == i
        conforms(ResponseStreamEvent, data, f"event[{i}] {name}")
    names = [name for name, _ in events]
    thinking = names[names.index("response.output_item.added") : names.index("response.content_part.added")]
    deltas = len(bedrock.reasoning.split(" "))
    assert thinking == [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        *["response.reasoning_summary_text.delta"] * deltas,
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",  # the redacted block: no summary
        "response.output_item.done",
        "response.output_item.added",  # the message
    ]
    final = events[-1][1]["response"]["output"]
    assert [item["type"] for item in final] == ["reasoning", "reasoning", "message"]
    signed = reasoning.decode_item(final[0]["encrypted_content"], "x")
    assert signed["signature"] == bedrock.reasoning_signature(bedrock.reasoning)
    assert reasoning.decode_item(final[1]["encrypted_content"], "x")["type"] == "redacted_thinking"


def test_a_tool_turn_round_trips_its_signed_reasoning_statelessly(eu_runtime, store, bedrock):
    """Turn 1 thinks and calls a tool; turn 2 sends the output items back with the tool's output: the fake (like
    Bedrock) refuses it unless the turn starts with the reasoning block and its unmodified signature."""
    bedrock.tool_call = {"name": "lookup", "input": {"q": "x"}}
    bedrock.redacted_reasoning = b"\x01opaque"
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    key = new_key(store)
    first = {
        "model": CLAUDE,
        "input": "Look it up",
        "tools": TOOLS,
        "reasoning": {"effort": "low"},
        "include": ["reasoning.encrypted_content"],
    }
    answer = body_of(post(gateway, RESPONSES, first, key))
    conforms(ResponsesResponse, answer, "turn 1")
    assert [item["type"] for item in answer["output"]] == ["reasoning", "reasoning", "message", "function_call"]
    call = answer["output"][-1]
    output = {"type": "function_call_output", "call_id": call["call_id"], "output": "42"}
    bedrock.tool_call = None
    second = {**first, "input": [{"role": "user", "content": "Look it up"}, *answer["output"], output]}
    response = post(gateway, RESPONSES, second, key)
    assert response.status == 200, response.body
    turn = bedrock.requests[1]["json"]["messages"][1]
    assert turn["role"] == "assistant"
    assert turn["content"][0] == {
        "reasoningContent": {
            "reasoningText": {"text": bedrock.reasoning, "signature": bedrock.reasoning_signature(bedrock.reasoning)}
        }
    }
    assert "redactedContent" in turn["content"][1]["reasoningContent"] and "toolUse" in turn["content"][3]


def test_a_tool_turn_without_its_reasoning_is_refused_before_bedrock(eu_runtime, store, bedrock):
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    body = {
        "model": CLAUDE,
        "tools": TOOLS,
        "reasoning": {"effort": "low"},
        "input": [
            {"role": "user", "content": "Look it up"},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "no signature"}]},
            {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "42"},
        ],
    }
    response = post(gateway, RESPONSES, body, new_key(store))
    assert response.status == 400 and bedrock.requests == []
    error = body_of(response)["error"]
    assert error["param"] == "messages" and 'include: ["reasoning.encrypted_content"]' in error["message"]


def test_a_modified_reasoning_text_is_refused_by_bedrock(eu_runtime, store, bedrock):
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    forged = reasoning.encode_item({"type": "thinking", "thinking": "edited", "signature": "sig-0"})
    body = {
        "model": CLAUDE,
        "tools": TOOLS,
        "reasoning": {"effort": "low"},
        "input": [
            {"role": "user", "content": "Look it up"},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": forged},
            {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "42"},
        ],
    }
    response = post(gateway, RESPONSES, body, new_key(store))
    assert response.status == 400 and body_of(response)["error"]["type"] == "upstream_invalid_request"


def test_the_guardrails_read_reasoning_sent_back(eu_runtime, store, bedrock):
    """A card number in a thinking block sent back is blocked like one in the prompt (never reaches Bedrock)."""
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock)
    smuggled = {"type": "thinking", "thinking": "card 4111 1111 1111 1111", "signature": "sig"}
    body = {
        "model": CLAUDE,
        "reasoning": {"effort": "low"},
        "input": [
            {"role": "user", "content": "Hi"},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": reasoning.encode_item(smuggled)},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "Again"},
        ],
    }
    response = post(gateway, RESPONSES, body, new_key(store))
    assert response.status == 400 and body_of(response)["error"]["type"] == "guardrail_violation"
    assert bedrock.requests == [] and sink.events[0]["guardrail"] == "block"


@pytest.mark.parametrize("model", ["nova-pro", "gpt-4o"])
def test_a_model_without_thinking_is_a_400_naming_the_ones_with_it(eu_runtime, store, bedrock, azure, model):
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock, azure=azure)
    body = {"model": model, "input": "Hi", "reasoning": {"effort": "high"}}
    response = post(gateway, RESPONSES, body, new_key(store))
    assert response.status == 400 and bedrock.requests == [] and azure.requests == []
    error = body_of(response)["error"]
    assert error["param"] == "reasoning.effort"
    assert error["message"] == (
        f"reasoning.effort is not supported by model {model}: extended thinking is offered for {CLAUDE}"
    )
    assert sink.events[0]["status"] == 400


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"temperature": 0.2}, "temperature"),
        ({"max_output_tokens": 1000}, "max_output_tokens"),
        ({"text": {"format": {"type": "json_object"}}}, "text.format"),
        ({"tool_choice": "required", "tools": TOOLS}, "tool_choice"),
    ],
)
def test_what_thinking_does_not_allow_is_refused_before_bedrock_by_its_responses_name(
    eu_runtime, store, bedrock, extra, param
):
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    body = {"model": CLAUDE, "input": "Hi", "reasoning": {"effort": "low"}, **extra}
    response = post(gateway, RESPONSES, body, new_key(store))
    error = body_of(response)["error"]
    assert response.status == 400 and error["param"] == param and error["message"].startswith(param)
    assert bedrock.requests == []


# --- /v1/chat/completions -----------------------------------------------------------------------------------------

EXTENSIONS = ("reasoning_content", "thinking_blocks")


def without_extensions(data: dict, where: str) -> dict:
    """The chat answer or chunk without the two documented extension fields, which must be there."""
    data = json.loads(json.dumps(data))
    holder = data["choices"][0]["message" if "message" in data["choices"][0] else "delta"]
    assert set(EXTENSIONS) & set(holder), where
    for name in EXTENSIONS:
        holder.pop(name, None)
    return data


def test_chat_reasoning_effort_answers_reasoning_content_and_thinking_blocks(eu_runtime, store, bedrock):
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    key = new_key(store)
    response = post(
        gateway,
        CHAT,
        {
            "model": CLAUDE,
            "messages": [{"role": "user", "content": "Hi"}],
            "reasoning_effort": "high",
            "max_tokens": 30000,
        },
        key,
    )
    assert response.status == 200, response.body
    answer = body_of(response)
    message = answer["choices"][0]["message"]
    assert message["reasoning_content"] == bedrock.reasoning and message["content"] == "Hello from Bedrock"
    assert message["thinking_blocks"] == [
        {"type": "thinking", "thinking": bedrock.reasoning, "signature": bedrock.reasoning_signature(bedrock.reasoning)}
    ]
    conforms(ChatCompletion, without_extensions(answer, "chat"), "chat.completion")
    assert thinking_sent(bedrock) == {"type": "enabled", "budget_tokens": 16384}
    assert bedrock.requests[0]["json"]["inferenceConfig"]["maxTokens"] == 30000
    plain = body_of(post(gateway, CHAT, {"model": CLAUDE, "messages": [{"role": "user", "content": "Hi"}]}, key))
    conforms(ChatCompletion, plain, "chat.completion without reasoning")  # no extension field unless asked
    assert "additionalModelRequestFields" not in bedrock.requests[1]["json"]


def test_chat_stream_has_reasoning_deltas_then_the_signed_block(eu_runtime, store, bedrock):
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    body = {
        "model": CLAUDE,
        "messages": [{"role": "user", "content": "Hi"}],
        "reasoning_effort": "low",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    chunks = sse_events(post(gateway, CHAT, body, new_key(store)).body)[:-1]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    reasoned = [d for d in deltas if set(EXTENSIONS) & set(d)]
    assert "".join(d.get("reasoning_content", "") for d in reasoned) == bedrock.reasoning
    assert reasoned[-1]["thinking_blocks"][0]["signature"] == bedrock.reasoning_signature(bedrock.reasoning)
    assert deltas.index(reasoned[-1]) < next(i for i, d in enumerate(deltas) if d.get("content"))
    for i, chunk in enumerate(chunks):
        has = chunk["choices"] and set(EXTENSIONS) & set(chunk["choices"][0]["delta"])
        conforms(ChatCompletionChunk, without_extensions(chunk, f"chunk[{i}]") if has else chunk, f"chunk[{i}]")


def test_chat_tool_loop_sends_the_thinking_blocks_back(eu_runtime, store, bedrock):
    bedrock.tool_call = {"name": "lookup", "input": {"q": "x"}}
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    key = new_key(store)
    first = {
        "model": CLAUDE,
        "messages": [{"role": "user", "content": "Look"}],
        "tools": CHAT_TOOLS,
        "reasoning_effort": "low",
    }
    message = body_of(post(gateway, CHAT, first, key))["choices"][0]["message"]
    bedrock.tool_call = None
    tool = {"role": "tool", "tool_call_id": message["tool_calls"][0]["id"], "content": "42"}
    second = {**first, "messages": [*first["messages"], message, tool]}
    response = post(gateway, CHAT, second, key)
    assert response.status == 200, response.body
    assert "reasoningText" in bedrock.requests[1]["json"]["messages"][1]["content"][0]["reasoningContent"]
    message.pop("thinking_blocks")
    refused = post(gateway, CHAT, {**first, "messages": [*first["messages"], message, tool]}, key)
    assert refused.status == 400 and "thinking_blocks" in body_of(refused)["error"]["message"]
    assert len(bedrock.requests) == 2


@pytest.mark.parametrize("model", ["nova-pro", "gpt-4o"])
def test_chat_reasoning_effort_on_another_model_is_a_400(eu_runtime, store, bedrock, azure, model):
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock, azure=azure)
    body = {"model": model, "messages": [{"role": "user", "content": "Hi"}], "reasoning_effort": "low"}
    response = post(gateway, CHAT, body, new_key(store))
    assert response.status == 400 and bedrock.requests == [] and azure.requests == []
    error = body_of(response)["error"]
    assert error["param"] == "reasoning_effort" and error["message"].endswith(f"offered for {CLAUDE}")
