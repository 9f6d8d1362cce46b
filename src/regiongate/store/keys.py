"""Region-bound API keys: format, hashing, creation/listing/revocation and cached authentication.

A key is ``rk-<region code>-<secret>`` with a 192-bit URL-safe secret. Only its SHA-256 is stored, with a
short display prefix. Reusable without Lambda (the console and the CLI use it with any KeyStore).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from regiongate.common.clock import Clock, utc_now
from regiongate.common.read_cache import RefreshAhead
from regiongate.contract.errors import InvalidApiKey, InvalidRequest, RegionMismatch
from regiongate.contract.limits import BUDGET_RULE, budget_problem
from regiongate.store import KeyRecord, KeyStore, LimitStore, RateLimits

SECRET_BYTES = 24  # 192 bits
_KEY_RE = re.compile(r"^rk-([a-z]{2,8})-([A-Za-z0-9_-]{22,128})$")
_ANY_PREFIX_RE = re.compile(r"^rk-([a-z]{2,8})-")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
DISPLAY_CHARS = 6


def generate_key(region_code: str) -> str:
    return f"rk-{region_code}-{secrets.token_urlsafe(SECRET_BYTES)}"


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def display_prefix(key: str) -> str:
    match = _KEY_RE.match(key)
    if not match:
        raise ValueError("not a regiongate key")
    return f"rk-{match.group(1)}-{match.group(2)[:DISPLAY_CHARS]}"


def check_region(key: str, region_code: str) -> None:
    """Refuse a key of another region before any lookup (403), a malformed one with 401."""
    match = _ANY_PREFIX_RE.match(key)
    if match and match.group(1) != region_code:
        raise RegionMismatch(match.group(1), region_code)
    if not _KEY_RE.match(key):
        raise InvalidApiKey("the API key is malformed; keys look like rk-<region>-<secret>")


def extract_key(headers: dict[str, str]) -> str:
    """The key from ``Authorization: Bearer …`` or Azure's ``api-key:`` header."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise InvalidApiKey("use Authorization: Bearer <key>")
        return value.strip()
    api_key = headers.get("api-key")
    if api_key:
        return api_key.strip()
    raise InvalidApiKey("no API key: send Authorization: Bearer <key> (or api-key: <key>)")


def _check_id(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise InvalidRequest(f"{what} must be 1 to 63 lower-case letters, digits, '.', '_' or '-'")
    return value


@dataclass(frozen=True)
class CreatedKey:
    key: str  # shown once
    record: KeyRecord


class KeyAndLimitStore(KeyStore, LimitStore, Protocol):
    pass


MAX_RATE_LIMIT = 2**31 - 1


def check_limits(limits: RateLimits) -> None:
    for name, value in (
        ("requests per minute", limits.requests_per_minute),
        ("tokens per minute", limits.tokens_per_minute),
        ("concurrent requests", limits.concurrent_requests),
    ):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RATE_LIMIT
        ):
            raise InvalidRequest(f"{name} must be a whole number from 1 to {MAX_RATE_LIMIT} (or no limit)")


class KeyService:
    """Create, list and revoke keys, and set their and their org's rate limits (the CLI and the console share it)."""

    def __init__(self, store: KeyAndLimitStore, clock: Clock = utc_now) -> None:
        self.store = store
        self.clock = clock

    def create(
        self,
        *,
        region_code: str,
        org_id: str,
        team_id: str | None = None,
        user_id: str | None = None,
        monthly_budget_usd: Decimal | None = None,
        model_allowlist: tuple[str, ...] | None = None,
        expires_at: datetime | None = None,
        limits: RateLimits | None = None,
    ) -> CreatedKey:
        if not re.match(r"^[a-z]{2,8}$", region_code or ""):
            raise InvalidRequest("region code must be 2 to 8 lower-case letters")
        _check_id(org_id, "org")
        if not org_id:
            raise InvalidRequest("org is required")
        _check_id(team_id, "team")
        _check_id(user_id, "user")
        _check_budget(monthly_budget_usd)
        if limits is not None:
            check_limits(limits)
        key = generate_key(region_code)
        record = KeyRecord(
            key_id="key_" + secrets.token_hex(8),
            key_hash=hash_key(key),
            display_prefix=display_prefix(key),
            region=region_code,
            org_id=org_id,
            team_id=team_id,
            user_id=user_id,
            monthly_budget_usd=monthly_budget_usd,
            model_allowlist=tuple(model_allowlist) if model_allowlist else None,
            expires_at=expires_at,
            created_at=self.clock(),
            revoked_at=None,
        )
        self.store.ensure_org(org_id)
        self.store.insert_key(record)
        if limits is not None and limits.any():
            self.store.set_rate_limits("key", record.key_id, limits)
        return CreatedKey(key=key, record=record)

    def list(self, *, region_code: str | None = None, org_id: str | None = None) -> list[KeyRecord]:
        return self.store.list_keys(region=region_code, org_id=org_id)

    def limits(self, key_id: str) -> RateLimits:
        return self.store.rate_limits("key", key_id)

    def set_limits(self, key_id: str, *, region_code: str, org_id: str | None = None, limits: RateLimits) -> bool:
        """Set the rate limits of an unrevoked key of ``region_code`` (and of ``org_id`` unless None); False when
        there is no such key. Every gateway instance applies them from its next request on."""
        check_limits(limits)
        active = [
            k
            for k in self.store.list_keys(region=region_code, org_id=org_id)
            if k.key_id == key_id and k.revoked_at is None
        ]
        if not active:
            return False
        self.store.set_rate_limits("key", key_id, limits)
        return True

    def set_org_limits(self, org_id: str, limits: RateLimits) -> None:
        _check_id(org_id, "org")
        check_limits(limits)
        self.store.ensure_org(org_id)
        self.store.set_rate_limits("org", org_id, limits)

    def set_team_budget(self, org_id: str, team_id: str, monthly_budget_usd: Decimal | None) -> None:
        """Set (None: clear) the monthly budget shared by every key of team ``team_id`` of ``org_id``; the
        gateway applies it within its key cache TTL."""
        _check_id(org_id, "org")
        _check_id(team_id, "team")
        if not org_id or not team_id:
            raise InvalidRequest("a team budget needs an org and a team")
        _check_budget(monthly_budget_usd, "a team budget")
        self.store.set_team_budget(org_id, team_id, monthly_budget_usd)

    def set_org_budget(self, org_id: str, monthly_budget_usd: Decimal | None) -> None:
        """Set (None: clear) the monthly budget of ``org_id``, shared by all its keys."""
        _check_id(org_id, "org")
        if not org_id:
            raise InvalidRequest("org is required")
        _check_budget(monthly_budget_usd, "an org budget")
        self.store.set_org_budget(org_id, monthly_budget_usd)

    def revoke(self, key_id: str) -> bool:
        return self.store.revoke_key(key_id, self.clock())

    def update(
        self,
        key_id: str,
        *,
        region_code: str,
        org_id: str | None = None,
        monthly_budget_usd: Decimal | None,
        model_allowlist: tuple[str, ...] | None,
        expires_at: datetime | None,
    ) -> bool:
        """Change budget, model allowlist and expiry of an unrevoked key (of ``org_id``, unless None).

        False when no such key is active; the gateway sees the change once its key cache expires."""
        _check_budget(monthly_budget_usd)
        return self.store.update_key_settings(
            key_id,
            region=region_code,
            org_id=org_id,
            monthly_budget_usd=monthly_budget_usd,
            model_allowlist=tuple(model_allowlist) if model_allowlist else None,
            expires_at=expires_at,
        )


def _check_budget(monthly_budget_usd: Decimal | None, what: str = "a key budget") -> None:
    """Refuses what a budget column cannot hold (contract.limits.budget_problem: one bound for every caller)."""
    if monthly_budget_usd is not None and budget_problem(monthly_budget_usd) is not None:
        raise InvalidRequest(f"{what} must be {BUDGET_RULE}")


class KeyAuthenticator:
    """Resolves a presented key to its record, caching lookups (positive and negative) for ``ttl`` seconds.

    A revoked key therefore stops working within ``ttl``. Expiry and revocation are checked on every
    request against the cached record's timestamps. Known and unknown keys are cached apart, each bounded
    and evicting its oldest entries: a flood of random keys only ever displaces other unknown keys, never the
    keys in use (which would send every request of every client to the database).
    """

    MAX_ENTRIES = 10_000  # known keys
    MAX_UNKNOWN = 10_000  # unknown keys (SHA-256 digests only)
    UNKNOWN_TTL = 5.0  # seconds: a key created a moment ago is found soon

    def __init__(
        self,
        store: KeyStore,
        region_code: str,
        ttl_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Clock = utc_now,
    ) -> None:
        self.store = store
        self.region_code = region_code
        self.ttl = ttl_seconds
        self.monotonic = monotonic
        self.clock = clock
        self._cache: OrderedDict[bytes, tuple[float, KeyRecord]] = OrderedDict()
        self._unknown: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()
        self._refresh = RefreshAhead("keys")  # a known key in use is read again before it expires

    def _cached(self, digest: bytes, now: float) -> tuple[bool, KeyRecord | None]:
        """(hit, record): a hit with None is a cached unknown key."""
        with self._lock:
            known = self._cache.get(digest)
            unknown = self._unknown.get(digest)
        if known is not None and known[0] > now:
            # in its refresh window, one request reads it again (common.read_cache); the others keep this record
            record: KeyRecord | None = known[1]
            return True, self._refresh.value(digest, known[0], now, self.ttl, record, lambda: self._read(digest, now))
        if unknown is not None and unknown > now:
            return True, None
        return False, None

    def _read(self, digest: bytes, now: float) -> KeyRecord | None:
        """The store's record of ``digest`` (None: no such key), kept in the cache."""
        record = self.store.find_key_by_hash(digest)
        self._remember(digest, now, record)
        return record

    def _remember(self, digest: bytes, now: float, record: KeyRecord | None) -> None:
        with self._lock:
            if record is not None:
                self._unknown.pop(digest, None)
                self._cache[digest] = (now + self.ttl, record)
                self._cache.move_to_end(digest)
                while len(self._cache) > self.MAX_ENTRIES:
                    self._cache.popitem(last=False)
            else:
                self._cache.pop(digest, None)
                self._unknown[digest] = now + min(self.ttl, self.UNKNOWN_TTL)
                self._unknown.move_to_end(digest)
                while len(self._unknown) > self.MAX_UNKNOWN:
                    self._unknown.popitem(last=False)

    def cache_sizes(self) -> tuple[int, int]:
        """(known, unknown) entries held now."""
        with self._lock:
            return len(self._cache), len(self._unknown)

    def authenticate(self, headers: dict[str, str]) -> KeyRecord:
        key = extract_key(headers)
        check_region(key, self.region_code)
        digest = hash_key(key)
        now = self.monotonic()
        hit, record = self._cached(digest, now)
        if not hit:
            record = self._read(digest, now)
        if record is None or record.region != self.region_code:
            raise InvalidApiKey("the API key is not valid")
        current = self.clock()
        if record.revoked_at is not None and record.revoked_at <= current:
            raise InvalidApiKey("the API key has been revoked")
        if record.expires_at is not None and record.expires_at <= current:
            raise InvalidApiKey("the API key has expired")
        return record

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()
            self._unknown.clear()


__all__ = [
    "CreatedKey",
    "KeyAuthenticator",
    "KeyService",
    "check_region",
    "display_prefix",
    "extract_key",
    "generate_key",
    "hash_key",
]
