"""Keys (format, region binding, cache and revocation), pricing and guardrail detectors: no I/O."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from regiongate.contract.document import GuardrailPolicy
from regiongate.contract.errors import InvalidApiKey, InvalidRequest, RegionMismatch
from regiongate.gateway.runtime import guardrails
from regiongate.gateway.runtime.pricing import cost_usd
from regiongate.store.keys import (
    KeyAuthenticator,
    KeyService,
    check_region,
    display_prefix,
    extract_key,
    generate_key,
    hash_key,
)
from regiongate.store.memory import MemoryStore
from tests.fixtures.clock import NOW


def test_key_format_has_at_least_128_bits_and_is_url_safe():
    keys = {generate_key("eu") for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert re.fullmatch(r"rk-eu-[A-Za-z0-9_-]{32}", key)  # 24 random bytes = 192 bits
    assert display_prefix("rk-eu-abcdefghijklmnopqrstuvwxyz") == "rk-eu-abcdef"


def test_key_of_another_region_gets_the_products_exact_error():
    with pytest.raises(RegionMismatch, match=r"^API key is for region EU, but request was made to US$") as info:
        check_region(generate_key("eu"), "us")
    assert info.value.status == 403
    assert info.value.body() == {
        "error": {
            "message": "API key is for region EU, but request was made to US",
            "type": "region_mismatch",
            "code": 403,
        }
    }


@pytest.mark.parametrize(
    "key", ["", "sk-abc", "rk-eu-short", "rk-EU-" + "a" * 30, "rk-eu-" + "a" * 30 + "!", "rk-eu-" + "é" * 30]
)
def test_malformed_keys_are_401(key):
    with pytest.raises(InvalidApiKey, match=r"^the API key is malformed"):
        check_region(key, "eu")


pytestmark = pytest.mark.clock


def test_key_from_bearer_or_api_key_header():
    assert extract_key({"authorization": "Bearer rk-eu-x"}) == "rk-eu-x"
    assert extract_key({"api-key": "rk-eu-y"}) == "rk-eu-y"
    for headers in ({}, {"authorization": "Basic abc"}, {"authorization": "Bearer "}):
        with pytest.raises(InvalidApiKey, match="Authorization: Bearer <key>"):
            extract_key(headers)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0
        self.now = NOW

    def monotonic(self) -> float:
        return self.t

    def clock(self) -> datetime:
        return self.now


def test_only_the_hash_is_stored_and_lookups_are_cached():
    store = MemoryStore()
    created = KeyService(store).create(region_code="eu", org_id="acme", team_id="ml")
    record = store.keys[created.record.key_id]
    assert record.key_hash == hash_key(created.key) and created.key not in repr(record)
    clock = Clock()
    auth = KeyAuthenticator(store, "eu", 30, monotonic=clock.monotonic, clock=clock.clock)
    for _ in range(5):
        assert auth.authenticate({"authorization": f"Bearer {created.key}"}).org_id == "acme"
    assert store.key_lookups == 1


def test_revoked_key_stops_working_within_the_ttl():
    store = MemoryStore()
    clock = Clock()
    service = KeyService(store, clock=clock.clock)
    created = service.create(region_code="eu", org_id="acme")
    auth = KeyAuthenticator(store, "eu", 30, monotonic=clock.monotonic, clock=clock.clock)
    headers = {"authorization": f"Bearer {created.key}"}
    auth.authenticate(headers)
    assert service.revoke(created.record.key_id)
    clock.t += 23.9  # still cached: the documented window (before the last fifth, common.read_cache.REFRESH_AHEAD)
    auth.authenticate(headers)
    clock.t += 0.2  # in the last fifth of the TTL: the first request reads the key again and sees the revocation
    with pytest.raises(InvalidApiKey, match="revoked"):
        auth.authenticate(headers)
    clock.t += 6.0  # past the TTL
    with pytest.raises(InvalidApiKey, match="revoked"):
        auth.authenticate(headers)


def test_a_key_in_use_is_read_again_by_one_request_before_it_expires_and_the_others_keep_it():
    """Refresh ahead (common.read_cache): in the last fifth of the TTL one request reads the key again while the
    others keep the cached record, so a key in use never expires with every request waiting for its read; a read
    that fails then leaves the cached record serving until the TTL."""
    store = MemoryStore()
    clock = Clock()
    created = KeyService(store, clock=clock.clock).create(region_code="eu", org_id="acme")
    auth = KeyAuthenticator(store, "eu", 30, monotonic=clock.monotonic, clock=clock.clock)
    headers = {"authorization": f"Bearer {created.key}"}
    reads: list[str] = []
    during_refresh: list[tuple[str, int]] = []  # (key id, reads so far) of a request made while the refresh reads
    find = store.find_key_by_hash

    def counted(digest):
        reads.append("read")
        if len(reads) == 3:
            raise ConnectionError("database unreachable")
        if len(reads) == 2:  # the refreshing request is still reading: another request arrives meanwhile
            during_refresh.append((auth.authenticate(headers).key_id, len(reads)))
        return find(digest)

    store.find_key_by_hash = counted
    auth.authenticate(headers)
    clock.t += 20
    auth.authenticate(headers)
    assert reads == ["read"]  # cached
    clock.t += 5  # in the window
    auth.authenticate(headers)
    assert len(reads) == 2  # one refresh, ahead of expiry (the cached entry now lasts 30 s from here)
    assert during_refresh == [(created.record.key_id, 2)]  # the other request kept the cached record, no read
    clock.t += 25  # in the new entry's window; its read fails
    assert auth.authenticate(headers).key_id == created.record.key_id  # the cached record, still within the TTL
    assert len(reads) == 3


def test_a_key_expires_at_its_instant_across_a_year_boundary():
    store = MemoryStore()
    clock = Clock()
    clock.now = datetime(2030, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
    expiry = datetime(2031, 1, 1, tzinfo=UTC)
    created = KeyService(store, clock=clock.clock).create(region_code="eu", org_id="acme", expires_at=expiry)
    auth = KeyAuthenticator(store, "eu", 0, monotonic=clock.monotonic, clock=clock.clock)
    assert auth.authenticate({"api-key": created.key}).org_id == "acme"
    clock.now = expiry
    with pytest.raises(InvalidApiKey, match="expired"):
        auth.authenticate({"api-key": created.key})


def test_expired_key_and_key_of_unknown_hash_are_401():
    store = MemoryStore()
    clock = Clock()
    created = KeyService(store, clock=clock.clock).create(
        region_code="eu", org_id="acme", expires_at=clock.now + timedelta(days=1)
    )
    auth = KeyAuthenticator(store, "eu", 30, monotonic=clock.monotonic, clock=clock.clock)
    auth.authenticate({"api-key": created.key})
    clock.now += timedelta(days=2)
    with pytest.raises(InvalidApiKey, match="expired"):
        auth.authenticate({"api-key": created.key})
    with pytest.raises(InvalidApiKey, match=r"^the API key is not valid$"):
        auth.authenticate({"api-key": generate_key("eu")})


def test_cost_is_exact_decimal():
    assert cost_usd(1_000_000, 0, Decimal("3.00"), Decimal("15.00")) == Decimal("3.0000000000")
    assert cost_usd(1234, 567, Decimal("3.00"), Decimal("15.00")) == Decimal("0.0122070000")
    assert cost_usd(1, 1, Decimal("0.000001"), Decimal("0")) == Decimal("0.0000000000")
    with pytest.raises(ValueError, match="token counts are never negative"):
        cost_usd(-1, 0, Decimal(1), Decimal(1))


def test_luhn_and_iban_checks():
    assert guardrails.luhn_valid("4111111111111111")
    assert not guardrails.luhn_valid("4111111111111112")
    assert guardrails.find_cards("card 4111 1111 1111 1111 exp 12/29")
    assert guardrails.find_cards("5500-0000-0000-0004")
    assert not guardrails.find_cards("order 4111111111111112 and phone 0049 30 1234567")
    assert guardrails.iban_valid("DE89 3704 0044 0532 0130 00")
    assert guardrails.find_ibans("pay to GB82WEST12345698765432 today")
    assert not guardrails.find_ibans("GB82WEST12345698765433")


# The detectors' patterns in their plain form: guardrails.py rewrites them so that the regex engine can skip
# positions where they cannot start, and they must find exactly what these find.
PLAIN_CARD = re.compile(r"(?<![\d])(?:\d[ -]?){12,18}\d(?![\d])")
PLAIN_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")


def test_detector_patterns_find_exactly_what_their_plain_forms_find():
    import random

    rng = random.Random(12)  # fixed: the same strings on every run
    # digits, separators, capitals, a lower-case letter, word and non-word neighbours, non-ASCII digits and letters
    alphabet = "0123456789 -" + "ABDEGINSZ" + "az_é\u0661\u0663\n/."
    seeds = ["4111 1111 1111 1111", "5500-0000-0000-0004", "GB82WEST12345698765432", "DE89 3704 0044 0532 0130 00"]
    compared = 0
    for _ in range(40_000):
        parts = [rng.choice(seeds) if rng.random() < 0.3 else "" for _ in range(2)]
        noise = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        cut = rng.randint(0, len(noise))
        text = noise[:cut] + parts[0] + noise[cut:] + parts[1]
        for ours, plain in ((guardrails._CARD_RE, PLAIN_CARD), (guardrails._IBAN_RE, PLAIN_IBAN)):
            expected = [m.span() for m in plain.finditer(text)]
            assert [m.span() for m in ours.finditer(text)] == expected, (plain.pattern, text)
            compared += bool(expected)
    assert compared > 5_000  # the strings did contain matches, not only text without any


POLICY = GuardrailPolicy(
    1_000_000,
    1000,
    None,
    (
        {"name": "payment-card", "type": "payment_card", "action": "block"},
        {"name": "iban", "type": "iban", "action": "flag"},
        {"name": "project", "type": "regex", "pattern": r"PROJECT-\d{4}", "action": "flag"},
    ),
)


def test_violations_name_the_place_never_the_content():
    texts = [
        ("messages[0].content", "hello"),
        ("messages[1].content", "IBAN DE89370400440532013000, card 4111111111111111"),
        ("messages[2].tool_calls[0].function.arguments", '{"code": "PROJECT-1234"}'),
    ]
    found = guardrails.scan(texts, POLICY)
    assert [(v.detector, v.action) for v in found] == [("payment-card", "block"), ("iban", "flag"), ("project", "flag")]
    assert found[0].message == "a payment card number was found in messages[1].content"
    for v in found:
        assert "4111" not in v.message and "DE89" not in v.message and "1234" not in v.message


def test_token_estimate():
    assert guardrails.estimate_tokens([("a", "x" * 400), ("b", "y" * 3)]) == 101


def test_update_changes_settings_of_an_active_key_of_its_own_region_and_org_only():
    service = KeyService(MemoryStore())
    created = service.create(region_code="eu", org_id="acme")
    key_id = created.record.key_id
    settings = dict(monthly_budget_usd=Decimal("12.50"), model_allowlist=("gpt-4o",), expires_at=None)
    assert service.update(key_id, region_code="us", **settings) is False  # another region's key id
    assert service.update(key_id, region_code="eu", org_id="globex", **settings) is False  # another org
    assert service.update(key_id, region_code="eu", org_id="acme", **settings) is True
    (record,) = service.list(region_code="eu")
    assert (record.monthly_budget_usd, record.model_allowlist) == (Decimal("12.50"), ("gpt-4o",))
    with pytest.raises(
        InvalidRequest,
        match=r"^a key budget must be a non-negative amount below 100,000,000 USD with at most 6 decimals$",
    ):
        service.update(
            key_id, region_code="eu", monthly_budget_usd=Decimal("-1"), model_allowlist=None, expires_at=None
        )
    service.revoke(key_id)
    assert service.update(key_id, region_code="eu", **settings) is False  # a revoked key is never changed
