"""OpenAI parameters through the service to loopback fakes: forwarded where the provider has them, a 400
naming the parameter and provider where not; tool history with ``tool_choice: "none"`` on Bedrock."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from regiongate.contract.document import GuardrailPolicy
from regiongate.store.memory import MemoryStore
from tests.fixtures.gateway import body_of, make_gateway, new_key, post, sse_events

CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
HISTORY = [
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
]


@pytest.fixture
def store():
    return MemoryStore()


def chat(model="claude-sonnet-4-5", **extra):
    return {"model": model, "messages": [{"role": "user", "content": "Hi"}], **extra}


@pytest.mark.parametrize("stream", [False, True])
def test_tool_choice_none_with_tool_history_reaches_bedrock_without_tool_blocks(eu_runtime, store, bedrock, stream):
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    body = {"model": "claude-sonnet-4-5", "messages": HISTORY, "tools": TOOLS, "tool_choice": "none", "stream": stream}
    response = post(gateway, CHAT, body, new_key(store))
    assert response.status == 200, response.body
    sent = bedrock.requests[0]["json"]
    assert "toolConfig" not in sent
    blocks = [b for m in sent["messages"] for b in m["content"]]
    assert not any("toolUse" in b or "toolResult" in b for b in blocks)
    assert {"text": "[result of tool call call_1: 18C]"} in blocks


# --- parameters Converse lacks: a 400 naming the parameter and the provider, nothing sent ---------------------
@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"seed": 7}, "seed"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"frequency_penalty": -1}, "frequency_penalty"),
        ({"logprobs": True}, "logprobs"),
        ({"logprobs": True, "top_logprobs": 3}, "logprobs"),
        ({"tools": TOOLS, "parallel_tool_calls": False}, "parallel_tool_calls"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_parameters_bedrock_cannot_honour_are_refused(eu_runtime, store, bedrock, extra, param, stream):
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock)
    response = post(gateway, CHAT, chat(stream=stream, **extra), new_key(store))
    assert response.status == 400, response.body
    error = body_of(response)["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert error["message"].startswith(f"{param} is not supported by provider bedrock-eu (Bedrock)")
    assert bedrock.requests == []
    assert sink.events[-1]["status"] == 400


def test_defaults_that_change_nothing_pass_on_bedrock(eu_runtime, store, bedrock):
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    extra = {"presence_penalty": 0, "frequency_penalty": 0, "logprobs": False, "parallel_tool_calls": True}
    response = post(gateway, CHAT, chat(tools=TOOLS, **extra), new_key(store))
    assert response.status == 200, response.body
    answer = body_of(response)
    # No fingerprint from Bedrock: absent (the OpenAPI document types it as a string, not nullable).
    assert "system_fingerprint" not in answer and answer["choices"][0]["message"]["refusal"] is None
    assert answer["choices"][0]["logprobs"] is None


def test_openai_parameters_reach_azure_and_its_answer_fields_come_back(eu_runtime, store, azure):
    azure.fingerprint = "fp_up_1"
    gateway, _ = make_gateway(eu_runtime, store, azure=azure)
    extra = {
        "seed": 7,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "logprobs": True,
        "top_logprobs": 2,
        "parallel_tool_calls": False,
        "tools": TOOLS,
    }
    answer = body_of(post(gateway, CHAT, chat("gpt-4o", **extra), new_key(store)))
    sent = azure.requests[0]["json"]
    assert {k: sent[k] for k in extra} == extra
    assert answer["system_fingerprint"] == "fp_up_1"
    # As Azure sent them, plus the refusal logprobs the OpenAPI document requires of the object (null).
    assert answer["choices"][0]["logprobs"] == {**azure.logprobs_of("Hello from Azure"), "refusal": None}
    assert answer["choices"][0]["message"]["refusal"] is None


def test_azure_refusal_comes_back_plain_and_streamed(eu_runtime, store, azure):
    azure.refusal, azure.fingerprint = "I can't help with that.", "fp_up_2"
    gateway, _ = make_gateway(eu_runtime, store, azure=azure)
    key = new_key(store)
    message = body_of(post(gateway, CHAT, chat("gpt-4o"), key))["choices"][0]["message"]
    assert message["refusal"] == "I can't help with that." and message["content"] is None
    chunks = [c for c in sse_events(post(gateway, CHAT, chat("gpt-4o", stream=True), key).body) if c != "[DONE]"]
    refusal = "".join(c["choices"][0]["delta"].get("refusal") or "" for c in chunks if c["choices"])
    assert refusal == "I can't help with that."
    assert chunks[-1]["system_fingerprint"] == "fp_up_2"


def test_azure_streamed_logprobs_are_passed_on(eu_runtime, store, azure):
    gateway, _ = make_gateway(eu_runtime, store, azure=azure)
    response = post(gateway, CHAT, chat("gpt-4o", stream=True, logprobs=True), new_key(store))
    chunks = [c for c in sse_events(response.body) if c != "[DONE]" and c["choices"]]
    texts = [c for c in chunks if c["choices"][0]["delta"].get("content")]
    assert texts and all(
        c["choices"][0]["logprobs"] == {**azure.logprobs_of(c["choices"][0]["delta"]["content"]), "refusal": None}
        for c in texts
    )
    assert azure.requests[0]["json"]["logprobs"] is True


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"seed": "7"}, "seed must be an integer"),
        ({"presence_penalty": 3}, "presence_penalty must be between -2 and 2"),
        ({"logprobs": "yes"}, "logprobs must be a boolean"),
        ({"top_logprobs": 2}, "top_logprobs needs logprobs: true"),
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs must be between 0 and 20"),
        ({"parallel_tool_calls": 1}, "parallel_tool_calls must be a boolean"),
    ],
)
def test_malformed_parameters_are_a_400_naming_them(eu_runtime, store, azure, extra, message):
    gateway, _ = make_gateway(eu_runtime, store, azure=azure)
    error = body_of(post(gateway, CHAT, chat("gpt-4o", **extra), new_key(store)))["error"]
    assert error["message"].startswith(message) and error["param"] == next(iter(reversed(extra)))
    assert azure.requests == []


# --- embeddings: dimensions and token-array input ------------------------------------------------------------
def no_detectors(runtime):
    """The region's runtime with no content detectors (token ids cannot be scanned; see below)."""
    return replace(runtime, guardrails=replace(runtime.guardrails, detectors=()))


def test_azure_embeddings_take_dimensions_and_token_arrays(eu_runtime, store, azure):
    gateway, _ = make_gateway(no_detectors(eu_runtime), store, azure=azure)
    key = new_key(store)
    body = {"model": "text-embedding-3-small", "input": [[1, 2, 3], [4, 5]], "dimensions": 256}
    response = post(gateway, EMBEDDINGS, body, key)
    assert response.status == 200, response.body
    assert len(body_of(response)["data"]) == 2
    assert azure.requests[0]["json"]["input"] == [[1, 2, 3], [4, 5]] and azure.requests[0]["json"]["dimensions"] == 256
    single = post(gateway, EMBEDDINGS, {"model": "text-embedding-3-small", "input": [9, 8, 7]}, key)
    assert single.status == 200 and azure.requests[1]["json"]["input"] == [[9, 8, 7]]
    assert "dimensions" not in azure.requests[1]["json"]


def test_titan_v2_takes_dimensions_and_refuses_token_arrays(eu_runtime, store, bedrock):
    gateway, _ = make_gateway(no_detectors(eu_runtime), store, bedrock=bedrock)
    key = new_key(store)
    ok = post(gateway, EMBEDDINGS, {"model": "titan-embed-text-v2", "input": "hello", "dimensions": 512}, key)
    assert ok.status == 200, ok.body
    assert bedrock.requests[0]["json"] == {"inputText": "hello", "dimensions": 512}
    odd = body_of(post(gateway, EMBEDDINGS, {"model": "titan-embed-text-v2", "input": "hi", "dimensions": 300}, key))
    assert odd["error"] == {
        "message": "dimensions must be one of 256, 512, 1024 for this model",
        "type": "invalid_request_error",
        "param": "dimensions",
        "code": None,
    }
    tokens = body_of(post(gateway, EMBEDDINGS, {"model": "titan-embed-text-v2", "input": [[1, 2]]}, key))["error"]
    assert tokens["param"] == "input"
    assert tokens["message"].startswith("input is not supported by provider bedrock-eu (Bedrock): token-id arrays")
    assert len(bedrock.requests) == 1


def test_token_arrays_are_refused_where_content_guardrails_apply(eu_runtime, store, azure):
    strict = GuardrailPolicy(
        max_request_bytes=100_000,
        max_input_tokens=4,
        model_allowlist=None,
        detectors=({"name": "secret-project", "type": "regex", "pattern": "ORION", "action": "block"},),
    )
    relaxed = replace(strict, detectors=())
    runtime = replace(eu_runtime, org_guardrails={"strict-org": strict, "relaxed-org": relaxed})
    gateway, _ = make_gateway(runtime, store, azure=azure)
    body = {"model": "text-embedding-3-small", "input": [1, 2, 3]}
    error = body_of(post(gateway, EMBEDDINGS, body, new_key(store, org="strict-org")))["error"]
    assert (
        error["param"] == "input" and "cannot be checked by this organisation's content guardrails" in error["message"]
    )
    relaxed_key = new_key(store, org="relaxed-org")
    assert post(gateway, EMBEDDINGS, body, relaxed_key).status == 200
    too_long = post(gateway, EMBEDDINGS, {**body, "input": [1, 2, 3, 4, 5]}, relaxed_key)  # 5 tokens: limit is 4
    assert body_of(too_long)["error"]["type"] == "guardrail_violation"
    assert len(azure.requests) == 1


@pytest.mark.parametrize("bad", [[[1, "a"]], [[]], [True, 2], [1.5], [[-1]]])
def test_malformed_token_arrays_are_a_400(eu_runtime, store, azure, bad):
    gateway, _ = make_gateway(no_detectors(eu_runtime), store, azure=azure)
    error = body_of(post(gateway, EMBEDDINGS, {"model": "text-embedding-3-small", "input": bad}, new_key(store)))
    assert error["error"]["param"] == "input" and error["error"]["code"] is None
    assert azure.requests == []


# --- error bodies and methods on the Lambda ALB transport ----------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "status", "type_"),
    [
        ("HEAD", "/v1/models", 405, "method_not_allowed"),
        ("OPTIONS", "/v1/chat/completions", 405, "method_not_allowed"),
        ("PROPFIND", "/v1/embeddings", 405, "method_not_allowed"),
        ("HEAD", "/nowhere", 404, "not_found"),
    ],
)
def test_alb_handler_answers_other_methods_with_openai_json(
    eu_runtime, store, monkeypatch, method, path, status, type_
):
    from regiongate.gateway.runtime import handler
    from tests.paths import REPO_ROOT

    gateway, _ = make_gateway(eu_runtime, store)
    monkeypatch.setattr(handler, "_gateway", gateway)
    event = json.loads((REPO_ROOT / "tests/fixtures/events/alb_health.json").read_text())
    event.update(httpMethod=method, path=path)
    answer = handler.handle(event, None)
    assert answer["statusCode"] == status and answer["headers"]["content-type"] == "application/json"
    error = json.loads(answer["body"])["error"]
    code = None if type_ == "not_found" else type_  # OpenAI's error.code: a string, or null for generic types
    assert error["type"] == type_ and error["code"] == code and error["param"] is None and error["message"]
    if status == 405:
        assert answer["headers"]["allow"] == ("GET" if path == "/v1/models" else "POST")
