"""End to end: the official ``anthropic`` client against ``regiongate serve`` (a subprocess), with the loopback
fake of Bedrock (InvokeModel, InvokeModelWithResponseStream, CountTokens) and the real PostgreSQL."""

from __future__ import annotations

import threading
import time

import anthropic
import pytest

from regiongate.store.keys import KeyService
from tests.fixtures.fakes import FakeBedrock
from tests.fixtures.served import served_eu, store_of

pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group("serve-eu-anthropic")]


@pytest.fixture(scope="module")
def bedrock():
    fake = FakeBedrock(reply="The capital of France is Paris")
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory, database_url, bedrock):
    with served_eu(tmp_path_factory.mktemp("serve"), database_url, bedrock) as server:
        yield server


@pytest.fixture(scope="module")
def store(database_url):
    with store_of(database_url) as store:
        yield store


@pytest.fixture(scope="module")
def key(store, served):
    return KeyService(store).create(region_code="eu", org_id="e2e-anthropic").key


@pytest.fixture
def client(served, key):
    # The SDK appends /v1/messages to the base URL and sends x-api-key and anthropic-version itself.
    return anthropic.Anthropic(api_key=key, base_url=served.base_url.removesuffix("/v1"), max_retries=0, timeout=30)


def audit_row(store, request_id: str, wait: float = 5.0) -> list:
    deadline = time.monotonic() + wait
    while True:
        with store.pool.connection() as conn:
            rows = conn.run(
                "SELECT endpoint, status, model, input_tokens, output_tokens, stream FROM audit_events "
                "WHERE request_id = CAST(:r AS uuid)",
                r=request_id,
            )
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_create(client, store, bedrock):
    raw = client.messages.with_raw_response.create(
        model="claude-sonnet-4-5-20250929",
        max_tokens=64,
        system="Be brief.",
        messages=[{"role": "user", "content": "Capital of France?"}],
    )
    message = raw.parse()
    assert message.content[0].type == "text" and message.content[0].text == "The capital of France is Paris"
    assert message.model == "claude-sonnet-4-5-20250929" and message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 7)
    assert bedrock.requests[-1]["path"] == "/model/eu.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke"
    [row] = audit_row(store, raw.headers["x-request-id"])
    assert row == ["messages", 200, "claude-sonnet-4-5", 12, 7, False]


def test_stream_arrives_event_by_event(client, bedrock):
    """The first text delta reaches the client while Bedrock's stream is still paused: nothing is buffered."""
    bedrock.gate = threading.Event()
    try:
        with client.messages.stream(
            model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
        ) as stream:
            texts = stream.text_stream
            assert next(texts) == "The"
            assert not bedrock.gate.is_set() and not bedrock.gate_timed_out
            bedrock.gate.set()
            assert "".join(texts) == " capital of France is Paris"
            final = stream.get_final_message()
        assert final.usage.output_tokens == 7 and final.stop_reason == "end_turn"
        assert not bedrock.gate_timed_out
    finally:
        bedrock.gate.set()
        bedrock.gate = None


def test_tools_round_trip(client, bedrock):
    bedrock.tool_call = {"name": "get_weather", "input": {"city": "Paris"}}
    tools = [
        {
            "name": "get_weather",
            "description": "Weather in a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        }
    ]
    try:
        first = client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=256,
            tools=tools,
            tool_choice={"type": "any"},
            messages=[{"role": "user", "content": "Weather in Paris?"}],
        )
        [use] = [b for b in first.content if b.type == "tool_use"]
        assert (use.name, use.input, first.stop_reason) == ("get_weather", {"city": "Paris"}, "tool_use")
        with client.messages.stream(
            model="claude-sonnet-4-5",
            max_tokens=256,
            tools=tools,
            messages=[
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18 C"}]},
            ],
        ) as stream:
            streamed = stream.get_final_message()
        [streamed_use] = [b for b in streamed.content if b.type == "tool_use"]
        assert streamed_use.input == {"city": "Paris"}  # assembled from the input_json_delta events
        sent = bedrock.requests[-1]["json"]
        assert sent["messages"][2]["content"][0] == {"type": "tool_result", "tool_use_id": use.id, "content": "18 C"}
        assert bedrock.requests[-2]["json"]["tool_choice"] == {"type": "any"}
    finally:
        bedrock.tool_call = None


def test_count_tokens(client, bedrock):
    counted = client.messages.count_tokens(
        model="claude-sonnet-4-5", messages=[{"role": "user", "content": "How many tokens is this?"}]
    )
    assert counted.input_tokens == max(1, len('[{"role": "user", "content": "How many tokens is this?"}]') // 4)
    assert bedrock.requests[-1]["path"] == "/model/anthropic.claude-sonnet-4-5-20250929-v1:0/count-tokens"


def test_models_list_and_retrieve(client):
    """The SDK lists models with x-api-key and anthropic-version: the region's Claude models, by the names
    /v1/messages takes."""
    listed = client.models.list()
    assert [m.id for m in listed] == ["claude-sonnet-4-5"]
    assert listed.has_more is False and listed.data[0].type == "model"
    assert client.models.retrieve("claude-sonnet-4-5").display_name == "claude-sonnet-4-5 (claude-sonnet-4-5-20250929)"
    with pytest.raises(anthropic.NotFoundError, match="not served"):
        client.models.retrieve("gpt-4o")  # served in the region, but not through /v1/messages


def test_a_body_over_the_limit_is_the_sdks_too_large_error(client):
    with pytest.raises(anthropic.RequestTooLargeError, match="the limit is") as too_large:
        client.messages.create(
            model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "x" * 1_100_000}]
        )
    assert too_large.value.status_code == 413 and too_large.value.body["error"]["type"] == "invalid_request_error"


def test_errors_are_the_sdks_exceptions(client, served, store):
    with pytest.raises(anthropic.NotFoundError, match="no in-region mapping") as missing:
        client.messages.create(
            model="claude-opus-4-1-20250805", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert missing.value.body["type"] == "error" and missing.value.body["error"]["type"] == "not_found_error"
    us_key = KeyService(store).create(region_code="us", org_id="e2e-anthropic").key
    other = anthropic.Anthropic(api_key=us_key, base_url=served.base_url.removesuffix("/v1"), max_retries=0)
    with pytest.raises(anthropic.PermissionDeniedError, match="region") as mismatch:
        other.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert mismatch.value.body["error"]["message"] == "API key is for region US, but request was made to EU"
    bearer = anthropic.Anthropic(
        auth_token=us_key.replace("rk-us-", "rk-eu-"), base_url=served.base_url.removesuffix("/v1"), max_retries=0
    )
    with pytest.raises(anthropic.AuthenticationError, match="not valid"):
        bearer.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "x"}])
