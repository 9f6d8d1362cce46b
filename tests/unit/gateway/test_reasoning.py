"""Claude's extended thinking on the OpenAI-shaped routes, at the protocol layer (no transport): which models take
it, reasoning_effort → Converse's thinking config with Bedrock's constraints, reasoningContent answers and stream
deltas → chat fields, Responses reasoning items and their stream events, and reasoning sent back by the client."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import pytest

from regiongate.contract.document import ModelEntry, ProviderEntry
from regiongate.contract.errors import InvalidRequest
from regiongate.gateway.runtime import reasoning
from regiongate.gateway.runtime import translate_responses as tr
from regiongate.gateway.runtime.responses import ChunkWriter, chat_completion
from regiongate.gateway.runtime.translate import ChatResult, Delta, from_converse, from_converse_stream, to_converse
from tests.fixtures.processing_area import MODEL as CLAUDE
from tests.fixtures.processing_area import PROFILE

PROVIDERS = {
    "bedrock-eu": ProviderEntry(name="bedrock-eu", type="bedrock", aws_region="eu-central-1"),
    "azure-weu": ProviderEntry(name="azure-weu", type="azure_openai", endpoint="https://x", location="westeurope"),
}


def model(name: str, target: str, provider: str = "bedrock-eu") -> ModelEntry:
    return ModelEntry(name, provider, target, "chat", Decimal("1"), Decimal("1"))


MODELS = {
    m.name: m
    for m in (
        model(CLAUDE, PROFILE),
        model("nova-pro", "eu.amazon.nova-pro-v1:0"),
        model("claude-3-haiku", "eu.anthropic.claude-3-haiku-20240307-v1:0"),
        model("gpt-4o", "gpt-4o", "azure-weu"),
    )
}


def chat(**extra):
    return {"model": CLAUDE, "messages": [{"role": "user", "content": "Hi"}], **extra}


def prepared(**extra):
    body = chat(**extra)
    reasoning.prepare(body, MODELS[body["model"]], MODELS, PROVIDERS)
    return body


# --- which models -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "supported"),
    [
        ("eu.anthropic.claude-3-7-sonnet-20250219-v1:0", True),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", True),
        ("eu.anthropic.claude-sonnet-4-5-20250929-v1:0", True),
        ("eu.anthropic.claude-haiku-4-5-20251001-v1:0", True),
        ("anthropic.claude-opus-4-1-20250805-v1:0", True),
        ("eu.anthropic.claude-3-haiku-20240307-v1:0", False),
        ("apac.anthropic.claude-3-5-sonnet-20241022-v2:0", False),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", False),
        ("eu.amazon.nova-pro-v1:0", False),
    ],
)
def test_thinking_is_offered_for_claude_3_7_and_later_on_bedrock(target, supported):
    assert reasoning.supports(model("m", target), PROVIDERS) is supported


def test_a_claude_target_on_another_provider_is_not_offered_thinking():
    assert not reasoning.supports(model("m", PROFILE, "azure-weu"), PROVIDERS)
    assert reasoning.thinking_models(MODELS, PROVIDERS) == [CLAUDE]


# --- reasoning_effort → the thinking config -----------------------------------------------------------------------


@pytest.mark.parametrize(("effort", "budget"), [("minimal", 1024), ("low", 2048), ("medium", 8192), ("high", 16384)])
def test_each_effort_has_its_budget_and_room_for_the_answer(effort, budget):
    body = prepared(reasoning_effort=effort)
    assert body["max_tokens"] == budget + reasoning.ANSWER_TOKENS
    request = to_converse(body)
    assert request["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": budget}}
    assert request["inferenceConfig"]["maxTokens"] > budget


def test_a_smaller_max_tokens_halves_the_budget_and_one_too_small_is_refused():
    request = to_converse(prepared(reasoning_effort="high", max_tokens=6000))
    assert request["additionalModelRequestFields"]["thinking"]["budget_tokens"] == 3000
    assert request["inferenceConfig"]["maxTokens"] == 6000
    request = to_converse(prepared(reasoning_effort="high", max_completion_tokens=1500))
    assert request["additionalModelRequestFields"]["thinking"]["budget_tokens"] == 1024 < 1500
    with pytest.raises(InvalidRequest, match=r"max_tokens must be more than 1024 with reasoning_effort") as caught:
        prepared(reasoning_effort="low", max_tokens=1024)
    assert caught.value.param == "max_tokens"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"temperature": 0.2}, "temperature"),
        ({"top_p": 0.5}, "top_p"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tool_choice": {"type": "function", "function": {"name": "f"}}}, "tool_choice"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
    ],
)
def test_what_thinking_does_not_allow_is_refused_naming_the_parameter(extra, param):
    with pytest.raises(InvalidRequest, match=rf"^{param} .*reasoning_effort") as caught:
        prepared(reasoning_effort="low", **extra)
    assert caught.value.param == param


def test_temperature_1_and_top_p_in_range_pass():
    body = prepared(reasoning_effort="low", temperature=1, top_p=0.95)
    assert to_converse(body)["inferenceConfig"]["temperature"] == 1


@pytest.mark.parametrize("name", ["nova-pro", "claude-3-haiku", "gpt-4o"])
def test_a_model_without_thinking_is_a_400_naming_the_parameter_and_the_models_that_have_it(name):
    with pytest.raises(InvalidRequest, match=rf"^reasoning_effort is not supported by model {name}: .* {CLAUDE}$"):
        prepared(model=name, reasoning_effort="medium")


def test_effort_none_or_absent_is_no_thinking_for_any_model():
    for name in MODELS:
        assert "additionalModelRequestFields" not in to_converse(prepared(model=name, reasoning_effort="none"))
        assert "additionalModelRequestFields" not in to_converse(prepared(model=name))


@pytest.mark.parametrize("effort", ["xhigh", "max", "HIGH", 3])
def test_an_unknown_effort_is_refused(effort):
    with pytest.raises(InvalidRequest, match="reasoning_effort must be one of none, minimal, low, medium, high"):
        prepared(reasoning_effort=effort)


# --- reasoning sent back ------------------------------------------------------------------------------------------

SIGNED = {"type": "thinking", "thinking": "Think.", "signature": "sig-1"}
REDACTED = {"type": "redacted_thinking", "data": base64.b64encode(b"\x00opaque").decode()}


def tool_loop(blocks=None, **extra):
    assistant = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }
    if blocks is not None:
        assistant["thinking_blocks"] = blocks
    messages = [{"role": "user", "content": "Hi"}, assistant, {"role": "tool", "tool_call_id": "c1", "content": "ok"}]
    tools = [{"type": "function", "function": {"name": "f"}}]
    return {"model": CLAUDE, "messages": messages, "tools": tools, **extra}


def test_thinking_blocks_go_first_in_the_assistant_turn_with_their_signature():
    body = tool_loop([SIGNED, REDACTED], reasoning_effort="low")
    reasoning.prepare(body, MODELS[CLAUDE], MODELS, PROVIDERS)
    turn = to_converse(body)["messages"][1]["content"]
    assert turn[0] == {"reasoningContent": {"reasoningText": {"text": "Think.", "signature": "sig-1"}}}
    assert turn[1] == {"reasoningContent": {"redactedContent": b"\x00opaque"}}
    assert "toolUse" in turn[2]


def test_a_tool_turn_without_its_reasoning_is_refused_with_how_to_send_it():
    body = tool_loop(reasoning_effort="low")
    reasoning.prepare(body, MODELS[CLAUDE], MODELS, PROVIDERS)
    with pytest.raises(InvalidRequest, match=r"reasoning\.encrypted_content.*thinking_blocks") as caught:
        to_converse(body)
    assert caught.value.param == "messages"


def test_without_thinking_the_blocks_are_not_sent_and_for_other_models_they_are_refused():
    body = tool_loop([SIGNED])
    reasoning.prepare(body, MODELS[CLAUDE], MODELS, PROVIDERS)
    assert "reasoningContent" not in json.dumps(to_converse(body), default=str)
    with pytest.raises(InvalidRequest, match=r"^reasoning sent back .* not supported by model nova-pro"):
        reasoning.prepare({**body, "model": "nova-pro"}, MODELS["nova-pro"], MODELS, PROVIDERS)


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ({"type": "thinking", "thinking": "x"}, r"thinking_blocks\[0\] needs its thinking text and signature"),
        ({"type": "redacted_thinking", "data": "not base64!"}, r"thinking_blocks\[0\]\.data must be the base64"),
        ({"type": "text", "text": "x"}, r"thinking_blocks\[0\]\.type must be thinking or redacted_thinking"),
    ],
)
def test_a_malformed_thinking_block_is_a_400_naming_it(block, expected):
    body = tool_loop([block], reasoning_effort="low")
    reasoning.prepare(body, MODELS[CLAUDE], MODELS, PROVIDERS)
    with pytest.raises(InvalidRequest, match=expected):
        to_converse(body)


# --- Converse answers ---------------------------------------------------------------------------------------------


def converse_answer():
    return {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "Think.", "signature": "sig-1"}}},
                    {"reasoningContent": {"redactedContent": b"\x00opaque"}},
                    {"text": "Hello"},
                ],
            }
        },
        "stopReason": "end_turn",
        "usage": {"inputTokens": 5, "outputTokens": 9},
    }


def test_reasoning_content_becomes_thinking_blocks_and_the_chat_extension_fields():
    result = from_converse(converse_answer())
    assert result.content == "Hello" and result.reasoning == [SIGNED, REDACTED]
    message = chat_completion(request_id="r", created=1, model="m", result=result, usage={})["choices"][0]["message"]
    assert message["reasoning_content"] == "Think." and message["thinking_blocks"] == [SIGNED, REDACTED]
    plain = chat_completion(request_id="r", created=1, model="m", result=ChatResult("Hi", [], "stop", 1, 1), usage={})[
        "choices"
    ][0]["message"]
    assert "reasoning_content" not in plain and "thinking_blocks" not in plain


def stream_events():
    def delta(index, value):
        return {"contentBlockDelta": {"contentBlockIndex": index, "delta": value}}

    return [
        {"messageStart": {"role": "assistant"}},
        delta(0, {"reasoningContent": {"text": "Thi"}}),
        delta(0, {"reasoningContent": {"text": "nk."}}),
        delta(0, {"reasoningContent": {"signature": "sig-1"}}),
        {"contentBlockStop": {"contentBlockIndex": 0}},
        delta(1, {"reasoningContent": {"redactedContent": b"\x00opaque"}}),
        {"contentBlockStop": {"contentBlockIndex": 1}},
        delta(2, {"text": "Hello"}),
        {"contentBlockStop": {"contentBlockIndex": 2}},
        {"messageStop": {"stopReason": "end_turn"}},
        {"metadata": {"usage": {"inputTokens": 5, "outputTokens": 9}}},
    ]


def test_reasoning_deltas_are_numbered_per_thinking_block_and_become_chat_chunks():
    deltas = list(from_converse_stream(stream_events()))
    assert [(d.kind, d.index, d.text) for d in deltas[:4]] == [
        ("reasoning", 0, "Thi"),
        ("reasoning", 0, "nk."),
        ("reasoning_signature", 0, "sig-1"),
        ("reasoning_redacted", 1, REDACTED["data"]),
    ]
    writer = ChunkWriter(request_id="r", created=1, model="m")
    chunks = [json.loads(c[6:]) for d in deltas if (c := writer.delta(d)) is not None]
    got = [c["choices"][0]["delta"] for c in chunks]
    assert got == [
        {"reasoning_content": "Thi"},
        {"reasoning_content": "nk."},
        {"thinking_blocks": [SIGNED]},
        {"thinking_blocks": [REDACTED]},
        {"content": "Hello"},
    ]


# --- the Responses API --------------------------------------------------------------------------------------------


def shape(**body):
    return tr.ResponseShape(request_id="0000-1111", created=1, model=CLAUDE, body={"model": CLAUDE, **body})


def test_reasoning_effort_maps_to_chat_and_the_response_echoes_it():
    body = {"model": CLAUDE, "input": "Hi", "reasoning": {"effort": "medium", "summary": "auto"}}
    assert tr.to_chat(body)["reasoning_effort"] == "medium"
    assert shape(reasoning={"effort": "medium", "summary": "auto"}).base["reasoning"] == {
        "effort": "medium",
        "summary": "auto",
    }
    assert shape(reasoning={"summary": "auto"}).base["reasoning"] is None


def test_reasoning_items_carry_the_summary_and_the_signature_only_when_included():
    result = from_converse(converse_answer())
    plain = shape().from_result(result, tr.usage(5, 9))
    assert [i["type"] for i in plain["output"]] == ["reasoning", "reasoning", "message"]
    assert plain["output"][0] == {
        "type": "reasoning",
        "id": "rs_00001111_0",
        "summary": [{"type": "summary_text", "text": "Think."}],
        "status": "completed",
    }
    assert plain["output"][1]["summary"] == [] and "encrypted_content" not in plain["output"][1]
    included = shape(include=["reasoning.encrypted_content"]).from_result(result, tr.usage(5, 9))
    first, second = included["output"][0], included["output"][1]
    assert reasoning.decode_item(first["encrypted_content"], "x") == SIGNED
    assert reasoning.decode_item(second["encrypted_content"], "x") == REDACTED
    assert plain["usage"]["output_tokens_details"] == {"reasoning_tokens": 0}


def test_a_reasoning_item_sent_back_becomes_the_turns_thinking_block():
    encrypted = reasoning.encode_item(SIGNED)
    body = {
        "model": CLAUDE,
        "input": [
            {"role": "user", "content": "Hi"},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": encrypted},
            {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": reasoning.encode_item(REDACTED)},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "ok"},
            {"type": "reasoning", "id": "rs_3", "summary": [{"type": "summary_text", "text": "old"}]},
        ],
    }
    messages = tr.to_chat(body)["messages"]
    assert messages[1]["thinking_blocks"] == [SIGNED, REDACTED]
    assert messages[1]["tool_calls"][0]["id"] == "c1" and messages[1]["content"] == ""
    assert len(messages) == 3  # the last item had no encrypted_content: nothing the model could take back


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("gAAAAABopenai-encrypted", "was not produced by this gateway"),
        (reasoning.ITEM_PREFIX + "!!!", "is damaged"),
        (reasoning.ITEM_PREFIX + base64.urlsafe_b64encode(b'{"type":"text"}').decode(), "is damaged"),
    ],
)
def test_encrypted_content_of_another_service_or_damaged_is_refused(value, expected):
    body = {"model": CLAUDE, "input": [{"type": "reasoning", "summary": [], "encrypted_content": value}]}
    with pytest.raises(InvalidRequest, match=rf"^input\[0\]\.encrypted_content {expected}"):
        tr.to_chat(body)


def events_of(writer: tr.EventWriter, deltas) -> list[dict]:
    raw = b"".join([*writer.start(), *(b for d in deltas for b in writer.delta(d)), *writer.done(tr.usage(5, 9))])
    return [json.loads(block.split(b"\ndata: ", 1)[1]) for block in raw.split(b"\n\n") if block]


def test_the_stream_has_the_reasoning_events_in_order_with_sequence_numbers():
    writer = tr.EventWriter(shape(include=["reasoning.encrypted_content"]))
    events = events_of(writer, list(from_converse_stream(stream_events())))
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [(e["type"], e.get("output_index")) for e in events] == [
        ("response.created", None),
        ("response.in_progress", None),
        ("response.output_item.added", 0),
        ("response.reasoning_summary_part.added", 0),
        ("response.reasoning_summary_text.delta", 0),
        ("response.reasoning_summary_text.delta", 0),
        ("response.reasoning_summary_text.done", 0),
        ("response.reasoning_summary_part.done", 0),
        ("response.output_item.done", 0),
        ("response.output_item.added", 1),
        ("response.output_item.done", 1),
        ("response.output_item.added", 2),
        ("response.content_part.added", 2),
        ("response.output_text.delta", 2),
        ("response.output_text.done", 2),
        ("response.content_part.done", 2),
        ("response.output_item.done", 2),
        ("response.completed", None),
    ]
    assert events[2]["item"] == {"type": "reasoning", "id": "rs_00001111_0", "summary": [], "status": "in_progress"}
    assert events[6]["text"] == "Think." and events[7]["part"] == {"type": "summary_text", "text": "Think."}
    done = events[8]["item"]
    assert reasoning.decode_item(done["encrypted_content"], "x") == SIGNED
    assert reasoning.decode_item(events[10]["item"]["encrypted_content"], "x") == REDACTED
    final = events[-1]["response"]["output"]
    assert [i["type"] for i in final] == ["reasoning", "reasoning", "message"] and final[0] == done


def test_a_stream_cut_before_the_signature_gives_no_encrypted_content():
    writer = tr.EventWriter(shape(include=["reasoning.encrypted_content"]))
    events = events_of(writer, [Delta("reasoning", text="Thi", index=0)])
    [done] = [e for e in events if e["type"] == "response.output_item.done"]
    assert done["item"]["summary"] == [{"type": "summary_text", "text": "Thi"}]
    assert "encrypted_content" not in done["item"]
