"""Organisations' own provider credentials ("bring your own key"): records, residency checks, envelope encryption.

An org admin gives the gateway an API key (Azure OpenAI, OpenAI-compatible) or a role to assume (Bedrock) of
the org's own. The key is stored in the region's database sealed in an envelope: KMS ``GenerateDataKey`` with
the stack's key and the encryption context ``{"org", "region", "provider"}`` gives a data key of its own for
this one secret; the secret is encrypted locally with AES-256-GCM (``cryptography``'s AESGCM: ``aead_seal``,
the context as associated data), and only the KMS-encrypted data key, the nonce and the ciphertext are stored. Opening it
needs KMS ``Decrypt`` with the same context, so a row copied to another org, provider or region does not open.

No read API returns the secret: ``CredentialRecord`` (what lists, pages and the CLI show) has no field for it,
and the sealed values are read only by the gateway (``ProviderCredentialStore.provider_credential``).
Residency: an endpoint must be an https host on the region's allowlist, a role must be in the stack's partition
(``check_credential``); anything else is refused when it is added.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from regiongate.common.clock import Clock, utc_now
from regiongate.contract.document import RuntimeConfig
from regiongate.contract.hosts import host_allowed

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

API_KEY = "api_key"
BEDROCK_ROLE = "bedrock_role"
KINDS = (API_KEY, BEDROCK_ROLE)
KIND_OF_PROVIDER_TYPE = {"azure_openai": API_KEY, "openai_compatible": API_KEY, "bedrock": BEDROCK_ROLE}
SOURCES = ("platform", "org")  # the audit's credential_source
MAX_SECRET_BYTES = 4096
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_ROLE_ARN_RE = re.compile(
    r"^arn:(?P<partition>aws(?:-[a-z]+)*):iam::(?P<account>\d{12}):role/(?P<path>(?:[\w+=,.@-]+/)*)[\w+=,.@-]{1,64}$"
)
# The gateway may assume only roles under this IAM path (its policy says so: shared_constructs.region_key), so an
# org cannot point it at any other role a trust policy might let it assume.
ROLE_PATH = "regiongate/"


class CredentialRefused(ValueError):
    """An org credential that may not be added (residency, shape, or an unknown provider): the message says why."""


class CredentialNotFound(LookupError):
    pass


@dataclass(frozen=True)
class CredentialRecord:
    """What anyone may see of an org's credential: never the secret (there is no field for it)."""

    org_id: str
    provider: str
    kind: str
    endpoint: str | None  # api_key: the https base URL the key is used at (None: the provider's configured one)
    role_arn: str | None  # bedrock_role
    created_at: datetime
    replaced_at: datetime | None
    set_by: str

    @property
    def set_at(self) -> datetime:
        return self.replaced_at or self.created_at


@dataclass(frozen=True)
class SealedSecret:
    """The envelope: the data key as KMS encrypted it, and the secret as AES-256-GCM sealed it with that key."""

    encrypted_data_key: bytes
    nonce: bytes
    ciphertext: bytes  # ciphertext || tag

    def __repr__(self) -> str:  # never printed in full anywhere (logs, tracebacks)
        return f"SealedSecret(<{len(self.ciphertext)} bytes sealed>)"


@dataclass(frozen=True)
class StoredCredential:
    record: CredentialRecord
    sealed: SealedSecret | None  # None for a bedrock_role (an ARN is not a secret)


class ProviderCredentialStore(Protocol):
    """Where org credentials live (PostgreSQL: ``store.postgres_credentials``; in memory: ``MemoryCredentials``)."""

    def put_provider_credential(self, stored: StoredCredential) -> None:
        """Insert, or replace the row of the same org and provider (keeping its created_at)."""

    def provider_credential(self, org_id: str, provider: str) -> StoredCredential | None:
        """The row with its sealed secret: for the gateway only."""

    def list_provider_credentials(self, org_id: str | None = None) -> list[CredentialRecord]: ...
    def delete_provider_credential(self, org_id: str, provider: str) -> bool: ...
    def set_platform_fallback(self, org_id: str, allowed: bool) -> None: ...
    def platform_fallback(self, org_id: str) -> bool:
        """Whether the platform's credentials may serve the org where it has none of its own (default True)."""


# --- residency ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedCredential:
    kind: str
    endpoint: str | None
    role_arn: str | None


def encryption_context(org_id: str, region_code: str, provider: str) -> dict[str, str]:
    return {"org": org_id, "region": region_code, "provider": provider}


def external_id(region_code: str, org_id: str) -> str:
    """The ExternalId the gateway passes when it assumes an org's role: the org's trust policy requires it, so
    another org that names this org's role cannot make the gateway assume it."""
    return f"regiongate:{region_code}:{org_id}"


def check_credential(
    runtime: RuntimeConfig,
    provider: str,
    *,
    endpoint: str | None = None,
    role_arn: str | None = None,
    kind: str | None = None,
) -> CheckedCredential:
    """What an org may add for ``provider`` in this region, normalised; ``CredentialRefused`` naming what is allowed."""
    entry = runtime.providers.get(provider)
    if entry is None:
        raise CredentialRefused(
            f"region {runtime.code} has no provider {provider!r}; its providers: {', '.join(runtime.providers)}"
        )
    expected = KIND_OF_PROVIDER_TYPE.get(entry.type)
    if expected is None:
        raise CredentialRefused(f"provider {provider} ({entry.type}) takes no org credentials")
    if kind is not None and kind != expected:
        raise CredentialRefused(f"provider {provider} is {entry.type}: its org credential is a {expected}, not {kind}")
    if expected == BEDROCK_ROLE:
        if endpoint:
            raise CredentialRefused(
                f"a Bedrock credential has no endpoint: the gateway calls Bedrock in {entry.aws_region} itself"
            )
        arn = (role_arn or "").strip()
        match = _ROLE_ARN_RE.match(arn)
        if match is None:
            raise CredentialRefused(
                f"{arn[:200]!r} is not an IAM role ARN; expected arn:{runtime.partition}:iam::<account>:role/<name>"
            )
        if match["partition"] != runtime.partition:
            raise CredentialRefused(
                f"the role is in partition {match['partition']}, but region {runtime.code} is in {runtime.partition}: "
                f"expected arn:{runtime.partition}:iam::<account>:role/<name> (the gateway assumes it with STS in "
                f"{runtime.aws_region} and calls Bedrock in {entry.aws_region})"
            )
        if not match["path"].startswith(ROLE_PATH):
            raise CredentialRefused(
                f"the role must be under the IAM path /{ROLE_PATH} (arn:{runtime.partition}:iam::<account>:role/"
                f"{ROLE_PATH}<name>): the gateway may assume no other role"
            )
        return CheckedCredential(kind=BEDROCK_ROLE, endpoint=None, role_arn=arn)
    if role_arn:
        raise CredentialRefused(f"provider {provider} ({entry.type}) takes an API key, not a role")
    if not endpoint:
        return CheckedCredential(kind=API_KEY, endpoint=None, role_arn=None)
    return CheckedCredential(
        kind=API_KEY, endpoint=_check_endpoint(runtime, entry.type, endpoint.strip()), role_arn=None
    )


def _check_endpoint(runtime: RuntimeConfig, provider_type: str, endpoint: str) -> str:
    allowed = ", ".join(runtime.allowed_hosts) or "none"
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        raise CredentialRefused(f"{endpoint[:200]!r} is not a URL") from None
    if (
        parts.scheme != "https"
        or not parts.hostname
        or parts.username
        or parts.password
        or parts.query
        or parts.fragment
    ):
        raise CredentialRefused(
            f"{endpoint[:200]!r} must be an https:// URL with a host and no credentials, query or fragment"
        )
    if port not in (None, 443):
        raise CredentialRefused(f"{endpoint[:200]!r}: only the https port 443 is allowed")
    host = parts.hostname.lower()
    if not host_allowed(host, runtime.allowed_hosts):
        raise CredentialRefused(
            f"host {host} is not on region {runtime.code}'s allowlist of upstream hosts ({allowed}); "
            f"an org endpoint must process prompts inside {runtime.display_name}"
        )
    if provider_type == "azure_openai" and parts.path not in ("", "/"):
        raise CredentialRefused(f"{endpoint[:200]!r} is not an Azure OpenAI resource endpoint (https://<resource>/)")
    return endpoint.rstrip("/")


def check_secret(secret: str) -> bytes:
    """The API key as bytes: one line of printable ASCII (a trailing newline from stdin is removed)."""
    value = secret.rstrip("\r\n")
    if not value:
        raise CredentialRefused("the API key is empty")
    if len(value.encode("utf-8")) > MAX_SECRET_BYTES:
        raise CredentialRefused(f"the API key is longer than {MAX_SECRET_BYTES} bytes")
    if not all(33 <= ord(c) < 127 for c in value):
        raise CredentialRefused("the API key must be printable ASCII without spaces or line breaks")
    return value.encode("ascii")


def check_org(org_id: str) -> str:
    if not _ID_RE.match(org_id or ""):
        raise CredentialRefused("an org id is lower-case letters, digits and dashes (at most 63)")
    return org_id


# --- envelope encryption ------------------------------------------------------------------------------------------

DATA_KEY_BYTES = 32  # AES-256 (KMS KeySpec AES_256)
NONCE_BYTES = 12  # 96-bit nonces, random per secret (each secret has a data key of its own as well)


class SecretDoesNotOpen(ValueError):
    """The sealed secret does not decrypt with this data key, nonce and associated data: nothing is returned."""


def _aesgcm(key: bytes) -> AESGCM:
    # Imported on first use, so the gateway handler's cold import does not load cryptography's compiled module.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if len(key) != DATA_KEY_BYTES:
        raise ValueError(f"AES-256-GCM needs a {DATA_KEY_BYTES}-byte key")
    return AESGCM(key)


def _check_nonce(nonce: bytes) -> None:
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"the envelope uses {NONCE_BYTES}-byte nonces")


def aead_seal(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """``ciphertext || tag`` (16 bytes) of ``plaintext`` under AES-256-GCM, authenticating ``aad`` too."""
    _check_nonce(nonce)
    return _aesgcm(key).encrypt(nonce, plaintext, aad)


def aead_open(key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
    """The plaintext of ``aead_seal``'s output; ``SecretDoesNotOpen`` if any input differs from the sealing's."""
    from cryptography.exceptions import InvalidTag

    _check_nonce(nonce)
    try:
        return _aesgcm(key).decrypt(nonce, sealed, aad)
    except InvalidTag:
        raise SecretDoesNotOpen(
            "the sealed secret does not decrypt with this data key, nonce and encryption context"
        ) from None


def _aad(context: Mapping[str, str]) -> bytes:
    return json.dumps(dict(context), sort_keys=True, separators=(",", ":")).encode("utf-8")


class Envelope:
    """Seals and opens org secrets with the stack's KMS key (``key_id``: its ARN, from the runtime environment).

    ``client``: a boto3 KMS client (tests: moto's); by default one is built on first use, never at import."""

    def __init__(self, key_id: str, region_code: str, aws_region: str, client: Any = None) -> None:
        self.key_id = key_id
        self.region_code = region_code
        self.aws_region = aws_region
        self._client = client
        self._lock = threading.Lock()

    def _kms(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3  # on first use, never at import

                self._client = boto3.client("kms", region_name=self.aws_region)
            return self._client

    def seal(self, org_id: str, provider: str, secret: bytes) -> SealedSecret:
        context = encryption_context(org_id, self.region_code, provider)
        answer = self._kms().generate_data_key(KeyId=self.key_id, KeySpec="AES_256", EncryptionContext=context)
        data_key = bytearray(answer.pop("Plaintext"))
        blob = bytes(answer["CiphertextBlob"])
        try:
            nonce = os.urandom(NONCE_BYTES)
            ciphertext = aead_seal(bytes(data_key), nonce, secret, _aad(context))
        finally:
            data_key[:] = bytes(len(data_key))  # our copy is wiped; the rest is left to the garbage collector
            del answer
        return SealedSecret(encrypted_data_key=blob, nonce=nonce, ciphertext=ciphertext)

    def open(self, org_id: str, provider: str, sealed: SealedSecret) -> bytes:
        """The secret; raises (KMS ``InvalidCiphertextException``, ``SecretDoesNotOpen``) if any part of the
        context differs from the one it was sealed with."""
        context = encryption_context(org_id, self.region_code, provider)
        answer = self._kms().decrypt(
            CiphertextBlob=sealed.encrypted_data_key, EncryptionContext=context, KeyId=self.key_id
        )
        data_key = bytearray(answer.pop("Plaintext"))
        try:
            return aead_open(bytes(data_key), sealed.nonce, sealed.ciphertext, _aad(context))
        finally:
            data_key[:] = bytes(len(data_key))
            del answer


# --- the service the console and the CLI use -------------------------------------------------------------------


class ProviderCredentials:
    """Add, replace, delete and list an org's credentials in one region; set whether the platform's may serve it."""

    def __init__(self, store: Any, envelope: Envelope | None, runtime: RuntimeConfig, clock: Clock = utc_now) -> None:
        self.store = store
        self.envelope = envelope
        self.runtime = runtime
        self.clock = clock

    def put(
        self,
        *,
        org_id: str,
        provider: str,
        set_by: str,
        secret: str | None = None,
        endpoint: str | None = None,
        role_arn: str | None = None,
        kind: str | None = None,
        replace_existing: bool = False,
    ) -> CredentialRecord:
        """Add (``replace_existing`` False: refused if the org has one for the provider) or replace (refused if not)."""
        check_org(org_id)
        checked = check_credential(self.runtime, provider, endpoint=endpoint, role_arn=role_arn, kind=kind)
        existing = self.store.provider_credential(org_id, provider)
        if replace_existing and existing is None:
            raise CredentialNotFound(f"org {org_id} has no credential for {provider} to replace; add one")
        if not replace_existing and existing is not None:
            raise CredentialRefused(f"org {org_id} already has a credential for {provider}; replace it instead")
        sealed = None
        if checked.kind == API_KEY:
            if secret is None:
                raise CredentialRefused(f"provider {provider} needs an API key")
            value = check_secret(secret)
            if self.envelope is None:
                raise CredentialRefused(
                    "this runtime has no KMS key for org credentials (REGIONGATE_CREDENTIALS_KEY_ARN is not set)"
                )
            sealed = self.envelope.seal(org_id, provider, value)
        elif secret:
            raise CredentialRefused("a Bedrock role credential takes no secret: give only the role ARN")
        now = self.clock()
        record = CredentialRecord(
            org_id=org_id,
            provider=provider,
            kind=checked.kind,
            endpoint=checked.endpoint,
            role_arn=checked.role_arn,
            created_at=existing.record.created_at if existing else now,
            replaced_at=now if existing else None,
            set_by=set_by,
        )
        self.store.ensure_org(org_id)
        self.store.put_provider_credential(StoredCredential(record=record, sealed=sealed))
        return record

    def delete(self, org_id: str, provider: str) -> bool:
        return bool(self.store.delete_provider_credential(org_id, provider))

    def list(self, org_id: str | None = None) -> list[CredentialRecord]:
        return list(self.store.list_provider_credentials(org_id))

    def set_platform_fallback(self, org_id: str, allowed: bool) -> None:
        check_org(org_id)
        self.store.ensure_org(org_id)
        self.store.set_platform_fallback(org_id, allowed)

    def platform_fallback(self, org_id: str) -> bool:
        return bool(self.store.platform_fallback(org_id))


# --- in memory (unit tests, ``MemoryStore``) -------------------------------------------------------------------


class MemoryCredentials:
    """The in-memory ``ProviderCredentialStore`` (a mixin of ``store.memory.MemoryStore``)."""

    @property
    def _credentials(self) -> dict[tuple[str, str], StoredCredential]:
        found: dict[tuple[str, str], StoredCredential] | None = self.__dict__.get("_org_credentials")
        if found is None:
            found = self.__dict__["_org_credentials"] = {}
        return found

    @property
    def _fallbacks(self) -> dict[str, bool]:
        found: dict[str, bool] | None = self.__dict__.get("_org_fallbacks")
        if found is None:
            found = self.__dict__["_org_fallbacks"] = {}
        return found

    def put_provider_credential(self, stored: StoredCredential) -> None:
        key = (stored.record.org_id, stored.record.provider)
        existing = self._credentials.get(key)
        if existing is not None:
            stored = replace(stored, record=replace(stored.record, created_at=existing.record.created_at))
        self._credentials[key] = stored

    def provider_credential(self, org_id: str, provider: str) -> StoredCredential | None:
        return self._credentials.get((org_id, provider))

    def list_provider_credentials(self, org_id: str | None = None) -> list[CredentialRecord]:
        return [s.record for key, s in sorted(self._credentials.items()) if org_id is None or key[0] == org_id]

    def delete_provider_credential(self, org_id: str, provider: str) -> bool:
        return self._credentials.pop((org_id, provider), None) is not None

    def set_platform_fallback(self, org_id: str, allowed: bool) -> None:
        self._fallbacks[org_id] = allowed

    def platform_fallback(self, org_id: str) -> bool:
        return self._fallbacks.get(org_id, True)


def envelope_factory(key_id: str | None, region_code: str, aws_region: str) -> Callable[[], Envelope | None]:
    """An Envelope for ``key_id`` (None: the runtime has no key for org credentials)."""
    return lambda: Envelope(key_id, region_code, aws_region) if key_id else None
