"""Zero retention: a unique canary in messages, tool arguments, tool results and the completion must not
appear in the database, in any queue message or in any log line, whatever happens to the request."""

from __future__ import annotations

import io
import json
import logging
import time
import uuid

import anthropic
import boto3
import openai
import pytest
from moto import mock_aws

from regiongate.audit.runtime import writer as audit_writer
from regiongate.audit.runtime.events import SqsAuditSink
from regiongate.common import logs
from regiongate.gateway.runtime.reasoning import encode_item
from regiongate.store.keys import KeyService
from tests.fixtures.fakes import FakeBedrock, FakeOpenAI
from tests.fixtures.gateway import make_gateway, post
from tests.fixtures.gateway_db import dump_database
from tests.fixtures.memory import enable_memory
from tests.fixtures.processing_area import write_opted_in_catalogue
from tests.fixtures.served import Served

pytestmark = pytest.mark.postgres
CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
COUNT_TOKENS = "/v1/messages/count_tokens"
RESPONSES = "/v1/responses"


def canary_requests(canary: str) -> list[tuple[str, dict]]:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": f"looks up {canary}",
                "parameters": {"type": "object", "properties": {"q": {"type": "string", "description": canary}}},
            },
        }
    ]
    conversation = [
        {"role": "system", "content": f"system {canary}"},
        {"role": "user", "content": f"user {canary}"},
        {
            "role": "assistant",
            "content": f"assistant {canary}",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": json.dumps({"q": canary})},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": f"tool result {canary}"},
        {"role": "user", "content": [{"type": "text", "text": f"part {canary}"}]},
    ]
    return [
        (CHAT, {"model": "claude-sonnet-4-5", "messages": conversation, "tools": tools, "user": canary}),
        (
            CHAT,
            {
                "model": "claude-sonnet-4-5",
                "messages": conversation,
                "tools": tools,
                "stream": True,
                "stream_options": {"include_usage": True},
            },
        ),
        (CHAT, {"model": "gpt-4o", "messages": conversation, "tools": tools}),
        (CHAT, {"model": "gpt-4o", "messages": conversation, "stream": True}),
        (
            CHAT,
            {
                "model": "gpt-4o",
                "messages": [{"role": "user", "content": f"{canary} IBAN DE89 3704 0044 0532 0130 00"}],
            },
        ),
        (CHAT, {"model": "gpt-4o", "messages": [{"role": "user", "content": f"{canary} card 4111 1111 1111 1111"}]}),
        (CHAT, {"model": f"model-{canary}", "messages": [{"role": "user", "content": canary}]}),
        (CHAT, {"model": "gpt-4o", "messages": [{"role": "user", "content": canary}], "temperature": canary}),
        ("/v1/embeddings", {"model": "titan-embed-text-v2", "input": [canary, f"second {canary}"]}),
        ("/v1/embeddings", {"model": "text-embedding-3-small", "input": canary}),
    ]


def messages_canary_requests(canary: str) -> list[tuple[str, dict]]:
    """The same canary through Anthropic's Messages API: system blocks, tools, tool use and results, thinking."""
    tools = [
        {
            "name": "lookup",
            "description": f"looks up {canary}",
            "input_schema": {"type": "object", "properties": {"q": {"type": "string", "description": canary}}},
        }
    ]
    conversation = [
        {"role": "user", "content": f"user {canary}"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": f"thinking {canary}", "signature": f"sig-{canary}"},
                {"type": "text", "text": f"assistant {canary}"},
                {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": canary}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": f"tool result {canary}"},
                {"type": "text", "text": f"part {canary}"},
            ],
        },
    ]
    base = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 2048,
        "system": [{"type": "text", "text": f"system {canary}", "cache_control": {"type": "ephemeral"}}],
        "messages": conversation,
        "tools": tools,
        "metadata": {"user_id": canary},
    }
    counted = {k: v for k, v in base.items() if k not in ("max_tokens", "metadata")}
    return [
        (MESSAGES, base),
        (MESSAGES, {**base, "stream": True}),
        (COUNT_TOKENS, counted),
        (MESSAGES, {**base, "model": f"claude-{canary}"}),
        (MESSAGES, {**base, "messages": [{"role": "user", "content": f"{canary} card 4111 1111 1111 1111"}]}),
    ]


def responses_canary_requests(canary: str) -> list[tuple[str, dict]]:
    """The same canary through the Responses API: instructions, input items, function calls and outputs."""
    tools = [
        {
            "type": "function",
            "name": "lookup",
            "description": f"looks up {canary}",
            "parameters": {"type": "object", "properties": {"q": {"type": "string", "description": canary}}},
        }
    ]
    items = [
        {"role": "user", "content": [{"type": "input_text", "text": f"user {canary}"}]},
        {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": json.dumps({"q": canary})},
        {"type": "function_call_output", "call_id": "call_1", "output": f"tool result {canary}"},
    ]
    base = {"model": "claude-sonnet-4-5", "instructions": f"system {canary}", "input": items, "tools": tools}
    # Extended thinking: the turn's signed reasoning sent back (encrypted_content), the answer's reasoning asked for.
    thought = {"type": "thinking", "thinking": f"thought {canary}"}
    thought["signature"] = FakeBedrock.reasoning_signature(thought["thinking"])
    summary = [{"type": "summary_text", "text": thought["thinking"]}]
    reasoning_item = {"type": "reasoning", "id": "rs_1", "summary": summary, "encrypted_content": encode_item(thought)}
    thinking = {
        **base,
        "input": [items[0], reasoning_item, *items[1:]],
        "reasoning": {"effort": "low", "summary": "auto"},
        "include": ["reasoning.encrypted_content"],
    }
    return [
        (RESPONSES, base),
        (RESPONSES, {**base, "stream": True}),
        (RESPONSES, thinking),
        (RESPONSES, {**thinking, "stream": True}),
        (RESPONSES, {**base, "model": "gpt-4o", "user": canary}),
        (RESPONSES, {**base, "store": True}),
    ]


# The card number and IBAN the guardrails detect in canary_requests. Their 4-character groups alone are no
# evidence (random request ids and timestamps contain "4111" now and then), so the check looks for every
# 8-character run of each value, spaced as sent or written without spaces.
DETECTED_VALUES = ("4111 1111 1111 1111", "DE89 3704 0044 0532 0130 00")


def value_parts(value: str, length: int = 8) -> set[str]:
    parts = set()
    for form in (value, value.replace(" ", "")):
        parts |= {form[i : i + length] for i in range(len(form) - length + 1)}
    return parts


def memory_facts(store) -> int:
    with store.pool.connection() as conn:
        return int(conn.run("SELECT count(*) FROM memory_facts")[0][0])


def test_value_parts_cover_the_whole_value_in_both_spellings():
    parts = value_parts("4111 1111 1111 1111")
    assert {"4111 111", "1111 111", "41111111", "11111111"} <= parts
    assert all(len(p) == 8 for p in parts)


def answer_with_canary(canary: str):
    bedrock = FakeBedrock(
        reply=f"completion {canary}", tool_call={"name": "lookup", "input": {"q": f"answer {canary}"}}
    )
    bedrock.thinking = {"thinking": f"thinking {canary}", "signature": f"signature-{canary}"}
    bedrock.reasoning = f"reasoning {canary}"  # Converse's reasoningContent, when thinking is on
    bedrock.cache_usage = (5, 9)
    azure = FakeOpenAI(reply=f"completion {canary}", tool_call={"name": "lookup", "input": {"q": f"answer {canary}"}})
    return bedrock, azure


def test_canary_never_reaches_database_queue_or_logs(eu_runtime, pg_store):
    canary = f"CANARY-{uuid.uuid4().hex}"
    bedrock, azure = answer_with_canary(canary)
    # Everything logged at the levels the product runs at (root INFO as in Lambda, regiongate at DEBUG), with
    # arguments interpolated so a library logging content through %-args would be caught too.
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    json_handler = logging.StreamHandler(captured)
    json_handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    gateway_logger = logging.getLogger("regiongate")
    saved = (root.level, gateway_logger.level, gateway_logger.propagate)
    root.addHandler(handler)
    gateway_logger.addHandler(json_handler)
    gateway_logger.propagate = False
    root.setLevel(logging.INFO)
    gateway_logger.setLevel(logging.DEBUG)
    try:
        with mock_aws():
            sqs = boto3.client("sqs", region_name="eu-central-1")
            queue_url = sqs.create_queue(QueueName="audit")["QueueUrl"]
            sink = SqsAuditSink(queue_url, "eu-central-1", client_factory=lambda: sqs)
            gateway, _ = make_gateway(eu_runtime, pg_store, bedrock=bedrock, azure=azure, sink=sink)
            key = KeyService(pg_store).create(region_code="eu", org_id="acme", team_id="ml").key
            enable_memory(pg_store, "acme")  # memory is on for the org: still nothing of these requests is kept
            statuses = []
            for path, body in canary_requests(canary):
                response = post(gateway, path, body, key)
                statuses.append(response.status)
                if response.status == 200 and path == CHAT:
                    assert canary in response.body.decode()  # the client does get its completion
            for path, body in messages_canary_requests(canary):
                response = post(gateway, path, body, key, headers={"anthropic-beta": f"beta-{canary}"})
                statuses.append(response.status)
                if response.status == 200 and path == MESSAGES:
                    assert canary in response.body.decode()
            for path, body in responses_canary_requests(canary):
                response = post(gateway, path, body, key)
                statuses.append(response.status)
                if response.status == 200:
                    assert canary in response.body.decode()
            # Upstreams failing with the canary in their error body.
            bedrock.fail_next(3, 500, f"boom-{canary}")
            statuses.append(post(gateway, MESSAGES, messages_canary_requests(canary)[0][1], key).status)
            azure.fail_next(3, 500, f"boom-{canary}")
            statuses.append(
                post(gateway, CHAT, {"model": "gpt-4o", "messages": [{"role": "user", "content": canary}]}, key).status
            )
            # A key that carries the canary.
            statuses.append(post(gateway, CHAT, {"model": "gpt-4o", "messages": []}, f"rk-eu-{canary}").status)

            messages = []
            while True:
                batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
                if not batch:
                    break
                messages += batch
            queue_dump = json.dumps(messages)
            failed = audit_writer.write_messages(pg_store, [(m["MessageId"], m["Body"]) for m in messages])
    finally:
        root.removeHandler(handler)
        gateway_logger.removeHandler(json_handler)
        root.setLevel(saved[0])
        gateway_logger.setLevel(saved[1])
        gateway_logger.propagate = saved[2]
        bedrock.close()
        azure.close()

    assert statuses == [
        *(200, 200, 200, 200, 200, 400, 404, 400, 200, 200),  # chat completions and embeddings
        *(200, 200, 200, 404, 400),  # messages and count_tokens
        *(200, 200, 200, 200, 200, 400),  # responses (two with extended thinking)
        *(502, 502, 401),  # failing upstreams, a key carrying the canary
    ]
    # One audit event and one request log line per request, except failed authentications: those are counted
    # per source and key prefix instead (#14: a flood of random keys must not write one row each).
    authenticated = len(statuses) - statuses.count(401)
    assert len(messages) == authenticated and failed == []
    database = dump_database(pg_store)
    assert memory_facts(pg_store) == 0  # chat, messages, responses and embeddings never write memory
    assert database.count("flag") >= 1 and "payment card number" in database  # violations are kept, as metadata
    log_output = captured.getvalue()
    assert log_output.count('"message":"request"') == authenticated
    for where, text in (("database", database), ("queue", queue_dump), ("logs", log_output)):
        assert canary not in text, f"the canary leaked into the {where}"
        assert canary[7:] not in text, f"part of the canary leaked into the {where}"
        for value in DETECTED_VALUES:
            leaked = [part for part in value_parts(value) if part in text]
            assert leaked == [], f"a detected value leaked into the {where}: {leaked}"


def test_canary_through_regiongate_serve(tmp_path, database_url, pg_store):
    """The same promise through the local server: its whole output and the database after the writer ran."""
    canary = f"CANARY-{uuid.uuid4().hex}"
    bedrock, azure = answer_with_canary(canary)
    served = Served(
        tmp_path,
        database_url,
        {"bedrock-eu": bedrock.url, "azure-weu": azure.url},
        extra_env={"REGIONGATE_PROVIDER_AZURE_WEU_API_KEY": "k", "REGIONGATE_LOG_LEVEL": "DEBUG"},
        config=write_opted_in_catalogue(tmp_path),
    )
    try:
        key = KeyService(pg_store).create(region_code="eu", org_id="acme").key
        enable_memory(pg_store, "acme")
        client = openai.OpenAI(api_key=key, base_url=served.base_url, max_retries=0)
        count = 0
        for path, body in canary_requests(canary):
            count += 1
            try:
                if path == CHAT:
                    result = client.chat.completions.create(**body)
                    if body.get("stream"):
                        result = "".join(c.choices[0].delta.content or "" for c in result if c.choices)
                        assert canary in result
                else:
                    client.embeddings.create(**body)
            except openai.APIStatusError as exc:
                assert exc.status_code < 500
        claude = anthropic.Anthropic(api_key=key, base_url=served.base_url.removesuffix("/v1"), max_retries=0)
        for path, body in messages_canary_requests(canary):
            count += 1
            try:
                if path == COUNT_TOKENS:
                    claude.messages.count_tokens(**body)
                elif body.get("stream"):
                    with claude.messages.stream(**{k: v for k, v in body.items() if k != "stream"}) as stream:
                        assert canary in "".join(stream.text_stream)
                else:
                    assert canary in claude.messages.create(**body).to_json()
            except anthropic.APIStatusError as exc:
                assert exc.status_code < 500
        for _, body in responses_canary_requests(canary):
            count += 1
            try:
                if body.get("stream"):
                    events = list(client.responses.create(**body))
                    assert canary in events[-1].response.to_json()
                else:
                    assert canary in client.responses.create(**body).to_json()
            except openai.APIStatusError as exc:
                assert exc.status_code < 500
        deadline = time.monotonic() + 10
        while True:
            with pg_store.pool.connection() as conn:
                written = conn.run("SELECT count(*) FROM audit_events")[0][0]
            if written >= count or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert written == count
    finally:
        served.stop()
        bedrock.close()
        azure.close()
    output = served.output()
    assert output.count('"message":"request"') == count
    assert canary not in output and canary not in dump_database(pg_store)
    assert memory_facts(pg_store) == 0
