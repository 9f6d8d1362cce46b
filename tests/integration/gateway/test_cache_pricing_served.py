"""Cache token counts through the service (#13): passed on in the answer (chat ``prompt_tokens_details``, Responses
``input_tokens_details``) and audited at the model's cache prices, for Azure's cached prompt tokens and
Bedrock Converse's cache reads and writes; an aborted chat stream metered as documented."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from regiongate.gateway.runtime.transport import Request
from regiongate.store.memory import MemoryStore
from tests.fixtures.gateway import body_of, make_gateway, new_key, post, sse_events

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
M = Decimal(1_000_000)


@pytest.fixture
def store():
    return MemoryStore()


def chat(model, **extra):
    return {"model": model, "messages": [{"role": "user", "content": "Hello"}], **extra}


def priced(runtime, name, *, cache_read=None, cache_write=None):
    """The runtime with a model's cache prices set (the shipped catalogue prices only Claude's)."""
    model = replace(runtime.models[name], cache_read_usd_per_mtok=cache_read, cache_write_usd_per_mtok=cache_write)
    return replace(runtime, models={**runtime.models, name: model})


def test_azure_cached_prompt_tokens_are_passed_on_and_priced(eu_runtime, store, azure):
    runtime = priced(eu_runtime, "gpt-4o", cache_read=Decimal("1.375"))
    azure.usage, azure.cached_tokens = (100, 5), 64
    gateway, sink = make_gateway(runtime, store, azure=azure)
    key = new_key(store)
    answer = body_of(post(gateway, CHAT, chat("gpt-4o"), key))
    assert answer["usage"] == {
        "prompt_tokens": 100,
        "completion_tokens": 5,
        "total_tokens": 105,
        "prompt_tokens_details": {"cached_tokens": 64},
    }
    model = runtime.models["gpt-4o"]
    expected = (36 * model.input_usd_per_mtok + 64 * Decimal("1.375") + 5 * model.output_usd_per_mtok) / M
    [event] = sink.events
    assert (event["input_tokens"], Decimal(event["cost_usd"])) == (100, expected.quantize(Decimal("1e-10")))
    streamed = sse_events(
        post(gateway, CHAT, chat("gpt-4o", stream=True, stream_options={"include_usage": True}), key).body
    )
    assert streamed[-2]["usage"]["prompt_tokens_details"] == {"cached_tokens": 64}
    assert Decimal(sink.events[-1]["cost_usd"]) == Decimal(event["cost_usd"])
    response = body_of(post(gateway, RESPONSES, {"model": "gpt-4o", "input": "Hi"}, key))
    assert response["usage"]["input_tokens_details"] == {"cache_write_tokens": 0, "cached_tokens": 64}
    assert Decimal(sink.events[-1]["cost_usd"]) == Decimal(event["cost_usd"])


def test_bedrock_converse_cache_reads_and_writes_are_priced_on_chat_and_responses(eu_runtime, store, bedrock):
    bedrock.usage, bedrock.cache_usage = (12, 7), (100, 200)  # 12 uncached, 100 written, 200 read
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock)
    key = new_key(store)
    answer = body_of(post(gateway, CHAT, chat("claude-sonnet-4-5"), key))
    assert answer["usage"]["prompt_tokens"] == 312 and answer["usage"]["prompt_tokens_details"] == {
        "cached_tokens": 200
    }
    expected = Decimal("0.000576")  # 12 * 3.00 + 100 * 3.75 + 200 * 0.30 + 7 * 15.00 per million (regions.yaml)
    assert (sink.events[-1]["input_tokens"], Decimal(sink.events[-1]["cost_usd"])) == (312, expected)
    stream = post(gateway, RESPONSES, {"model": "claude-sonnet-4-5", "input": "Hi", "stream": True}, key)
    assert b'"input_tokens_details":{"cache_write_tokens":100,"cached_tokens":200}' in stream.body
    assert Decimal(sink.events[-1]["cost_usd"]) == expected


def test_a_chat_stream_closed_by_the_client_is_metered_at_an_estimate_without_upstream_usage(eu_runtime, store, azure):
    gateway, sink = make_gateway(eu_runtime, store, azure=azure)
    body = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "x" * 40}]}
    response = gateway.handle(Request("POST", CHAT, {"authorization": f"Bearer {new_key(store)}"}, _json(body)))
    first, second = next(response.stream), next(response.stream)  # the role chunk, then one content delta
    assert b'"role":"assistant"' in first and b"content" in second
    response.stream.close()  # the client went away before Azure's usage (its last chunk)
    [event] = sink.events
    assert (event["status"], event["input_tokens"], event["output_tokens"]) == (499, 10, 1)


def _json(value) -> bytes:
    import json

    return json.dumps(value).encode()
