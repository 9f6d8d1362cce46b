"""End to end: the official ``openai`` client's Responses API (``client.responses``) against ``regiongate serve``
with loopback fakes of Bedrock and Azure OpenAI and the real PostgreSQL: plain, streaming, tools, statelessness."""

from __future__ import annotations

import json
import time

import openai
import pytest

from regiongate.store.keys import KeyService
from tests.fixtures.fakes import FakeBedrock, FakeOpenAI
from tests.fixtures.served import served_eu, store_of

pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group("serve-eu-responses")]


@pytest.fixture(scope="module")
def fakes():
    bedrock = FakeBedrock(reply="The capital of France is Paris")
    azure = FakeOpenAI(reply="Bonjour from Azure")
    yield bedrock, azure
    bedrock.close()
    azure.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory, database_url, fakes):
    bedrock, azure = fakes
    with served_eu(tmp_path_factory.mktemp("serve"), database_url, bedrock, azure) as server:
        yield server


@pytest.fixture(scope="module")
def store(database_url):
    with store_of(database_url) as store:
        yield store


@pytest.fixture
def client(served, store):
    key = KeyService(store).create(region_code="eu", org_id="e2e-responses").key
    return openai.OpenAI(api_key=key, base_url=served.base_url, max_retries=0, timeout=30)


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


def test_create(client, store):
    raw = client.responses.with_raw_response.create(
        model="claude-sonnet-4-5", instructions="Be brief.", input="Capital of France?", max_output_tokens=20
    )
    response = raw.parse()
    assert response.output_text == "The capital of France is Paris" and response.status == "completed"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (12, 7)
    [row] = audit_row(store, raw.headers["x-request-id"])
    assert row == ["responses", 200, "claude-sonnet-4-5", 12, 7, False]


def test_stream(client):
    stream = client.responses.create(model="gpt-4o", input=[{"role": "user", "content": "Hi"}], stream=True)
    events = list(stream)
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Bonjour from Azure"
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    assert events[-1].response.output_text == "Bonjour from Azure"
    assert events[-1].response.usage.output_tokens == 5


def test_tools_round_trip(client, fakes):
    bedrock, _ = fakes
    bedrock.tool_call = {"name": "get_weather", "input": {"city": "Paris"}}
    tools = [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            "strict": False,
        }
    ]
    try:
        first = client.responses.create(model="claude-sonnet-4-5", input="Weather in Paris?", tools=tools)
        [call] = [item for item in first.output if item.type == "function_call"]
        assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
        with client.responses.stream(
            model="claude-sonnet-4-5",
            tools=tools,
            input=[
                {"role": "user", "content": "Weather in Paris?"},
                {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
                {"type": "function_call_output", "call_id": call.call_id, "output": "18 C"},
            ],
        ) as stream:
            final = stream.get_final_response()
        assert [item.type for item in final.output] == ["message", "function_call"]
        sent = bedrock.requests[-1]["json"]["messages"]
        assert sent[-1]["content"][0]["toolResult"]["toolUseId"] == call.call_id
    finally:
        bedrock.tool_call = None


def test_nothing_is_stored(client):
    with pytest.raises(openai.BadRequestError, match="never stored"):
        client.responses.create(model="claude-sonnet-4-5", input="Hi", store=True)
    with pytest.raises(openai.NotFoundError, match="never stored"):
        client.responses.retrieve("resp_123")
    with pytest.raises(openai.NotFoundError, match="never stored"):
        client.responses.delete("resp_123")


def test_refusal_and_parallel_tool_calls_through_the_sdk(client, fakes):
    """The SDK's stream helper accumulates a refusal part; parallel_tool_calls false reaches Azure and is echoed;
    cached prompt tokens come back in usage (the Response has no store field: the SDK's type declares none)."""
    _, azure = fakes
    azure.refusal, azure.cached_tokens = "I can't help with that.", 4
    try:
        with client.responses.stream(model="gpt-4o", input="Hi", parallel_tool_calls=False) as stream:
            final = stream.get_final_response()
        [item] = final.output
        assert [(part.type, part.refusal) for part in item.content] == [("refusal", "I can't help with that.")]
        assert final.parallel_tool_calls is False and azure.requests[-1]["json"]["parallel_tool_calls"] is False
        assert final.usage.input_tokens_details.cached_tokens == 4
        assert "store" not in final.model_dump()
    finally:
        azure.refusal, azure.cached_tokens = None, 0


def test_reasoning_with_a_tool_round_trip_through_the_sdk(client, fakes):
    """Claude's extended thinking: the SDK's stream helper gets the reasoning item (summary and, with include, the
    encrypted content), and the next turn, built from the SDK's own output items, carries the signed block back."""
    bedrock, _ = fakes
    bedrock.tool_call = {"name": "get_weather", "input": {"city": "Paris"}}
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}, "strict": False}]
    asked = {"reasoning": {"effort": "low", "summary": "auto"}, "include": ["reasoning.encrypted_content"]}
    try:
        with client.responses.stream(model="claude-sonnet-4-5", input="Weather?", tools=tools, **asked) as stream:
            summary = "".join(e.delta for e in stream if e.type == "response.reasoning_summary_text.delta")
            first = stream.get_final_response()
        thought, *_, call = first.output
        assert thought.type == "reasoning" and thought.summary[0].text == summary == bedrock.reasoning
        assert thought.encrypted_content and call.type == "function_call"
        bedrock.tool_call = None
        turn = [
            {"role": "user", "content": "Weather?"},
            *(item.model_dump(exclude_none=True) for item in first.output),
            {"type": "function_call_output", "call_id": call.call_id, "output": "18 C"},
        ]
        final = client.responses.create(model="claude-sonnet-4-5", input=turn, tools=tools, **asked)
        assert final.output_text == "The capital of France is Paris"
        block = bedrock.requests[-1]["json"]["messages"][1]["content"][0]["reasoningContent"]["reasoningText"]
        assert block == {"text": bedrock.reasoning, "signature": bedrock.reasoning_signature(bedrock.reasoning)}
        with pytest.raises(openai.BadRequestError, match="extended thinking is offered for claude-sonnet-4-5"):
            client.responses.create(model="gpt-4o", input="Hi", reasoning={"effort": "low"})
    finally:
        bedrock.tool_call = None
