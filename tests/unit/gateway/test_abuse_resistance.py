"""Unknown keys cannot flush the key cache; failed authentications are counted and throttled per source."""

from __future__ import annotations

import secrets

import pytest

from regiongate.contract.errors import InvalidApiKey
from regiongate.gateway.runtime.auth_failures import (
    AuthenticationThrottled,
    AuthFailures,
    key_prefix,
    source_address,
)
from regiongate.store.keys import KeyAuthenticator, KeyService
from regiongate.store.memory import MemoryStore
from tests.fixtures.clock import pinned


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0

    def find_key_by_hash(self, key_hash):
        self.lookups += 1
        return super().find_key_by_hash(key_hash)


def _bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def test_a_flood_of_unknown_keys_never_evicts_a_known_key():
    store = CountingStore()
    created = KeyService(store, clock=pinned()).create(region_code="eu", org_id="acme")
    now = [0.0]
    auth = KeyAuthenticator(store, "eu", 30.0, monotonic=lambda: now[0], clock=pinned())
    auth.MAX_UNKNOWN = 100  # small bound, same behaviour
    assert auth.authenticate(_bearer(created.key)).key_id == created.record.key_id
    for _ in range(1_000):
        with pytest.raises(InvalidApiKey, match="not valid"):
            auth.authenticate(_bearer(f"rk-eu-{secrets.token_urlsafe(24)}"))
    known, unknown = auth.cache_sizes()
    assert (known, unknown) == (1, 100)  # bounded, and the known key is still cached
    before = store.lookups
    assert auth.authenticate(_bearer(created.key)).key_id == created.record.key_id
    assert store.lookups == before  # answered from the cache: the flood did not send it to the database


def test_an_unknown_key_is_cached_briefly_and_found_once_created():
    store = CountingStore()
    now = [0.0]
    auth = KeyAuthenticator(store, "eu", 30.0, monotonic=lambda: now[0], clock=pinned())
    stranger = f"rk-eu-{secrets.token_urlsafe(24)}"
    for _ in range(3):
        with pytest.raises(InvalidApiKey, match="not valid"):
            auth.authenticate(_bearer(stranger))
    assert store.lookups == 1
    now[0] = auth.UNKNOWN_TTL + 0.1
    with pytest.raises(InvalidApiKey, match="not valid"):
        auth.authenticate(_bearer(stranger))
    assert store.lookups == 2


def test_the_known_cache_evicts_its_oldest_entry_not_everything():
    store = MemoryStore()
    service = KeyService(store, clock=pinned())
    auth = KeyAuthenticator(store, "eu", 30.0, monotonic=lambda: 0.0, clock=pinned())
    auth.MAX_ENTRIES = 3
    keys = [service.create(region_code="eu", org_id="acme").key for _ in range(5)]
    for key in keys:
        auth.authenticate(_bearer(key))
    assert auth.cache_sizes() == (3, 0)


def test_failures_are_counted_per_source_and_key_prefix_and_summarised_per_window():
    now = [0.0]
    failures = AuthFailures(limit=1_000, window=60.0, monotonic=lambda: now[0])
    for i in range(30):
        failures.record("198.51.100.7", "rk-eu-AbCdEf")
        failures.record(f"203.0.113.{i % 3}", "malformed")
    total, sources, prefixes = failures.counts()
    assert total == 60
    assert sources["198.51.100.7"] == 30 and sources["203.0.113.0"] == 10
    assert prefixes == {"rk-eu-AbCdEf": 30, "malformed": 30}
    now[0] = 61.0
    assert failures.counts()[0] == 0
    [summary] = failures.reported
    print(f"auth failures summarised: {summary['failures']} in one line, {summary['sources']} sources")
    assert summary["failures"] == 60 and summary["by_key_prefix"]["malformed"] == 30


def test_a_source_at_its_limit_is_throttled_until_the_window_ends_and_others_are_not():
    now = [0.0]
    failures = AuthFailures(limit=5, window=60.0, monotonic=lambda: now[0])
    for _ in range(5):
        failures.check("198.51.100.7")
        failures.record("198.51.100.7", "none")
    now[0] = 20.0
    with pytest.raises(AuthenticationThrottled, match="too many failed authentications") as info:
        failures.check("198.51.100.7")
    assert info.value.status == 429 and info.value.retry_after == pytest.approx(40.0)
    failures.check("198.51.100.8")  # another source is not affected
    failures.check(None)  # an unknown source is counted but never throttled (it could be everyone)
    now[0] = 60.0
    failures.check("198.51.100.7")  # a new window


def test_the_source_is_the_address_the_load_balancer_appended():
    assert source_address({"x-forwarded-for": "10.9.9.9, 198.51.100.7"}) == "198.51.100.7"
    assert source_address({"x-forwarded-for": "2001:db8::1"}) == "2001:db8::1"
    assert source_address({"x-forwarded-for": "not-an-address"}) is None
    assert source_address({}) is None


def test_the_key_prefix_never_carries_the_secret():
    key = f"rk-eu-{secrets.token_urlsafe(24)}"
    assert key_prefix(_bearer(key)) == key[:12]
    assert key_prefix({"api-key": "sk-something-else"}) == "malformed"
    assert key_prefix({}) == "none"


def test_the_gateway_audits_no_failed_authentication_and_throttles_the_flooding_source(eu_runtime):
    from regiongate.gateway.runtime.transport import Request
    from tests.fixtures.gateway import make_gateway

    store = MemoryStore()
    created = KeyService(store, clock=pinned()).create(region_code="eu", org_id="acme")
    gateway, sink = make_gateway(eu_runtime, store)
    limit = gateway.auth_failures.limit
    flood = {"x-forwarded-for": "198.51.100.7"}
    statuses = []
    for _ in range(limit + 3):
        headers = {**flood, **_bearer(f"rk-eu-{secrets.token_urlsafe(24)}")}
        statuses.append(gateway.handle(Request("GET", "/v1/models", headers)).status)
    throttled = gateway.handle(Request("GET", "/v1/models", {**flood, **_bearer(created.key)}))
    other = gateway.handle(Request("GET", "/v1/models", {"x-forwarded-for": "198.51.100.8", **_bearer(created.key)}))
    print(
        f"flood of {len(statuses)} bad keys: {statuses.count(401)} x 401, {statuses.count(429)} x 429, audit events {len(sink.events)}"
    )
    assert statuses == [401] * limit + [429] * 3
    assert throttled.status == 429 and int(throttled.headers["retry-after"]) >= 1
    assert other.status == 200
    assert len(sink.events) == 1  # only the authenticated request: failures are counted, not audited
    total, sources, _ = gateway.auth_failures.counts()
    assert total == limit + 4 and sources["198.51.100.7"] == limit + 4
