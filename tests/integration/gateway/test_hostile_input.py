"""Hostile input: malformed JSON, wrong types, huge and deep bodies, odd unicode, SQL in every string field.
Every one gets a clear 4xx (never a 5xx), nothing reaches an upstream, and the audit trail stays exact."""

from __future__ import annotations

import json
import socket

import pytest

from regiongate.audit.runtime import writer as audit_writer
from regiongate.audit.runtime.events import ListAuditSink
from regiongate.store.keys import KeyService
from tests.fixtures.gateway import body_of, make_gateway, post
from tests.fixtures.gateway_db import dump_database

pytestmark = pytest.mark.postgres
SQL = "'); DROP TABLE api_keys; --"
MSG = [{"role": "user", "content": "hi"}]


def chat(**fields):
    return {"model": "claude-sonnet-4-5", "messages": MSG, **fields}


HOSTILE_BODIES = [
    b"",
    b"not json",
    b"{",
    b"[]",
    b"null",
    b'"a string"',
    b"\xff\xfe\x00",
    b'{"model": "claude-sonnet-4-5",}',
    b"[" * 200_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b'{"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "\\ud800"}]}',
]
HOSTILE_CHATS = [
    {"model": 1, "messages": MSG},
    {"model": None, "messages": MSG},
    {"model": ["x"], "messages": MSG},
    {"model": "claude-sonnet-4-5"},
    chat(messages="hello"),
    chat(messages=[]),
    chat(messages=[1]),
    chat(messages=[[]]),
    chat(messages=[{"role": "hacker", "content": "x"}]),
    chat(messages=[{"role": "user", "content": 5}]),
    chat(messages=[{"role": "user", "content": None}]),
    chat(messages=[{"role": "user", "content": {"text": "x"}}]),
    chat(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:x"}}]}]),
    chat(messages=[{"role": "user", "content": [{"type": "text", "text": 7}]}]),
    chat(messages=[{"role": "user", "content": "x", "tool_calls": []}]),
    chat(messages=[{"role": "user", "content": "x"}, {"role": "tool", "content": "r"}]),
    chat(messages=[{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [{"id": 1}]}]),
    chat(
        messages=[
            {"role": "user", "content": "x"},
            {
                "role": "assistant",
                "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1, 2]"}}],
            },
        ]
    ),
    chat(messages=[{"role": "assistant", "content": "I start"}]),
    chat(max_tokens="10"),
    chat(max_tokens=-1),
    chat(max_tokens=10**12),
    chat(max_tokens=1.5),
    chat(max_tokens=True),
    chat(temperature="hot"),
    chat(temperature=5),
    chat(temperature=-0.1),
    chat(top_p=True),
    chat(stop=[1]),
    chat(stop=["a"] * 10),
    chat(stop={"a": 1}),
    chat(stream="yes"),
    chat(stream_options="x"),
    chat(stream_options={"include_usage": "yes"}),
    chat(n=3),
    chat(tools="x"),
    chat(tools=[{"type": "function"}]),
    chat(tools=[{"type": "retrieval"}]),
    chat(tools=[{"type": "function", "function": {"name": 1}}]),
    chat(tool_choice=5),
    chat(tool_choice={"function": "x"}),
    chat(user=["x"]),
    chat(model=SQL),
    chat(model="\u0000"),
    chat(model="🙂" * 1000),
    chat(model="../../etc/passwd"),
    chat(messages=[{"role": SQL, "content": SQL}]),
    chat(messages=[{"role": "user", "content": "card 4111111111111111 " + SQL}]),
]
HOSTILE_EMBEDDINGS = [
    {"model": "titan-embed-text-v2"},
    {"model": "titan-embed-text-v2", "input": [1, 2, 3]},
    {"model": "titan-embed-text-v2", "input": ""},
    {"model": "titan-embed-text-v2", "input": []},
    {"model": "titan-embed-text-v2", "input": "x", "encoding_format": "hex"},
    {"model": "titan-embed-text-v2", "input": "x", "dimensions": "8"},
    {"model": SQL, "input": SQL},
    {"model": "claude-sonnet-4-5", "input": "x"},
]


def test_every_hostile_request_is_a_clear_4xx_and_audited_exactly(eu_runtime, pg_store, bedrock, azure):
    sink = ListAuditSink()
    gateway, _ = make_gateway(eu_runtime, pg_store, bedrock=bedrock, azure=azure, sink=sink)
    key = KeyService(pg_store).create(region_code="eu", org_id="acme").key
    before = dump_database(pg_store)
    results = []
    for raw in HOSTILE_BODIES:
        results.append(post(gateway, "/v1/chat/completions", raw, key))
    for body in HOSTILE_CHATS:
        results.append(post(gateway, "/v1/chat/completions", body, key))
    for body in HOSTILE_EMBEDDINGS:
        results.append(post(gateway, "/v1/embeddings", body, key))
    # Unicode and SQL where they are legitimate content: served normally.
    fine = post(
        gateway,
        "/v1/chat/completions",
        chat(messages=[{"role": "user", "content": "Grüße 你好 مرحبا 🙂 \u202e " + SQL}], user=SQL),
        key,
    )
    assert fine.status == 200

    for i, response in enumerate(results):
        assert 400 <= response.status < 500, (i, response.status, response.body[:200])
        error = body_of(response)["error"]
        assert (
            set(error) == {"message", "type", "param", "code"}
            and (error["code"] is None or isinstance(error["code"], str))
            and error["message"]
        )
    assert bedrock.requests == [bedrock.requests[0]] and azure.requests == []  # only the legitimate request went out

    failed = audit_writer.write_bodies(pg_store, [json.dumps(e) for e in sink.events])
    assert failed == []
    with pg_store.pool.connection() as conn:
        rows = conn.run("SELECT status, model FROM audit_events")
        assert conn.run("SELECT count(*) FROM api_keys")[0][0] == 1
    assert len(rows) == len(results) + 1
    assert {model for _, model in rows} <= set(eu_runtime.models) | {None}  # never a client-chosen string
    assert all(status < 500 for status, _ in rows)
    after = dump_database(pg_store)
    assert SQL not in after and "DROP TABLE" not in after
    assert before.count("api_keys:") == after.count("api_keys:")


def test_wrong_types_name_the_field(eu_runtime, pg_store):
    gateway, _ = make_gateway(eu_runtime, pg_store)
    key = KeyService(pg_store).create(region_code="eu", org_id="acme").key
    assert (
        "messages[0].content"
        in body_of(post(gateway, "/v1/chat/completions", chat(messages=[{"role": "user", "content": 5}]), key))[
            "error"
        ]["message"]
    )
    assert (
        "temperature"
        in body_of(post(gateway, "/v1/chat/completions", chat(temperature="hot"), key))["error"]["message"]
    )


def raw_http(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            chunks.append(data)
            if b"\r\n\r\n" in b"".join(chunks) and b"content-length" in b"".join(chunks).lower():
                head, _, rest = b"".join(chunks).partition(b"\r\n\r\n")
                length = int(
                    [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0].split(b":")[1]
                )
                if len(rest) >= length:
                    break
        return b"".join(chunks)


def test_local_server_refuses_broken_http_framing_and_huge_bodies(eu_runtime, pg_store):
    import threading

    from regiongate.gateway.runtime.local import GatewayHTTPServer

    gateway, _ = make_gateway(eu_runtime, pg_store)
    server = GatewayHTTPServer(("127.0.0.1", 0), gateway)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        reply = raw_http(port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 400")
        reply = raw_http(
            port,
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        )
        assert reply.startswith(b"HTTP/1.1 400")
        head = (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer rk-eu-"
            + b"a" * 32
            + b"\r\nContent-Length: 50000000\r\n\r\n"
        )
        reply = raw_http(port, head + b"{" * 1_100_000)
        assert reply.startswith(b"HTTP/1.1 413") and b"request_too_large" in reply
    finally:
        server.shutdown()
        server.server_close()
