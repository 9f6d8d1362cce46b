"""An answer withheld because its audit event could not be handed on (503 ``audit_unavailable``): the metric
counts the 503 the client got, and the budget reservation is released, not settled (no event will roll it up).
A stream's event lost after the stream was sent is the other case: answered, so settled and counted as sent.
The service in process against a loopback fake upstream; the in-memory store and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest

from regiongate.contract import metrics as names
from regiongate.gateway.runtime.metrics import MetricsEmitter
from regiongate.store.memory import MemoryStore
from tests.fixtures.clock import NOW
from tests.fixtures.gateway import body_of, make_gateway, new_key, post

CHAT = "/v1/chat/completions"
BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 50}


class UnreachableQueue:
    """An audit sink whose queue never takes the event (the Lambda's SQS sink raises after its attempts)."""

    def __init__(self) -> None:
        self.attempts = 0

    def emit(self, event: dict) -> None:
        self.attempts += 1
        raise ConnectionError("the audit queue is unreachable")


@pytest.fixture(params=["memory", "postgres"])
def limits_store(request):
    if request.param == "memory":
        return MemoryStore()
    return request.getfixturevalue("pg_store")


def _gateway(eu_runtime, store, azure, sink, *, whole_responses: bool):
    documents: list[dict] = []
    gateway, _ = make_gateway(
        eu_runtime,
        store,
        azure=azure,
        sink=sink,
        key_cache_ttl=0,
        whole_responses=whole_responses,
        metrics=MetricsEmitter(eu_runtime.code, write=documents.append),
    )
    return gateway, documents


def _held(store, org: str = "acme") -> Decimal:
    return store.held_spend("org", org, NOW.date(), NOW)


def test_a_withheld_answer_is_a_503_in_the_metric_and_releases_its_reservation(eu_runtime, limits_store, azure):
    sink = UnreachableQueue()
    gateway, documents = _gateway(eu_runtime, limits_store, azure, sink, whole_responses=True)
    key = new_key(limits_store, monthly_budget_usd=Decimal("10"))

    response = post(gateway, CHAT, BODY, key)

    assert response.status == 503 and body_of(response)["error"]["type"] == "audit_unavailable"
    assert len(azure.requests) == 1 and sink.attempts == 1  # the upstream answered; the answer was withheld
    (document,) = documents
    assert document[names.ERRORS_5XX] == 1 and document[names.REQUESTS] == 1
    assert document[names.DIMENSION_ERROR_TYPE] == "audit_unavailable" and document[names.ERRORS] == 1
    assert document[names.OUTPUT_TOKENS] > 0  # the provider's usage: what the deployment paid for
    # Released, not settled: nothing is held against the org's budget, and no event will ever roll it up.
    assert _held(limits_store) == 0
    assert limits_store.release_spend(response.headers["x-request-id"]) is False  # the hold is gone


def test_an_answered_request_settles_its_reservation_and_counts_a_200(eu_runtime, limits_store, azure):
    events: list[dict] = []

    class Queue:
        def emit(self, event: dict) -> None:
            events.append(event)

    gateway, documents = _gateway(eu_runtime, limits_store, azure, Queue(), whole_responses=True)
    key = new_key(limits_store, monthly_budget_usd=Decimal("10"))

    response = post(gateway, CHAT, BODY, key)

    assert response.status == 200
    (document,) = documents
    assert document[names.ERRORS_5XX] == 0 and names.DIMENSION_ERROR_TYPE not in document
    (event,) = events
    # Settled to the actual cost until the writer rolls the event up (then the hold is removed).
    assert _held(limits_store) == Decimal(event["cost_usd"]) > 0
    assert limits_store.write_audit_events(events) == 1
    assert _held(limits_store) == 0
    assert limits_store.month_spend("org", "acme", NOW.date()) == Decimal(event["cost_usd"])


def test_a_stream_already_sent_when_its_event_is_lost_is_settled_and_counted_as_sent(eu_runtime, limits_store, azure):
    sink = UnreachableQueue()
    gateway, documents = _gateway(eu_runtime, limits_store, azure, sink, whole_responses=False)
    key = new_key(limits_store, monthly_budget_usd=Decimal("10"))

    response = post(gateway, CHAT, {**BODY, "stream": True}, key)

    assert response.status == 200 and b"data: [DONE]" in response.body  # the client had the answer
    assert sink.attempts == 1
    (document,) = documents
    assert document[names.ERRORS_5XX] == 0
    assert _held(limits_store) > 0  # settled to its cost: it was answered (the hold expires without an event)


def test_a_request_refused_before_the_upstream_holds_nothing_and_releases_nothing(eu_runtime, limits_store, azure):
    sink = UnreachableQueue()
    gateway, documents = _gateway(eu_runtime, limits_store, azure, sink, whole_responses=True)
    key = new_key(limits_store, monthly_budget_usd=Decimal("10"))

    response = post(gateway, CHAT, {**BODY, "model": "no-such-model"}, key)

    # A 404 whose event was lost is withheld too: the client gets the 503 and the metric says so.
    assert response.status == 503 and azure.requests == []
    (document,) = documents
    assert document[names.DIMENSION_ERROR_TYPE] == "audit_unavailable"
    assert _held(limits_store) == 0


def test_a_request_refused_because_the_audit_buffer_is_full_is_a_503_in_the_metric(eu_runtime, azure):
    class FullBuffer:
        """A buffering sink with no room left (the queue or database has been unreachable for a while)."""

        def admit(self) -> bool:
            return False

        def release(self) -> None:
            raise AssertionError("nothing was admitted, so nothing is given back")

        def emit(self, event: dict) -> None:
            raise AssertionError("a refused request has no event")

    store = MemoryStore()
    gateway, documents = _gateway(eu_runtime, store, azure, FullBuffer(), whole_responses=False)
    response = post(gateway, CHAT, BODY, new_key(store))
    assert response.status == 503 and body_of(response)["error"]["type"] == "audit_unavailable"
    assert azure.requests == []  # refused before any work
    (document,) = documents
    assert document[names.ERRORS_5XX] == 1 and document[names.REQUESTS] == 1
    assert document[names.DIMENSION_ERROR_TYPE] == "audit_unavailable"
