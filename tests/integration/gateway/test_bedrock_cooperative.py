"""Bedrock in the served gateway: in a request's greenlet, botocore signs and parses as always, but its request goes
out on the event loop's connections and the answer (a ConverseStream's events too) is read by that greenlet, so no
thread waits for Bedrock (``providers.cooperative_http.aws_send``). Outside a greenlet botocore sends it itself.
Against the loopback fake of bedrock-runtime; nothing is timed."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from regiongate.contract.document import ModelEntry, ProviderEntry
from regiongate.contract.errors import UpstreamError
from regiongate.gateway.runtime import cooperative
from regiongate.gateway.runtime.providers import cooperative_http
from regiongate.gateway.runtime.providers.base import UpstreamTimer
from regiongate.gateway.runtime.providers.bedrock import BedrockProvider
from tests.fixtures.fakes import FakeBedrock

NOVA = ModelEntry("nova-pro", "bedrock-eu", "eu.amazon.nova-pro-v1:0", "chat", Decimal("1"), Decimal("1"))
BODY = {"model": "nova-pro", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
def bedrock():
    fake = FakeBedrock(reply="Hello from Bedrock")
    yield fake
    fake.close()


@pytest.fixture
def no_thread(monkeypatch):
    """Any call handed to a thread pool of the served gateway fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a Bedrock call was handed to a thread")

    monkeypatch.setattr(cooperative, "_pool", refuse)


def provider(fake: FakeBedrock) -> BedrockProvider:
    entry = ProviderEntry(name="bedrock-eu", type="bedrock", aws_region="eu-central-1")
    return BedrockProvider(entry, fake.url, (2.0, 10.0))


def text(deltas) -> str:
    return "".join(d.text for d in deltas if d.kind == "text")


def test_a_stream_and_a_call_go_out_on_the_loop_signed_by_botocore_on_one_connection(bedrock, no_thread):
    bedrock_provider = provider(bedrock)

    port = int(bedrock.url.rsplit(":", 1)[1])

    def work():
        pool = cooperative_http.pool_for("http", "127.0.0.1", port)
        streamed = list(bedrock_provider.chat_stream(NOVA, BODY, UpstreamTimer()))
        after_stream = list(pool._idle)
        whole = bedrock_provider.chat(NOVA, BODY, UpstreamTimer())
        assert len(after_stream) == 1 and pool._idle == after_stream  # the stream's connection served the call
        return streamed, whole

    streamed, whole = asyncio.run(cooperative.run(work))
    assert text(streamed) == "Hello from Bedrock" and whole.content == "Hello from Bedrock"
    assert [r["path"] for r in bedrock.requests] == [
        "/model/eu.amazon.nova-pro-v1:0/converse-stream",
        "/model/eu.amazon.nova-pro-v1:0/converse",
    ]
    for request in bedrock.requests:
        headers = {k.lower(): v for k, v in request["headers"].items()}
        assert headers["host"] == bedrock.url.removeprefix("http://")  # the host the request was signed for
        assert "/eu-central-1/bedrock/aws4_request" in headers["authorization"]
        assert "expect" not in headers


def test_a_bedrock_stream_that_fails_mid_way_is_an_upstream_error_in_the_greenlet(bedrock, no_thread):
    bedrock.stream_error_after = 2
    bedrock_provider = provider(bedrock)

    def work():
        received = []
        try:
            for delta in bedrock_provider.chat_stream(NOVA, BODY, UpstreamTimer()):
                received.append(delta)
        except UpstreamError as exc:
            return received, str(exc)
        return received, None

    _, error = asyncio.run(cooperative.run(work))
    assert error == "Bedrock failed (modelStreamErrorException)"  # botocore raised the exception event


def test_a_bedrock_error_answer_is_parsed_by_botocore_as_always(bedrock, no_thread):
    bedrock.failures.append((429, "ThrottlingException"))
    bedrock_provider = provider(bedrock)

    def work():
        try:
            bedrock_provider.chat(NOVA, BODY, UpstreamTimer())
        except UpstreamError as exc:
            return exc.status
        return None

    assert asyncio.run(cooperative.run(work)) == 429


def test_outside_a_greenlet_botocore_sends_the_call_itself(bedrock):
    streamed = list(provider(bedrock).chat_stream(NOVA, BODY, UpstreamTimer()))
    assert text(streamed) == "Hello from Bedrock" and len(bedrock.requests) == 1
