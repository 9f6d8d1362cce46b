"""``/v1/memory`` through the in-process gateway (the Lambda handler's and the server's ``Gateway.handle``), on
PostgreSQL with pgvector and a loopback Bedrock whose embeddings carry meaning."""

from __future__ import annotations

import json

import pytest

from regiongate.gateway.runtime.transport import Request
from tests.fixtures.gateway import body_of, get, make_gateway, new_key, post
from tests.fixtures.memory import MeaningfulBedrock, enable_memory


@pytest.fixture
def meaningful():
    fake = MeaningfulBedrock()
    yield fake
    fake.close()


@pytest.fixture
def gateway(eu_runtime, pg_store, meaningful):
    gateway, sink = make_gateway(eu_runtime, pg_store, bedrock=meaningful)
    return gateway, sink


def delete(gateway, path, key):
    return gateway.handle(Request("DELETE", path, {"authorization": f"Bearer {key}"}, b""))


def test_add_search_list_get_delete_and_erase(gateway, pg_store, meaningful):
    gw, sink = gateway
    enable_memory(pg_store)
    key = new_key(pg_store)
    added = post(
        gw,
        "/v1/memory/users/u-1/facts",
        {"facts": [{"text": "prefers trains to planes"}, {"text": "lives in Paris", "metadata": {"k": "v"}}]},
        key,
    )
    assert added.status == 200, added.body
    facts = body_of(added)["data"]
    assert [f["text"] for f in facts] == ["prefers trains to planes", "lives in Paris"]
    assert facts[1]["metadata"] == {"k": "v"} and facts[1]["scope"] == "user"
    assert meaningful.embedded == ["prefers trains to planes", "lives in Paris"]  # the region's model, via Bedrock
    found = post(gw, "/v1/memory/search", {"query": "where does she live? paris", "user_id": "u-1", "limit": 2}, key)
    assert found.status == 200, found.body
    assert [f["text"] for f in body_of(found)["data"]] == ["lives in Paris", "prefers trains to planes"]
    listed = get(gw, "/v1/memory/users/u-1/facts", key)
    assert sorted(f["text"] for f in body_of(listed)["data"]) == ["lives in Paris", "prefers trains to planes"]
    one = get(gw, f"/v1/memory/facts/{facts[0]['id']}", key)
    assert body_of(one)["text"] == "prefers trains to planes"
    assert body_of(delete(gw, f"/v1/memory/facts/{facts[0]['id']}", key))["deleted"] is True
    assert get(gw, f"/v1/memory/facts/{facts[0]['id']}", key).status == 404
    erased = delete(gw, "/v1/memory/users/u-1", key)
    assert erased.status == 200 and body_of(erased)["deleted"] == 1
    assert body_of(get(gw, "/v1/memory/users/u-1/facts", key))["data"] == []
    # Audit events: the operation and usage, never a fact.
    events = sink.events
    assert [e["endpoint"] for e in events] == [
        "memory.add",
        "memory.search",
        "memory.list",
        "memory.get",
        "memory.delete",
        "memory.get",
        "memory.erase",
        "memory.list",
    ]
    assert events[0]["model"] == "titan-embed-text-v2" and events[0]["input_tokens"] == 7
    assert "Paris" not in json.dumps(events) and "trains" not in json.dumps(events)


def test_an_org_that_did_not_enable_memory_is_told_how(gateway, pg_store, meaningful):
    gw, _ = gateway
    key = new_key(pg_store, org="initech")
    response = post(gw, "/v1/memory/sessions/s-1/facts", {"facts": [{"text": "x"}]}, key)
    assert response.status == 403
    error = body_of(response)["error"]
    assert error["type"] == "memory_not_enabled"
    assert "regiongate memory enable --region eu --org initech" in error["message"]
    assert meaningful.embedded == []  # refused before any embedding


def test_another_regions_key_is_a_region_mismatch(gateway, pg_store):
    gw, _ = gateway
    enable_memory(pg_store)
    us_key = new_key(pg_store, region="us")
    response = post(gw, "/v1/memory/search", {"query": "x"}, us_key)
    assert response.status == 403 and body_of(response)["error"]["type"] == "region_mismatch"


def test_the_org_limit_is_a_clear_409(gateway, pg_store):
    gw, _ = gateway
    enable_memory(pg_store, max_facts=1)
    key = new_key(pg_store)
    assert post(gw, "/v1/memory/sessions/s-1/facts", {"facts": [{"text": "one"}]}, key).status == 200
    response = post(gw, "/v1/memory/sessions/s-1/facts", {"facts": [{"text": "two"}]}, key)
    assert response.status == 409
    assert "stores 1 of at most 1 facts" in body_of(response)["error"]["message"]
    assert "--max-facts" in body_of(response)["error"]["message"]


def test_orgs_are_isolated_even_with_the_same_session_id(gateway, pg_store):
    gw, _ = gateway
    enable_memory(pg_store, "acme")
    enable_memory(pg_store, "globex")
    acme, globex = new_key(pg_store, org="acme"), new_key(pg_store, org="globex")
    added = post(gw, "/v1/memory/sessions/same/facts", {"facts": [{"text": "acme plans"}]}, acme)
    fact_id = body_of(added)["data"][0]["id"]
    assert body_of(post(gw, "/v1/memory/search", {"query": "acme plans", "session_id": "same"}, globex))["data"] == []
    assert get(gw, f"/v1/memory/facts/{fact_id}", globex).status == 404
    assert body_of(delete(gw, "/v1/memory/sessions/same", globex))["deleted"] == 0
    assert len(body_of(get(gw, "/v1/memory/sessions/same/facts", acme))["data"]) == 1


def test_guardrails_apply_to_facts(gateway, pg_store, meaningful):
    gw, _ = gateway
    enable_memory(pg_store)
    key = new_key(pg_store)
    response = post(gw, "/v1/memory/users/u-1/facts", {"facts": [{"text": "card 4111 1111 1111 1111"}]}, key)
    assert response.status == 400 and body_of(response)["error"]["type"] == "guardrail_violation"
    assert meaningful.embedded == []


def test_a_region_without_memory_says_so(catalogue, pg_store):
    from regiongate.config.gateway import runtime_document
    from regiongate.contract.document import RuntimeConfig

    us = RuntimeConfig.from_document(runtime_document(catalogue.region("us")))
    gw, _ = make_gateway(us, pg_store)
    key = new_key(pg_store, region="us")
    response = post(gw, "/v1/memory/search", {"query": "x"}, key)
    assert response.status == 404 and body_of(response)["error"]["type"] == "memory_not_available"
