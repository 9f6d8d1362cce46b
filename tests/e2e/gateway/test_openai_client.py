"""End to end: the official ``openai`` client against ``regiongate serve`` (a subprocess), with loopback
fakes of Bedrock and Azure OpenAI and the real PostgreSQL: chat, streaming, tools, embeddings, models, errors."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from decimal import Decimal

import openai
import pytest

from regiongate.store.keys import KeyService
from tests.fixtures.fakes import FakeBedrock, FakeOpenAI
from tests.fixtures.served import served_eu, store_of

pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group("serve-eu")]


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


@pytest.fixture(scope="module")
def key(store, served):
    return KeyService(store).create(region_code="eu", org_id="e2e-org", team_id="e2e-team").key


@pytest.fixture
def client(served, key):
    return openai.OpenAI(api_key=key, base_url=served.base_url, max_retries=0, timeout=30)


def audit_rows(store, request_id: str, wait: float = 5.0) -> list:
    """Poll until the writer has written the request's row (the gateway writes within a second)."""
    deadline = time.monotonic() + wait
    while True:
        with store.pool.connection() as conn:
            rows = conn.run(
                "SELECT status, model, provider, input_tokens, output_tokens, cost_usd, stream, error_type "
                "FROM audit_events WHERE request_id = CAST(:r AS uuid)",
                r=request_id,
            )
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_chat(client, store):
    raw = client.chat.completions.with_raw_response.create(
        model="claude-sonnet-4-5",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}],
        max_tokens=20,
        temperature=0.1,
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "The capital of France is Paris"
    assert completion.usage.total_tokens == 19
    request_id = raw.headers["x-request-id"]
    assert float(raw.headers["x-regiongate-added-ms"]) >= 0 and raw.headers["x-regiongate-region"] == "eu"
    [row] = audit_rows(store, request_id)
    assert row[:5] == [200, "claude-sonnet-4-5", "bedrock-eu", 12, 7] and row[5] == Decimal("0.000141")


def test_streaming_arrives_chunk_by_chunk(client, store, fakes):
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Bonjour from Azure"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 3  # one per upstream chunk
    assert chunks[-1].usage.completion_tokens == 5 and chunks[-1].choices == []
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]


def test_stream_is_relayed_chunk_by_chunk(client, fakes):
    """The first chunk reaches the client while the upstream is still paused mid-stream: nothing is buffered."""
    _, azure = fakes
    azure.gate = threading.Event()
    try:
        stream = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
        first = next(c for c in stream if c.choices and c.choices[0].delta.content)
        assert first.choices[0].delta.content == "Bonjour"
        assert not azure.gate.is_set() and not azure.gate_timed_out  # the upstream has not sent the rest yet
        azure.gate.set()
        rest = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert rest == " from Azure" and not azure.gate_timed_out
    finally:
        azure.gate.set()
        azure.gate = None


def test_tools(client, fakes):
    bedrock, _ = fakes
    bedrock.tool_call = {"name": "get_weather", "input": {"city": "Paris"}}
    try:
        tools = [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }
        ]
        completion = client.chat.completions.create(
            model="claude-sonnet-4-5", messages=[{"role": "user", "content": "Weather?"}], tools=tools
        )
        call = completion.choices[0].message.tool_calls[0]
        assert completion.choices[0].finish_reason == "tool_calls"
        assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
        follow_up = client.chat.completions.create(
            model="claude-sonnet-4-5",
            tools=tools,
            messages=[
                {"role": "user", "content": "Weather?"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": call.id,
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": call.function.arguments},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
            ],
        )
        assert follow_up.choices[0].finish_reason == "tool_calls"
        sent = bedrock.requests[-1]["json"]["messages"]
        assert sent[-1]["content"][0]["toolResult"]["toolUseId"] == call.id
        stream = client.chat.completions.create(
            model="claude-sonnet-4-5", messages=[{"role": "user", "content": "Weather?"}], tools=tools, stream=True
        )
        args = "".join(
            tc.function.arguments or "" for c in stream if c.choices for tc in (c.choices[0].delta.tool_calls or [])
        )
        assert json.loads(args) == {"city": "Paris"}
    finally:
        bedrock.tool_call = None


def test_fidelity_tool_choice_none_unsupported_parameters_and_answer_fields(client, fakes):
    bedrock, azure = fakes
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    history = [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "18C"},
    ]
    done = client.chat.completions.create(model="claude-sonnet-4-5", messages=history, tools=tools, tool_choice="none")
    assert done.choices[0].message.content == "The capital of France is Paris"
    assert "toolConfig" not in bedrock.requests[-1]["json"]
    with pytest.raises(
        openai.BadRequestError, match=r"^Error code: 400 - seed is not supported by provider bedrock-eu"
    ) as info:
        client.chat.completions.create(model="claude-sonnet-4-5", messages=history[:1], seed=7)
    assert info.value.param == "seed" and info.value.body["type"] == "invalid_request_error"
    azure.fingerprint = "fp_e2e"
    try:
        answer = client.chat.completions.create(
            model="gpt-4o",
            messages=history[:1],
            seed=7,
            logprobs=True,
            top_logprobs=1,
            parallel_tool_calls=False,
            tools=tools,
        )
    finally:
        azure.fingerprint = None
    assert answer.system_fingerprint == "fp_e2e" and answer.choices[0].message.refusal is None
    assert answer.choices[0].logprobs.content[0].token == "Bonjour from Azure"
    assert {k: azure.requests[-1]["json"][k] for k in ("seed", "logprobs", "top_logprobs", "parallel_tool_calls")} == {
        "seed": 7,
        "logprobs": True,
        "top_logprobs": 1,
        "parallel_tool_calls": False,
    }


def test_embeddings(client):
    result = client.embeddings.create(
        model="titan-embed-text-v2", input=["hello", "world!"]
    )  # the client asks for base64
    assert [d.index for d in result.data] == [0, 1] and len(result.data[0].embedding) == 8
    assert result.usage.prompt_tokens >= 2
    azure = client.embeddings.create(model="text-embedding-3-small", input="hi", encoding_format="float")
    assert azure.data[0].embedding == [0.5, -0.25, 2.0]


def test_models(client):
    models = [m.id for m in client.models.list()]
    assert models == ["claude-sonnet-4-5", "nova-pro", "titan-embed-text-v2", "gpt-4o", "text-embedding-3-small"]
    assert client.models.retrieve("gpt-4o").owned_by == "regiongate-eu"


def test_errors(served, store):
    def call(key, **kwargs):
        c = openai.OpenAI(api_key=key, base_url=served.base_url, max_retries=0)
        return c.chat.completions.create(
            **{"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "x"}], **kwargs}
        )

    us_key = KeyService(store).create(region_code="us", org_id="e2e-org").key
    with pytest.raises(
        openai.PermissionDeniedError, match=r"^Error code: 403 - API key is for region US, but request was made to EU$"
    ) as info:
        call(us_key)
    assert info.value.status_code == 403
    assert info.value.body == {
        "message": "API key is for region US, but request was made to EU",
        "type": "region_mismatch",
        "code": 403,
    }
    with pytest.raises(openai.AuthenticationError, match=r"^Error code: 401 - the API key is not valid$") as info:
        call("rk-eu-" + "x" * 32)
    assert info.value.body["type"] == "invalid_api_key"
    service = KeyService(store)
    revoked = service.create(region_code="eu", org_id="e2e-org")
    service.revoke(revoked.record.key_id)
    with pytest.raises(openai.AuthenticationError, match=r"^Error code: 401 - the API key has been revoked$"):
        call(revoked.key)
    good = service.create(region_code="eu", org_id="e2e-org", model_allowlist=("gpt-4o",)).key
    with pytest.raises(
        openai.PermissionDeniedError, match="model claude-sonnet-4-5 is not allowed for this API key"
    ) as info:
        call(good)
    assert info.value.body["type"] == "model_not_allowed"
    with pytest.raises(openai.NotFoundError, match="model 'gpt-9' is not served in region EU") as info:
        call(good, model="gpt-9")
    assert info.value.body["type"] == "model_not_found"
    with pytest.raises(openai.BadRequestError, match=r"^Error code: 400 - request blocked by guardrail: ") as info:
        call(good, model="gpt-4o", messages=[{"role": "user", "content": "card 4111 1111 1111 1111"}])
    assert info.value.body["type"] == "guardrail_violation"
    broke = service.create(region_code="eu", org_id="e2e-org", monthly_budget_usd=Decimal("0")).key
    with pytest.raises(
        openai.RateLimitError, match=r"^Error code: 429 - this key has used its monthly budget of 0(\.0+)? USD$"
    ) as info:
        call(broke)
    assert info.value.body["type"] == "budget_exceeded"
    with pytest.raises(
        openai.APIStatusError, match=r"^Error code: 413 - the request body is \d+ bytes; the limit is "
    ) as info:
        call(good, model="gpt-4o", messages=[{"role": "user", "content": "x" * 1_000_100}])
    assert info.value.status_code == 413 and info.value.body["type"] == "request_too_large"


def test_upstream_failure_is_502_and_audited(client, store, fakes):
    bedrock, azure = fakes
    bedrock.fail_next(3, 503, "ServiceUnavailableException")
    before = len(azure.requests)
    with pytest.raises(
        openai.InternalServerError, match=r"^Error code: 502 - Bedrock failed \(ServiceUnavailableException\)"
    ) as info:
        client.chat.completions.create(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 502 and info.value.body["type"] == "upstream_error"
    assert len(azure.requests) == before  # never another provider
    [row] = audit_rows(store, info.value.response.headers["x-request-id"])
    assert row[0] == 502 and row[7] == "upstream_error"


def test_serve_refuses_non_loopback_upstreams(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "regiongate.cli.main",
            "serve",
            "--region",
            "eu",
            "--port",
            "0",
            "--upstream",
            "bedrock-eu=https://bedrock-runtime.eu-central-1.amazonaws.com",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "only loopback URLs" in result.stderr
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "regiongate.cli.main",
            "serve",
            "--region",
            "eu",
            "--port",
            "0",
            "--upstream",
            "nope=http://127.0.0.1:1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "no such provider" in result.stderr
