"""A stream that ends without its terminal event is an error, not a success, on every streaming path the
ConverseStream cut test (test_bedrock_faults.py) does not cover:

- ``/v1/messages`` (Anthropic Messages) on Bedrock's InvokeModelWithResponseStream: a stream that stops before
  ``message_stop`` (the HTTP body ending cleanly, or the connection closing mid-event) ends with Anthropic's
  ``error`` event, never a ``message_stop``;
- ``/v1/responses`` on the region's Azure provider and on an OpenAI-compatible one (the China region's): a
  stream that stops before ``[DONE]`` ends with ``error`` and ``response.failed``, never
  ``response.completed``.

Each: one audit row with the status the error has (502 ``upstream_error``), the cost of exactly the usage the
upstream reported before the cut (nothing when it reported none), no reservation left unsettled, and the
whole request within a fixed allowance (a correctness bound: nothing here waits; never a measured speed)."""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from decimal import Decimal

import pytest

from regiongate.config.gateway import runtime_document
from regiongate.contract.document import RuntimeConfig
from regiongate.gateway.runtime import translate_messages as tm
from regiongate.gateway.runtime.pricing import cost_usd
from regiongate.store.memory import MemoryStore
from tests.fixtures.fakes import FakeBedrock, FakeOpenAI, FaultyOpenAI
from tests.fixtures.gateway import make_gateway, new_key, post

MESSAGES = "/v1/messages"
OWN_WORK_SECONDS = 5.0  # the gateway's and botocore's own work, generously: nothing in these modes waits
RESULTS: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def print_counts():
    yield
    print(f"\nstream cuts checked: {sum(RESULTS.values())} ({', '.join(sorted(RESULTS))})")


def named_events(raw: bytes) -> list[tuple[str, dict]]:
    """(event name, data) of every ``event:``/``data:`` block of an SSE body."""
    events = []
    for block in raw.decode().split("\n\n"):
        name, data = None, None
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data = json.loads(line[5:].strip())
        if name is not None:
            events.append((name, data))
    return events


def _settled(store: MemoryStore) -> bool:
    return all(h.amount_usd == 0 for h in store.holds.values()) or store.holds == {}


# --- /v1/messages on InvokeModelWithResponseStream -------------------------------------------------------------


class CutClaudeStream(FakeBedrock):
    """InvokeModelWithResponseStream answers with the first ``keep`` Claude events only: ``clean`` ends the
    chunked body properly (the stream just stops early); otherwise a piece of the next event is written and
    the connection closes without the body's end."""

    def __init__(self, keep: int, *, clean: bool) -> None:
        super().__init__(reply="one two three four")
        self.keep, self.clean = keep, clean

    def answer(self, handler, path, body):
        if not path.endswith("/invoke-with-response-stream"):
            return super().answer(handler, path, body)
        events = self.claude_events()
        assert self.keep < len(events)  # never the whole stream
        handler.send_response(200)
        handler.send_header("content-type", "application/vnd.amazon.eventstream")
        handler.send_header("transfer-encoding", "chunked")
        handler.end_headers()
        for event in events[: self.keep]:
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
        if self.clean:
            handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
            return
        piece = events[self.keep][:9]
        handler.wfile.write(b"%x\r\n%s" % (len(events[self.keep]), piece))
        handler.wfile.flush()
        FaultyOpenAI._hang_up(handler, reset=False)


def _claude_data(fake: FakeBedrock) -> list[dict]:
    """The Claude events the fake streams, decoded (what the gateway parses)."""
    out = []
    for event in fake.claude_events():
        payload = json.loads(event[event.index(b"{") : -4])
        out.append(json.loads(base64.b64decode(payload["bytes"])))
    return out


# mode -> (events kept, a clean end of the HTTP body)
MESSAGE_CUTS = {
    "before_message_stop_clean_end": (-1, True),  # everything but message_stop, the body ends properly
    "before_message_stop_connection_closed": (-1, False),
    "after_first_text_connection_closed": (3, False),  # message_start, content_block_start, one text delta
    "after_message_start_clean_end": (1, True),
}


@pytest.mark.parametrize("mode", list(MESSAGE_CUTS))
def test_a_messages_stream_cut_before_message_stop_ends_with_an_anthropic_error(eu_runtime, mode):
    keep, clean = MESSAGE_CUTS[mode]
    probe = FakeBedrock(reply="one two three four")
    try:
        data = _claude_data(probe)
    finally:
        probe.close()
    keep = len(data) - 1 if keep < 0 else keep
    assert data[-1]["type"] == "message_stop" and keep < len(data)
    bedrock = CutClaudeStream(keep, clean=clean)
    store = MemoryStore()
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock)
    key = new_key(store, monthly_budget_usd=Decimal("5"))
    model = next(m for m in tm.claude_models(eu_runtime.models, eu_runtime.providers))
    body = {"model": model.name, "max_tokens": 64, "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    try:
        started = time.monotonic()
        response = post(gateway, MESSAGES, body, key, headers={"anthropic-version": "2023-06-01"})
        elapsed = time.monotonic() - started
    finally:
        bedrock.close()

    events = named_events(response.body)
    names = [n for n, _ in events]
    print(f"{mode}: HTTP {response.status} events {names} after {elapsed:.2f} s")
    assert response.status == 200 and response.headers["content-type"] == "text/event-stream"
    assert "message_stop" not in names and names[-1] == "error"
    error = events[-1][1]
    assert error["type"] == "error" and error["error"]["type"] == "api_error"
    fragment = "Bedrock's stream ended before message_stop" if clean else "connection to Bedrock broke while streaming"
    assert fragment in error["error"]["message"] and "(fake)" not in error["error"]["message"]
    assert names.count("error") == 1
    assert len(bedrock.requests) == 1  # a started stream is never retried
    assert elapsed <= OWN_WORK_SECONDS

    # the usage Bedrock reported before the cut: message_start's, then message_delta's output tokens if it came
    reported = tm.Usage()
    for d in data[:keep]:
        if d["type"] == "message_start":
            reported = tm.usage_of(d["message"]["usage"], reported)
        elif d["type"] == "message_delta":
            reported = tm.usage_of(d["usage"], reported)
    [event] = sink.events
    assert (event["status"], event["error_type"], event["stream"]) == (502, "upstream_error", True)
    assert (event["input_tokens"], event["output_tokens"]) == (reported.billed_input, reported.output_tokens)
    expected = cost_usd(
        reported.billed_input, reported.output_tokens, model.input_usd_per_mtok, model.output_usd_per_mtok
    )
    assert Decimal(event["cost_usd"]) == expected
    assert store.write_audit_events(sink.events) == 1 and list(store.audit) == [event["request_id"]]
    assert _settled(store)
    RESULTS["messages:" + mode] += 1


# --- /v1/responses on Azure and on an OpenAI-compatible provider ------------------------------------------------


class CutOpenAIStream(FakeOpenAI):
    """A streamed chat completion of a few content chunks that stops before ``[DONE]``: ``clean`` ends the
    chunked body properly, otherwise the connection closes mid-chunk. ``usage`` also sends the usage chunk
    (which OpenAI sends last, before ``[DONE]``)."""

    def __init__(self, *, clean: bool, usage: bool) -> None:
        super().__init__(reply="one two three")
        self.clean, self.send_usage = clean, usage

    def answer(self, handler, path, body):
        if not (isinstance(body, dict) and body.get("stream")):
            return super().answer(handler, path, body)
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream")
        handler.send_header("transfer-encoding", "chunked")
        handler.end_headers()

        def chunk(delta: dict, finish=None, usage=None) -> bytes:
            value = {
                "id": "chatcmpl-up",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "up",
                "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if usage:
                value["usage"] = usage
            data = b"data: " + json.dumps(value).encode() + b"\n\n"
            return b"%x\r\n%s\r\n" % (len(data), data)

        handler.wfile.write(chunk({"role": "assistant", "content": ""}))
        for word in ("one", " two", " three"):
            handler.wfile.write(chunk({"content": word}))
        handler.wfile.write(chunk({}, finish="stop"))
        if self.send_usage:
            handler.wfile.write(chunk({}, usage={"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}))
        if self.clean:
            handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
            return
        handler.wfile.write(b'20\r\ndata: {"id": "chatcmpl-up"')
        handler.wfile.flush()
        FaultyOpenAI._hang_up(handler, reset=False)


# mode -> (a clean end of the HTTP body, the usage chunk sent before the cut)
RESPONSES_CUTS = {
    "before_done_clean_end": (True, False),
    "before_done_connection_closed": (False, False),
    "after_usage_before_done_clean_end": (True, True),
    "after_usage_connection_closed": (False, True),
}


@pytest.fixture(scope="module")
def cn_runtime(catalogue) -> RuntimeConfig:
    return RuntimeConfig.from_document(runtime_document(catalogue.region("cn")))


@pytest.mark.parametrize("provider_type", ["azure_openai", "openai_compatible"])
@pytest.mark.parametrize("mode", list(RESPONSES_CUTS))
def test_a_responses_stream_cut_before_done_ends_with_response_failed(eu_runtime, cn_runtime, provider_type, mode):
    clean, usage = RESPONSES_CUTS[mode]
    runtime, region = (eu_runtime, "eu") if provider_type == "azure_openai" else (cn_runtime, "cn")
    model = next(
        m for m in runtime.models.values() if m.kind == "chat" and runtime.providers[m.provider].type == provider_type
    )
    upstream = CutOpenAIStream(clean=clean, usage=usage)
    store = MemoryStore()
    wiring = (
        {"azure": upstream} if provider_type == "azure_openai" else {"openai_compatible": (model.provider, upstream)}
    )
    gateway, sink = make_gateway(runtime, store, **wiring)
    key = new_key(store, region=region, monthly_budget_usd=Decimal("5"))
    try:
        started = time.monotonic()
        response = post(gateway, "/v1/responses", {"model": model.name, "input": "Hi", "stream": True}, key)
        elapsed = time.monotonic() - started
    finally:
        upstream.close()

    events = named_events(response.body)
    names = [n for n, _ in events]
    print(f"{provider_type} {mode}: HTTP {response.status} events {names[-3:]} after {elapsed:.2f} s")
    assert response.status == 200 and response.headers["content-type"] == "text/event-stream"
    assert "response.completed" not in names and names[-2:] == ["error", "response.failed"]
    assert "connection broke while streaming" in events[-2][1]["message"]
    failed = events[-1][1]["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "server_error"
    assert len(upstream.requests) == 1  # a started stream is never retried
    assert elapsed <= OWN_WORK_SECONDS

    [event] = sink.events
    assert (event["status"], event["error_type"], event["stream"]) == (502, "upstream_error", True)
    # billed what the upstream reported before the cut: its usage chunk when it came, else nothing
    tokens = (9, 3) if usage else (0, 0)
    assert (event["input_tokens"], event["output_tokens"]) == tokens
    assert Decimal(event["cost_usd"]) == cost_usd(*tokens, model.input_usd_per_mtok, model.output_usd_per_mtok)
    assert store.write_audit_events(sink.events) == 1 and list(store.audit) == [event["request_id"]]
    assert _settled(store)
    RESULTS[f"responses:{provider_type}:{mode}"] += 1
