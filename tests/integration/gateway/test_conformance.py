"""Conformance (#13, Checks): every response shape the gateway produces, collected through the service against
the loopback fakes, is validated strictly against the reference types of the official SDKs (the ``openai`` and
``anthropic`` packages pinned in requirements.txt; why those and not the OpenAPI file, and their versions:
tests/fixtures/conformance/README.md).

Strictly means: ``TypeAdapter(...).validate_python`` (the SDKs' pydantic models, their unions discriminated by
``type``), then no field anywhere in the validated tree that the model does not declare (the SDK models accept
unknown keys silently; a gateway must not invent fields), plus the required-but-nullable keys the OpenAPI document
demands of an error and which the SDK model defaults (``param``, ``code``).
"""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from anthropic.pagination import SyncPage
from anthropic.types import ErrorResponse as AnthropicErrorResponse
from anthropic.types import Message, MessageTokensCount, ModelInfo, RawMessageStreamEvent
from openai.types import CreateEmbeddingResponse, ErrorObject, Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response as ResponsesResponse
from openai.types.responses import ResponseFunctionCallArgumentsDoneEvent, ResponseStreamEvent
from pydantic import BaseModel, TypeAdapter

from regiongate.config.gateway import runtime_document
from regiongate.contract.document import RuntimeConfig
from regiongate.gateway.runtime.transport import Request
from regiongate.store.memory import MemoryStore
from tests.fixtures.gateway import body_of, get, make_gateway, new_key, post, sse_events
from tests.fixtures.processing_area import AREA_NAME, opted_in_runtime
from tests.fixtures.processing_area import MODEL as OPTED_IN_MODEL

CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
RESPONSES = "/v1/responses"
MESSAGES = "/v1/messages"
COUNT_TOKENS = "/v1/messages/count_tokens"
FIXTURES = Path(__file__).parents[2] / "fixtures" / "conformance"
REFERENCE = json.loads((FIXTURES / "reference.json").read_text())


@pytest.fixture
def store():
    return MemoryStore()


# --- the strict validator ---------------------------------------------------------------------------------------


def undeclared(value: Any, where: str) -> list[str]:
    """Paths of every key in a validated tree that its model does not declare."""
    found: list[str] = []
    if isinstance(value, BaseModel):
        found += [f"{where}.{name}" for name in value.__pydantic_extra__ or {}]
        for name in type(value).model_fields:
            found += undeclared(getattr(value, name), f"{where}.{name}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found += undeclared(item, f"{where}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            found += undeclared(item, f"{where}.{key}")
    return found


def conforms(reference: Any, data: Any, where: str) -> Any:
    value = TypeAdapter(reference).validate_python(data)
    extra = undeclared(value, where)
    assert not extra, f"{where}: fields the reference does not declare: {extra} in {json.dumps(data)[:2000]}"
    return value


def openai_error(body: dict, where: str) -> ErrorObject:
    """OpenAPI ``ErrorResponse``: exactly ``{"error": Error}``; ``Error`` requires type, message, param, code."""
    assert set(body) == {"error"}, f"{where}: {body}"
    missing = {"type", "message", "param", "code"} - set(body["error"])
    assert not missing, f"{where}: the error lacks the required keys {sorted(missing)}: {body}"
    return conforms(ErrorObject, body["error"], f"{where}.error")


def named_events(raw: bytes) -> list[tuple[str, dict]]:
    """``event: NAME`` / ``data: JSON`` blocks; every block has both lines and nothing else."""
    out = []
    for block in raw.decode().split("\n\n"):
        if block:
            lines = block.split("\n")
            assert len(lines) == 2 and lines[0].startswith("event: ") and lines[1].startswith("data: "), block
            out.append((lines[0][7:], json.loads(lines[1][6:])))
    return out


def chat(model="claude-sonnet-4-5", **extra):
    return {"model": model, "messages": [{"role": "user", "content": "Hello"}], **extra}


def message(model="claude-sonnet-4-5", **extra):
    return {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "Hello"}], **extra}


def anthropic_post(gateway, path, body, key, **headers):
    return post(gateway, path, body, headers={"x-api-key": key, "anthropic-version": "2023-06-01", **headers})


def test_the_reference_is_the_installed_sdks():
    """The recorded versions are the ones the tests validate with (and requirements.txt pins)."""
    assert (openai.__version__, anthropic.__version__) == (
        REFERENCE["openai"]["version"],
        REFERENCE["anthropic"]["version"],
    )
    pins = (Path(__file__).parents[3] / "requirements.txt").read_text().split()
    assert f"openai=={openai.__version__}" in pins and f"anthropic=={anthropic.__version__}" in pins


def test_the_validator_catches_an_invented_field_and_a_wrong_type():
    good = {"id": "m", "object": "model", "created": 1, "owned_by": "x"}
    conforms(Model, good, "model")
    with pytest.raises(AssertionError, match=r"model\.region"):
        conforms(Model, {**good, "region": "eu"}, "model")
    with pytest.raises(ValueError, match="created"):
        conforms(Model, {**good, "created": "yesterday"}, "model")
    with pytest.raises(AssertionError, match=r"required keys \['code', 'param'\]"):
        openai_error({"error": {"type": "t", "message": "m"}}, "error")


# --- OpenAI: chat completions -----------------------------------------------------------------------------------


# The samples (a body, or a stream's events) are produced by the ``_name`` helpers below; test_conformance_openapi.py
# validates the same samples against the OpenAPI document's schemas.


def _chat(eu_runtime, store, bedrock, azure, provider, tools) -> tuple[dict, list[dict]]:
    """A chat completion and the chunks of the same request streamed with the usage chunk (no ``[DONE]``)."""
    fake, model = (bedrock, "claude-sonnet-4-5") if provider == "bedrock" else (azure, "gpt-4o")
    extra: dict = {}
    if tools:
        fake.tool_call = {"name": "get_weather", "input": {"city": "Paris"}}
        extra["tools"] = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock, azure=azure)
    key = new_key(store)
    response = post(gateway, CHAT, chat(model, **extra), key)
    assert response.status == 200, response.body
    stream = post(gateway, CHAT, chat(model, stream=True, stream_options={"include_usage": True}, **extra), key)
    assert stream.status == 200 and stream.headers["content-type"] == "text/event-stream"
    events = sse_events(stream.body)
    assert events[-1] == "[DONE]" and len(events) > 2
    return body_of(response), events[:-1]


@pytest.mark.parametrize("provider", ["bedrock", "azure"])
@pytest.mark.parametrize("tools", [False, True], ids=["text", "tool_call"])
def test_chat_completion_and_its_chunks(eu_runtime, store, bedrock, azure, provider, tools):
    body, events = _chat(eu_runtime, store, bedrock, azure, provider, tools)
    answer = conforms(ChatCompletion, body, "chat.completion")
    assert answer.choices[0].finish_reason == ("tool_calls" if tools else "stop")
    chunks = [conforms(ChatCompletionChunk, e, f"chunk[{i}]") for i, e in enumerate(events)]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None


def _azure_extras(eu_runtime, store, azure) -> tuple[dict, list[dict], dict]:
    """Azure's system_fingerprint and logprobs (a completion and its chunks, no ``[DONE]``), then a refusal."""
    azure.fingerprint = "fp_up"
    gateway, _ = make_gateway(eu_runtime, store, azure=azure)
    key = new_key(store)
    answer = body_of(post(gateway, CHAT, chat("gpt-4o", logprobs=True), key))
    events = sse_events(post(gateway, CHAT, chat("gpt-4o", stream=True, logprobs=True), key).body)
    assert events[-1] == "[DONE]"
    azure.refusal = "I can't help with that."
    return answer, events[:-1], body_of(post(gateway, CHAT, chat("gpt-4o"), key))


def test_azure_refusal_fingerprint_and_logprobs(eu_runtime, store, azure):
    body, chunks, refusal = _azure_extras(eu_runtime, store, azure)
    answer = conforms(ChatCompletion, body, "logprobs")
    assert answer.system_fingerprint == "fp_up"
    for i, e in enumerate(chunks):
        conforms(ChatCompletionChunk, e, f"logprobs chunk[{i}]")
    refused = conforms(ChatCompletion, refusal, "refusal")
    assert refused.choices[0].message.refusal == "I can't help with that."


def _errored_stream(eu_runtime, store, bedrock) -> list[dict]:
    """A chat stream the upstream breaks after two events: its chunks, then the error object (no ``[DONE]``)."""
    bedrock.stream_error_after = 2
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    events = sse_events(post(gateway, CHAT, chat(stream=True), new_key(store)).body)
    assert events[-1] == "[DONE]"
    return events[:-1]


def _stream_error(eu_runtime, store, bedrock) -> dict:
    events = _errored_stream(eu_runtime, store, bedrock)
    for i, e in enumerate(events[:-1]):
        conforms(ChatCompletionChunk, e, f"chunk[{i}]")
    return events[-1]


def test_an_error_mid_stream_is_an_openai_error_object(eu_runtime, store, bedrock):
    error = openai_error(_stream_error(eu_runtime, store, bedrock), "stream error")
    assert (error.type, error.code) == ("upstream_error", "upstream_error")


# --- OpenAI: embeddings and models ------------------------------------------------------------------------------


EMBEDDING_MODELS = ["titan-embed-text-v2", "text-embedding-3-small"]


def _embeddings(eu_runtime, store, bedrock, azure, model) -> tuple[dict, dict]:
    """Two inputs as floats, then one as base64 (the body as sent: ``embedding`` a string)."""
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock, azure=azure)
    key = new_key(store)
    floats = body_of(post(gateway, EMBEDDINGS, {"model": model, "input": ["a", "bb"]}, key))
    packed = body_of(post(gateway, EMBEDDINGS, {"model": model, "input": "a", "encoding_format": "base64"}, key))
    return floats, packed


def decoded_embeddings(packed: dict) -> dict:
    """A base64 answer with each ``embedding`` decoded as the SDK decodes it (little-endian float32)."""
    data = []
    for item in packed["data"]:
        assert isinstance(item["embedding"], str), item
        raw = base64.b64decode(item["embedding"])
        data.append({**item, "embedding": list(struct.unpack(f"<{len(raw) // 4}f", raw))})
    return {**packed, "data": data}


@pytest.mark.parametrize("model", EMBEDDING_MODELS)
def test_embeddings(eu_runtime, store, bedrock, azure, model):
    floats, packed = _embeddings(eu_runtime, store, bedrock, azure, model)
    answer = conforms(CreateEmbeddingResponse, floats, model)
    assert [d.index for d in answer.data] == [0, 1]
    # base64: the OpenAPI document types ``embedding`` as an array of numbers; the SDK asks for base64 and decodes
    # it (little-endian float32) before validating. The same here: a string that decodes to the float answer.
    conforms(CreateEmbeddingResponse, decoded_embeddings(packed), f"{model} base64")


def _models(shipped_catalogue, store) -> tuple[RuntimeConfig, dict, dict]:
    """The shipped EU catalogue's model list, and one model (gpt-4o)."""
    eu_shipped = RuntimeConfig.from_document(runtime_document(shipped_catalogue.region("eu")))
    gateway, _ = make_gateway(eu_shipped, store)
    key = new_key(store)
    return eu_shipped, body_of(get(gateway, "/v1/models", key)), body_of(get(gateway, "/v1/models/gpt-4o", key))


def test_models_list_and_one_model(shipped_catalogue, store):
    """The shipped EU catalogue (no model opted into a wider area): every card is exactly an OpenAI Model."""
    eu_shipped, listing, one = _models(shipped_catalogue, store)
    # OpenAPI ``ListModelsResponse``: object "list" and data, both required.
    assert set(listing) == {"object", "data"} and listing["object"] == "list"
    models = [conforms(Model, m, f"models.data[{i}]") for i, m in enumerate(listing["data"])]
    assert [m.id for m in models] == list(eu_shipped.models)
    conforms(Model, one, "model")


# The one extension field regiongate adds to the OpenAI Model object, knowingly: a model the operator opted into a
# wider, named processing area than the region's inference_regions says so (regiongate.contract.processing).
MODEL_EXTENSION = "regiongate_processing_area"


def test_models_state_an_opted_in_processing_area_in_one_extension_field_and_conform_otherwise(store):
    runtime = opted_in_runtime()
    gateway, _ = make_gateway(runtime, store)
    key = new_key(store)
    listing = body_of(get(gateway, "/v1/models", key))["data"]
    extended = {m["id"]: m.pop(MODEL_EXTENSION) for m in listing if MODEL_EXTENSION in m}
    # Without the extension every card is exactly an OpenAI Model (strict), and only the opted-in model has it.
    for i, card in enumerate(listing):
        conforms(Model, card, f"models.data[{i}]")
    area = runtime.models[OPTED_IN_MODEL].processing_area
    assert extended == {OPTED_IN_MODEL: {"name": AREA_NAME, "regions": list(area.regions)}}
    assert {"eu-west-2", "eu-central-2"} <= set(area.regions)
    one = body_of(get(gateway, f"/v1/models/{OPTED_IN_MODEL}", key))
    assert one.pop(MODEL_EXTENSION) == extended[OPTED_IN_MODEL]
    conforms(Model, one, "model")


# --- OpenAI: error bodies ---------------------------------------------------------------------------------------


def _openai_errors(gateway, store, azure) -> dict[str, Any]:
    key = new_key(store)
    limited = new_key(store, model_allowlist=("gpt-4o",))
    auth = {"authorization": f"Bearer {key}"}
    azure.fail_next(3, 500, "InternalServerError")  # the next upstream call fails every attempt: a 502
    return {
        "401 no key": post(gateway, CHAT, chat()),
        "401 unknown key": post(gateway, CHAT, chat(), headers={"authorization": "Bearer rk-eu-" + "A" * 32}),
        "400 invalid json": post(gateway, CHAT, b"{not json", key),
        "400 embedding model for chat": post(gateway, CHAT, chat("titan-embed-text-v2"), key),
        "403 model not allowed": post(gateway, CHAT, chat(), limited),
        "404 model not found": post(gateway, CHAT, chat("gpt-9"), key),
        "404 unknown model id": get(gateway, "/v1/models/gpt-9", key),
        "404 unknown path": get(gateway, "/v1/completions", key),
        "405 method": get(gateway, CHAT, key),
        "405 delete": gateway.handle(Request("DELETE", CHAT, auth, b"")),
        "405 options": gateway.handle(Request("OPTIONS", CHAT, auth, b"")),
        "413 too large": post(gateway, CHAT, b"{" + b" " * 1_000_001 + b"}", key),
        "502 upstream": post(gateway, CHAT, chat("gpt-4o"), key),
        "400 responses store": post(gateway, RESPONSES, {"model": "gpt-4o", "input": "Hi", "store": True}, key),
        "400 responses previous id": post(
            gateway, RESPONSES, {"model": "gpt-4o", "input": "Hi", "previous_response_id": "r"}, key
        ),
        "404 responses get": gateway.handle(Request("GET", "/v1/responses/resp_1", auth, b"")),
        "404 responses delete": gateway.handle(Request("DELETE", "/v1/responses/resp_1", auth, b"")),
    }


def _checked_errors(eu_runtime, store, azure) -> dict[str, dict]:
    gateway, _ = make_gateway(eu_runtime, store, azure=azure)
    bodies = {}
    for name, response in _openai_errors(gateway, store, azure).items():
        assert response.status == int(name[:3]), (name, response.status, response.body)
        assert response.headers["content-type"].startswith("application/json"), name
        bodies[name] = json.loads(response.body)
    return bodies


def test_openai_error_bodies(eu_runtime, store, azure):
    failures = {}
    codes = {}
    for name, body in _checked_errors(eu_runtime, store, azure).items():
        try:
            codes[name] = openai_error(body, name).code
        except (AssertionError, ValueError) as exc:
            failures[name] = str(exc).splitlines()[:3]
    assert not failures, failures
    # OpenAI's own codes where one fits, null for the generic invalid_request_error and not_found.
    assert codes["401 unknown key"] == "invalid_api_key" and codes["404 model not found"] == "model_not_found"
    assert codes["400 invalid json"] is None and codes["404 unknown path"] is None


# The one deliberate exception (docs/gateway.md, Errors): the product documents the region_mismatch body literally
# ({"error": {"message", "type": "region_mismatch", "code": 403}}), so it keeps the HTTP status as a number and
# has no param, both of which the OpenAPI Error schema rules out. This test fails for exactly that reason.
REGION_MISMATCH_IS_THE_PRODUCTS_BODY = (
    "deliberate: the region_mismatch body is the product's documented body, code 403 (a number) and no param"
)


def _region_mismatch(eu_runtime, store) -> dict:
    """The body of a chat request to the EU gateway with a US key (a 403)."""
    gateway, _ = make_gateway(eu_runtime, store)
    response = post(gateway, CHAT, chat(), new_key(store, region="us"))
    assert response.status == 403
    return body_of(response)


@pytest.mark.xfail(strict=True, reason=REGION_MISMATCH_IS_THE_PRODUCTS_BODY)
def test_the_region_mismatch_body_against_the_openapi_error(eu_runtime, store):
    openai_error(_region_mismatch(eu_runtime, store), "region_mismatch")


def test_the_region_mismatch_body_is_exactly_the_products(eu_runtime, store):
    message = "API key is for region US, but request was made to EU"
    assert _region_mismatch(eu_runtime, store) == {
        "error": {"message": message, "type": "region_mismatch", "code": 403}
    }


# --- OpenAI: Responses API --------------------------------------------------------------------------------------


def _responses(eu_runtime, store, bedrock, azure, provider) -> tuple[dict, list[tuple[str, dict]]]:
    fake, model = (bedrock, "claude-sonnet-4-5") if provider == "bedrock" else (azure, "gpt-4o")
    fake.tool_call = {"name": "lookup", "input": {"q": "x"}}
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock, azure=azure)
    key = new_key(store)
    tools = [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]
    body = {"model": model, "instructions": "Be brief.", "input": "Hi", "tools": tools, "max_output_tokens": 50}
    response = post(gateway, RESPONSES, body, key)
    assert response.status == 200, response.body
    stream = post(gateway, RESPONSES, {**body, "stream": True}, key)
    assert stream.headers["content-type"] == "text/event-stream"
    events = named_events(stream.body)
    assert all(name == data["type"] for name, data in events)
    assert events[-1][0] == "response.completed"
    return body_of(response), events


def _failed_stream(eu_runtime, store, bedrock) -> list[tuple[str, dict]]:
    bedrock.stream_error_after = 2
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    raw = post(gateway, RESPONSES, {"model": "claude-sonnet-4-5", "input": "Hi", "stream": True}, new_key(store)).body
    events = named_events(raw)
    assert [name for name, _ in events][-2:] == ["error", "response.failed"]
    return events


# A field the OpenAI OpenAPI document (tests/fixtures/conformance/openai-openapi.json, newer than the pinned SDK)
# requires and the SDK's model does not declare yet: the gateway sends it, and the SDK check takes it off first,
# after checking it is there. test_the_sdk_predates_the_documents_required_fields fails once an SDK upgrade
# declares it (then this entry goes) or the document stops requiring it.
DOCUMENT_ONLY = {
    "response.function_call_arguments.done": (ResponseFunctionCallArgumentsDoneEvent, "name", str),
}


def sdk_view(event: dict, where: str) -> dict:
    """An event without the fields only the newer document has (each one present, of its type)."""
    if event.get("type") not in DOCUMENT_ONLY:
        return event
    _, field, kind = DOCUMENT_ONLY[event["type"]]
    assert isinstance(event.get(field), kind), f"{where}: {field} is required by the OpenAPI document: {event}"
    return {k: v for k, v in event.items() if k != field}


def test_the_sdk_predates_the_documents_required_fields():
    schemas = json.loads((FIXTURES / "openai-openapi.json").read_text())["components"]["schemas"]
    for event_type, (model, field, _) in DOCUMENT_ONLY.items():
        [schema] = [s for s in schemas.values() if s.get("properties", {}).get("type", {}).get("enum") == [event_type]]
        assert field in schema["required"] and field not in model.model_fields, event_type


@pytest.mark.parametrize("provider", ["bedrock", "azure"])
def test_responses_object_and_stream_events(eu_runtime, store, bedrock, azure, provider):
    answer, events = _responses(eu_runtime, store, bedrock, azure, provider)
    assert "response.function_call_arguments.done" in [name for name, _ in events]
    failures = {}
    for where, reference, data in [
        ("response", ResponsesResponse, answer),
        *((f"event[{i}] {name}", ResponseStreamEvent, sdk_view(data, name)) for i, (name, data) in enumerate(events)),
    ]:
        try:
            conforms(reference, data, where)
        except (AssertionError, ValueError) as exc:
            failures[where] = str(exc).splitlines()[:3]
    assert not failures, failures
    assert [item["type"] for item in answer["output"]] == ["message", "function_call"]


def _refused_responses(eu_runtime, store, azure) -> tuple[dict, list[tuple[str, dict]]]:
    azure.refusal = "I can't help with that."
    gateway, _ = make_gateway(eu_runtime, store, azure=azure)
    key = new_key(store)
    answer = body_of(post(gateway, RESPONSES, {"model": "gpt-4o", "input": "Hi"}, key))
    return answer, named_events(post(gateway, RESPONSES, {"model": "gpt-4o", "input": "Hi", "stream": True}, key).body)


def test_responses_refusal_object_and_stream_events(eu_runtime, store, azure):
    body, events = _refused_responses(eu_runtime, store, azure)
    answer = conforms(ResponsesResponse, body, "refusal")
    assert [part.type for part in answer.output[0].content] == ["refusal"]
    for i, (name, data) in enumerate(events):
        conforms(ResponseStreamEvent, data, f"refusal event[{i}] {name}")
    assert "response.refusal.delta" in [name for name, _ in events]


def test_responses_stream_failure_events(eu_runtime, store, bedrock):
    for i, (name, data) in enumerate(_failed_stream(eu_runtime, store, bedrock)):
        conforms(ResponseStreamEvent, data, f"event[{i}] {name}")


def _reasoning_responses(eu_runtime, store, bedrock) -> tuple[dict, list[tuple[str, dict]]]:
    """Extended thinking on Bedrock: a reasoning item with its summary (and encrypted content), then the message."""
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    key = new_key(store)
    body = {
        "model": "claude-sonnet-4-5",
        "input": "Hi",
        "reasoning": {"effort": "low", "summary": "auto"},
        "include": ["reasoning.encrypted_content"],
    }
    response = post(gateway, RESPONSES, body, key)
    assert response.status == 200, response.body
    return body_of(response), named_events(post(gateway, RESPONSES, {**body, "stream": True}, key).body)


def _incomplete_responses(eu_runtime, store, bedrock) -> tuple[dict, list[tuple[str, dict]]]:
    """Bedrock stops at max_tokens: an incomplete response and a stream ending in ``response.incomplete``."""
    bedrock.stop_reason = "max_tokens"
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    key = new_key(store)
    body = {"model": "claude-sonnet-4-5", "input": "Hi", "max_output_tokens": 16}
    response = post(gateway, RESPONSES, body, key)
    assert response.status == 200, response.body
    return body_of(response), named_events(post(gateway, RESPONSES, {**body, "stream": True}, key).body)


def test_responses_reasoning_and_incomplete_objects_and_stream_events(eu_runtime, store, bedrock):
    reasoned, reasoning_events = _reasoning_responses(eu_runtime, store, bedrock)
    assert [item.type for item in conforms(ResponsesResponse, reasoned, "reasoning").output] == ["reasoning", "message"]
    cut, cut_events = _incomplete_responses(eu_runtime, store, bedrock)
    assert conforms(ResponsesResponse, cut, "incomplete").status == "incomplete"
    for where, events in (("reasoning", reasoning_events), ("incomplete", cut_events)):
        for i, (name, data) in enumerate(events):
            conforms(ResponseStreamEvent, data, f"{where} event[{i}] {name}")
    assert "response.reasoning_summary_text.delta" in [name for name, _ in reasoning_events]
    assert cut_events[-1][0] == "response.incomplete"


# --- Anthropic Messages -----------------------------------------------------------------------------------------


def _message_and_stream(eu_runtime, store, bedrock, with_tools) -> tuple[dict, list[tuple[str, dict]]]:
    extra: dict = {}
    if with_tools:
        bedrock.tool_call = {"name": "get_weather", "input": {"city": "Paris"}}
        bedrock.thinking = {"thinking": "Let me look it up.", "signature": "sig-abc"}
        bedrock.cache_usage = (100, 200)
        extra = {
            "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "max_tokens": 2048,
        }
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    key = new_key(store)
    response = anthropic_post(gateway, MESSAGES, message(**extra), key)
    assert response.status == 200, response.body
    stream = anthropic_post(gateway, MESSAGES, message(stream=True, **extra), key)
    assert stream.headers["content-type"] == "text/event-stream"
    events = named_events(stream.body)
    assert all(name == data["type"] for name, data in events)
    assert events[0][0] == "message_start" and events[-1][0] == "message_stop"
    return body_of(response), events


def check_message_events(events: list[tuple[str, dict]]) -> None:
    for i, (name, data) in enumerate(events):
        if name == "ping":  # the SDK skips it (anthropic/_streaming.py); Anthropic documents it as exactly this
            assert data == {"type": "ping"}
        else:
            conforms(RawMessageStreamEvent, data, f"messages event[{i}] {name}")


@pytest.mark.parametrize("with_tools", [False, True], ids=["text", "thinking_and_tool_use"])
def test_message(eu_runtime, store, bedrock, with_tools):
    answer, _ = _message_and_stream(eu_runtime, store, bedrock, with_tools)
    checked = conforms(Message, answer, "message")
    expected = ["thinking", "text", "tool_use"] if with_tools else ["text"]
    assert [block.type for block in checked.content] == expected


def test_message_stream_events(eu_runtime, store, bedrock):
    check_message_events(_message_and_stream(eu_runtime, store, bedrock, with_tools=False)[1])


def test_message_stream_events_with_thinking_and_tool_use(eu_runtime, store, bedrock):
    events = _message_and_stream(eu_runtime, store, bedrock, with_tools=True)[1]
    assert [e["content_block"]["type"] for _, e in events if e["type"] == "content_block_start"] == [
        "thinking",
        "text",
        "tool_use",
    ]
    check_message_events(events)


def test_messages_stream_error_event(eu_runtime, store, bedrock):
    bedrock.stream_error_after = 3
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    events = named_events(anthropic_post(gateway, MESSAGES, message(stream=True), new_key(store)).body)
    assert events[-1][0] == "error"
    for i, (name, data) in enumerate(events[:-1]):
        if name != "ping":
            conforms(RawMessageStreamEvent, data, f"messages event[{i}] {name}")
    assert conforms(AnthropicErrorResponse, events[-1][1], "stream error").error.type == "api_error"


def test_count_tokens(eu_runtime, store, bedrock):
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Hello there"}]}
    response = anthropic_post(gateway, COUNT_TOKENS, body, new_key(store))
    assert response.status == 200, response.body
    assert conforms(MessageTokensCount, body_of(response), "count_tokens").input_tokens >= 1


def test_anthropic_models_list_and_one_model(eu_runtime, store):
    """An Anthropic client (x-api-key, anthropic-version) lists models as the SDK's SyncPage[ModelInfo]."""
    gateway, _ = make_gateway(eu_runtime, store)
    headers = {"x-api-key": new_key(store), "anthropic-version": "2023-06-01"}
    page = body_of(gateway.handle(Request("GET", "/v1/models", headers, b"")))
    checked = conforms(SyncPage[ModelInfo], page, "anthropic models")
    assert [m.id for m in checked.data] == ["claude-sonnet-4-5"] and checked.has_more is False
    one = gateway.handle(Request("GET", "/v1/models/claude-sonnet-4-5", headers, b""))
    assert conforms(ModelInfo, body_of(one), "anthropic model").display_name.startswith("claude-sonnet-4-5 (")
    # A model that is not Claude on Bedrock is not in the Anthropic listing: a 404 in Anthropic's envelope.
    other = gateway.handle(Request("GET", "/v1/models/gpt-4o", headers, b""))
    assert other.status == 404
    assert conforms(AnthropicErrorResponse, body_of(other), "anthropic 404").error.type == "not_found_error"
    # x-api-key alone (no anthropic-version): OpenAI's list, every model the key may use.
    plain = body_of(gateway.handle(Request("GET", "/v1/models", {"x-api-key": headers["x-api-key"]}, b"")))
    assert plain["object"] == "list" and [m["id"] for m in plain["data"]] == list(eu_runtime.models)


def test_anthropic_error_bodies(eu_runtime, store, bedrock):
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    key = new_key(store)
    errors = {
        "401 no key": post(gateway, MESSAGES, message()),
        "403 region mismatch": anthropic_post(gateway, MESSAGES, message(), new_key(store, region="us")),
        "400 no max_tokens": anthropic_post(gateway, MESSAGES, {"model": "claude-sonnet-4-5", "messages": []}, key),
        "400 old version": anthropic_post(gateway, MESSAGES, message(), key, **{"anthropic-version": "2023-01-01"}),
        "400 invalid json": post(gateway, MESSAGES, b"{not json", headers={"x-api-key": key}),
        "404 no in-region mapping": anthropic_post(gateway, MESSAGES, message("claude-haiku-4-5-20251001"), key),
        "405 method": gateway.handle(Request("GET", MESSAGES, {"x-api-key": key}, b"")),
        "401 models no key": gateway.handle(Request("GET", "/v1/models", {"anthropic-version": "2023-06-01"}, b"")),
        "401 count_tokens no key": post(gateway, COUNT_TOKENS, {"model": "claude-sonnet-4-5", "messages": []}),
    }
    bedrock.fail_next(3, 500, "InternalServerException")
    errors["502 upstream"] = anthropic_post(gateway, MESSAGES, message(), key)
    for name, response in errors.items():
        assert response.status == int(name[:3]), (name, response.status, response.body)
        conforms(AnthropicErrorResponse, json.loads(response.body), name)


def test_the_anthropic_request_too_large_body(eu_runtime, store):
    gateway, _ = make_gateway(eu_runtime, store)
    response = post(gateway, MESSAGES, b"{" + b" " * 1_000_001 + b"}", headers={"x-api-key": new_key(store)})
    assert response.status == 413
    assert conforms(AnthropicErrorResponse, body_of(response), "413").error.type == "invalid_request_error"
