"""A chat stream is metered even when the upstream never sends the usage it was asked for (include_usage): the
estimate (the prompt's estimated tokens, one output token per content delta relayed) is audited and billed, never
zero tokens at zero cost."""

from __future__ import annotations

from decimal import Decimal

import pytest

from regiongate.gateway.runtime.translate import estimate_tokens
from regiongate.store.memory import MemoryStore
from tests.fixtures.fakes import FakeOpenAI
from tests.fixtures.gateway import make_gateway, new_key, post, sse_events

PROMPT = "Name three rivers of France, please."
REPLY = "Seine Loire and Rhone"


@pytest.mark.parametrize("stream_usage", [True, False])
def test_a_stream_without_its_usage_chunk_is_metered_at_the_estimate(eu_runtime, stream_usage):
    upstream = FakeOpenAI(reply=REPLY, usage=(40, 9))
    upstream.stream_usage = stream_usage
    store = MemoryStore()
    gateway, sink = make_gateway(eu_runtime, store, azure=upstream)
    key = new_key(store, monthly_budget_usd=Decimal("5"))
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": PROMPT}], "stream": True}
    try:
        response = post(gateway, "/v1/chat/completions", body, key)
    finally:
        upstream.close()
    events = sse_events(response.body)
    assert response.status == 200 and events[-1] == "[DONE]"
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in events[:-1] if e.get("choices")) == REPLY
    (event,) = sink.events
    assert event["status"] == 200
    if stream_usage:
        assert (event["input_tokens"], event["output_tokens"]) == (40, 9)
    else:
        assert (event["input_tokens"], event["output_tokens"]) == (
            estimate_tokens([("user", PROMPT)]),
            len(REPLY.split(" ")),
        )
    assert event["input_tokens"] > 0 and Decimal(str(event["cost_usd"])) > 0
