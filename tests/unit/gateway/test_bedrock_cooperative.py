"""Bedrock in the served gateway: boto3 blocks, so in a request's greenlet its calls run off the event loop.

The Converse call itself runs on a blocking-call thread and each read of a ConverseStream on a waiting-call
thread (``cooperative``), never on the loop's own thread, and the deltas are the same as outside a greenlet."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal

from regiongate.contract.document import ModelEntry, ProviderEntry
from regiongate.gateway.runtime import cooperative
from regiongate.gateway.runtime.providers.base import UpstreamTimer
from regiongate.gateway.runtime.providers.bedrock import BedrockProvider

NOVA = ModelEntry("nova-pro", "bedrock-eu", "eu.amazon.nova-pro-v1:0", "chat", Decimal("1"), Decimal("1"))

EVENTS = [
    {"messageStart": {"role": "assistant"}},
    {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Hel"}}},
    {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "lo"}}},
    {"messageStop": {"stopReason": "end_turn"}},
    {"metadata": {"usage": {"inputTokens": 3, "outputTokens": 2}}},
]


class FakeClient:
    def __init__(self) -> None:
        self.call_threads: list[str] = []
        self.read_threads: list[str] = []

    def converse_stream(self, **request):
        self.call_threads.append(threading.current_thread().name)

        def stream():
            for event in EVENTS:
                self.read_threads.append(threading.current_thread().name)
                yield event

        return {"stream": stream()}


def provider() -> tuple[BedrockProvider, FakeClient]:
    bedrock = BedrockProvider(
        ProviderEntry(name="bedrock-eu", type="bedrock", aws_region="eu-central-1"), None, (1.0, 30.0)
    )
    fake = FakeClient()
    bedrock._client = fake
    return bedrock, fake


def texts(deltas) -> list[str]:
    return [d.text for d in deltas if d.kind == "text"]


def test_a_converse_stream_in_a_request_greenlet_is_called_and_read_off_the_loop():
    bedrock, fake = provider()
    body = {"model": "nova-pro", "messages": [{"role": "user", "content": "Hi"}]}

    def work():
        return list(bedrock.chat_stream(NOVA, body, UpstreamTimer()))

    deltas = asyncio.run(cooperative.run(work))
    assert texts(deltas) == ["Hel", "lo"]
    assert [name.split("_")[0] for name in fake.call_threads] == ["blocking"]
    assert fake.read_threads and all(name.startswith("waiting") for name in fake.read_threads)


def test_outside_a_greenlet_the_same_stream_is_read_on_the_callers_thread():
    bedrock, fake = provider()
    body = {"model": "nova-pro", "messages": [{"role": "user", "content": "Hi"}]}
    deltas = list(bedrock.chat_stream(NOVA, body, UpstreamTimer()))
    assert texts(deltas) == ["Hel", "lo"]
    here = threading.current_thread().name
    assert fake.call_threads == [here] and set(fake.read_threads) == {here}
