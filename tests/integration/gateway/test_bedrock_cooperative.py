"""Bedrock in the served gateway: in a request's greenlet, botocore signs and parses as always, but its request goes
out on the event loop's connections and the answer (a ConverseStream's events too) is read by that greenlet, so no
thread waits for Bedrock (``providers.cooperative_http.aws_send``). Outside a greenlet botocore sends it itself.
Credentials due for a refresh are refreshed on a blocking-call thread first (``aws_refresh_credentials``).
Against the loopback fake of bedrock-runtime; nothing is timed."""

from __future__ import annotations

import asyncio
import datetime
import threading
from decimal import Decimal

import pytest
from botocore.credentials import RefreshableCredentials

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
    """A provider with its client built, as ``Registry.warm`` builds it before the server serves."""
    entry = ProviderEntry(name="bedrock-eu", type="bedrock", aws_region="eu-central-1")
    built = BedrockProvider(entry, fake.url, (2.0, 10.0))
    built.client()
    return built


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


def _refreshable(expires_in: datetime.timedelta, calls: list[str]) -> RefreshableCredentials:
    """The task role's credentials as botocore holds them: refreshed by ``refresh`` (which records its thread)."""

    def refresh() -> dict[str, str]:
        calls.append(threading.current_thread().name)
        return {
            "access_key": "AKIAREFRESHED",
            "secret_key": "new-secret",
            "token": "new-token",
            "expiry_time": (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=6)).isoformat(),
        }

    return RefreshableCredentials.create_from_metadata(
        metadata={
            "access_key": "AKIAOLD",
            "secret_key": "old-secret",
            "token": "old-token",
            "expiry_time": (datetime.datetime.now(datetime.UTC) + expires_in).isoformat(),
        },
        refresh_using=refresh,
        method="container-role",
    )


def test_credentials_due_for_a_refresh_are_refreshed_on_a_blocking_thread_not_the_loop(bedrock):
    bedrock_provider = provider(bedrock)
    calls: list[str] = []
    # 5 minutes left: inside botocore's advisory (15 min) and mandatory (10 min) windows, as an ECS task role's
    # credentials are before their hourly rotation; the refresh is an HTTP call to the container's endpoint
    bedrock_provider.client()._request_signer._credentials = _refreshable(datetime.timedelta(minutes=5), calls)

    def work():
        return threading.current_thread().name, bedrock_provider.chat(NOVA, BODY, UpstreamTimer()).content

    loop_thread, content = asyncio.run(cooperative.run(work))
    assert content == "Hello from Bedrock"
    assert len(calls) == 1 and calls[0] != loop_thread and calls[0].startswith("blocking")
    assert "Credential=AKIAREFRESHED/" in bedrock.requests[-1]["headers"]["Authorization"]  # signed with the new ones


def test_fresh_credentials_are_not_refreshed_and_nothing_goes_to_a_thread(bedrock, no_thread):
    bedrock_provider = provider(bedrock)
    calls: list[str] = []
    bedrock_provider.client()._request_signer._credentials = _refreshable(datetime.timedelta(hours=5), calls)
    content = asyncio.run(cooperative.run(lambda: bedrock_provider.chat(NOVA, BODY, UpstreamTimer()).content))
    assert content == "Hello from Bedrock" and calls == []
    assert "Credential=AKIAOLD/" in bedrock.requests[-1]["headers"]["Authorization"]


def test_a_client_first_needed_in_a_greenlet_is_built_on_a_blocking_thread(bedrock, monkeypatch):
    entry = ProviderEntry(name="bedrock-eu", type="bedrock", aws_region="eu-central-1")
    cold = BedrockProvider(entry, bedrock.url, (2.0, 10.0))  # not warmed: an org's provider, or a late attempt's
    built_on: list[str] = []
    build = cold._build

    def recording_build(*args):
        built_on.append(threading.current_thread().name)
        return build(*args)

    monkeypatch.setattr(cold, "_build", recording_build)

    def work():
        content = cold.chat(NOVA, BODY, UpstreamTimer()).content
        timer = UpstreamTimer()
        timer.deadline = timer.monotonic() + 4.5  # a late attempt: the shorter read timeout is another client
        return threading.current_thread().name, content, cold.client(timer)

    loop_thread, content, short = asyncio.run(cooperative.run(work))
    assert content == "Hello from Bedrock"
    assert len(built_on) == 2 and all(name != loop_thread and name.startswith("blocking") for name in built_on)
    assert short is not cold.client() and short.meta.config.read_timeout < 10  # the late attempt's own client
