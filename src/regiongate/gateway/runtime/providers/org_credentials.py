"""Which credentials serve an org's request on a provider: the org's own ("bring your own key") or the platform's.

The org's credential is read from the region's store and opened with KMS (``store.provider_credentials``) on
first use, then kept in memory for at most ``ttl`` seconds (and at most ``max_entries`` orgs and providers):
after a replace or delete the gateway uses the new state within that time. Where an org has no credential of
its own, the platform's serve it only if the org allows that (``platform_fallback``); otherwise the request is
refused with 403 ``org_credential_missing`` naming the provider. The secret is never logged: errors carry
the exception's type name only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from regiongate.common.read_cache import RefreshAhead
from regiongate.contract.errors import GatewayError, ServiceUnavailable
from regiongate.gateway.runtime import cooperative
from regiongate.gateway.runtime.providers.credentials import Credentials
from regiongate.store.provider_credentials import BEDROCK_ROLE, CredentialRecord, Envelope, external_id

DEFAULT_TTL_SECONDS = 60.0
DEFAULT_MAX_ENTRIES = 1024
ASSUMED_ROLE_SECONDS = 900  # STS's minimum: an org's temporary credentials outlive the cache entry by far


class OrgCredentialMissing(GatewayError):
    status, type = 403, "org_credential_missing"


@dataclass(frozen=True, eq=False)
class OrgSecret:
    """An org's opened credential, as long as it is cached (``expires``: an instant of ``monotonic``)."""

    record: CredentialRecord
    api_key: str | None
    aws_credentials: dict[str, str] | None  # bedrock_role: the assumed role's temporary credentials
    expires: float

    def __repr__(self) -> str:
        return f"OrgSecret({self.record.org_id}/{self.record.provider}, {self.record.kind})"


class FixedCredentials(Credentials):
    """The ``Credentials`` of one org's provider: its own key, nothing else (no environment, no platform secret)."""

    def __init__(self, provider: str, api_key: str) -> None:
        super().__init__(lambda: {}, env={})
        self._provider = provider
        self._api_key = api_key

    def api_key(self, provider: str) -> str:
        if provider != self._provider:
            raise ServiceUnavailable(f"no credentials are configured for provider {provider}")
        return self._api_key


def sts_assume_role(aws_region: str) -> Callable[..., dict[str, Any]]:
    """STS AssumeRole in ``aws_region`` (the region's own regional endpoint), client built on first use."""
    state: dict[str, Any] = {}
    lock = threading.Lock()

    def assume(**kwargs: Any) -> dict[str, Any]:
        with lock:
            if "client" not in state:
                import boto3  # on first use, never at import

                state["client"] = boto3.client(
                    "sts", region_name=aws_region, endpoint_url=f"https://sts.{aws_region}.{_dns_suffix(aws_region)}"
                )
        answer: dict[str, Any] = state["client"].assume_role(**kwargs)
        return answer

    return assume


def _dns_suffix(aws_region: str) -> str:
    return "amazonaws.com.cn" if aws_region.startswith("cn-") else "amazonaws.com"


class OrgCredentialResolver:
    def __init__(
        self,
        store: Any,
        envelope: Envelope | None,
        region_code: str,
        *,
        assume_role: Callable[..., dict[str, Any]] | None = None,
        ttl: float = DEFAULT_TTL_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.envelope = envelope
        self.region_code = region_code
        self.assume_role = assume_role
        self.ttl = ttl
        self.max_entries = max_entries
        self.monotonic = monotonic
        self._cache: dict[tuple[str, str], tuple[float, OrgSecret | None]] = {}
        self._lock = threading.Lock()
        self._refresh = RefreshAhead("org credentials")

    def choose(self, org_id: str, provider: str) -> OrgSecret | None:
        """The org's own opened credential for ``provider``; None where the platform's serve it (allowed)."""
        now = self.monotonic()
        key = (org_id, provider)
        with self._lock:
            self._sweep(now)
            cached = self._cache.get(key)
        if cached is not None and cached[0] > now:  # in its refresh window, one request reads it again
            return self._refresh.value(key, cached[0], now, self.ttl, cached[1], lambda: self._load(key, now))
        return self._load(key, now)

    def _load(self, key: tuple[str, str], now: float) -> OrgSecret | None:
        org_id, provider = key
        stored = self.store.provider_credential(org_id, provider)
        if stored is None:
            if not self.store.platform_fallback(org_id):
                raise OrgCredentialMissing(
                    f"org {org_id} has no credential of its own for provider {provider} and does not allow the "
                    "platform's; an org admin adds one in the console or with `regiongate org-credentials add`"
                )
            choice = None
        else:
            choice = cooperative.blocking(self._open, stored.record, stored.sealed, now + self.ttl)  # KMS or STS
        with self._lock:
            if len(self._cache) >= self.max_entries:
                self._cache.pop(next(iter(self._cache)))  # the oldest entry
            self._cache[key] = (now + self.ttl, choice)
        return choice

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()

    def _sweep(self, now: float) -> None:
        """Opened secrets leave memory once expired, even those of an org that sends nothing more."""
        for key in [k for k, (expires, _) in self._cache.items() if expires <= now]:
            del self._cache[key]

    def _open(self, record: CredentialRecord, sealed: Any, expires: float) -> OrgSecret:
        where = f"org {record.org_id}'s credential for provider {record.provider}"
        if record.kind == BEDROCK_ROLE:
            if self.assume_role is None:
                raise ServiceUnavailable(f"{where} is a role, and this gateway cannot assume roles (no STS client)")
            try:
                answer = self.assume_role(
                    RoleArn=record.role_arn,
                    RoleSessionName=f"regiongate-{self.region_code}-{record.org_id}"[:64],
                    ExternalId=external_id(self.region_code, record.org_id),
                    DurationSeconds=ASSUMED_ROLE_SECONDS,
                )
                creds = answer["Credentials"]
                aws = {
                    "aws_access_key_id": creds["AccessKeyId"],
                    "aws_secret_access_key": creds["SecretAccessKey"],
                    "aws_session_token": creds["SessionToken"],
                }
            except Exception as exc:
                raise ServiceUnavailable(f"{where}: the role could not be assumed ({type(exc).__name__})") from None
            return OrgSecret(record=record, api_key=None, aws_credentials=aws, expires=expires)
        if self.envelope is None or sealed is None:
            raise ServiceUnavailable(f"{where} cannot be opened: this gateway has no KMS key for org credentials")
        try:
            api_key = self.envelope.open(record.org_id, record.provider, sealed).decode("ascii")
        except Exception as exc:
            raise ServiceUnavailable(f"{where} could not be decrypted ({type(exc).__name__})") from None
        return OrgSecret(record=record, api_key=api_key, aws_credentials=None, expires=expires)
