"""The region's provider registry: one provider per configured name, built on first use.

There is deliberately no fallback: a request goes to the provider its model names, in this region, and
if that provider fails after bounded retries (``providers.retries``) the client gets a clear 429/502/504.
What the provider modules share lives in ``providers.base`` and ``providers.credentials``.

An org with a credential of its own for a provider ("bring your own key", ``providers.org_credentials``) is
served by a provider built with that credential (its key, its allowlisted endpoint, or its assumed role), kept
only as long as the opened credential is cached; ``for_context`` records which credentials served the request.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from typing import Any, Protocol

from regiongate.contract.document import ProviderEntry
from regiongate.gateway.runtime.providers.base import Provider, is_loopback_url
from regiongate.gateway.runtime.providers.credentials import Credentials
from regiongate.gateway.runtime.providers.org_credentials import FixedCredentials, OrgCredentialResolver, OrgSecret


class _Served(Protocol):
    key: Any  # the request's KeyRecord (None before authentication)
    credential_source: str | None


class Registry:
    """The region's providers, built lazily by name (clients are created on first use and reused)."""

    def __init__(
        self,
        providers: Mapping[str, ProviderEntry],
        credentials: Credentials,
        overrides: Mapping[str, str] | None = None,
        timeouts: tuple[float, float] = (5.0, 110.0),
        org_credentials: OrgCredentialResolver | None = None,
    ) -> None:
        self._entries = providers
        self._credentials = credentials
        self._org_credentials = org_credentials
        self._org_built: dict[tuple[str, str], tuple[OrgSecret, Provider]] = {}
        self._overrides = dict(overrides or {})
        for name, url in self._overrides.items():
            if name not in providers:
                raise ValueError(f"--upstream {name}: no such provider; configured: {', '.join(providers)}")
            if not is_loopback_url(url):
                raise ValueError(
                    f"--upstream {name}={url}: only loopback URLs (127.0.0.1, localhost, ::1) are accepted"
                )
        self._timeouts = timeouts
        self._built: dict[str, Provider] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Provider:
        provider = self._built.get(name)
        if provider is None:
            with self._lock:
                provider = self._built.get(name)
                if provider is None:
                    provider = self._built[name] = self._build(self._entries[name])
        return provider

    def warm(self) -> list[str]:
        """Before serving: build every provider's client (boto3 set-up) and load the platform's credentials, so no
        request does it. A served process runs every request on one event loop, and these would block it (the
        credentials are loaded once, under a lock). Returns what could not be warmed (each is retried on first use)."""
        failed = []
        for name, entry in self._entries.items():
            try:
                provider = self.get(name)
                client = getattr(provider, "client", None)
                if client is not None:
                    client()
                if entry.type != "bedrock":
                    self._credentials.api_key(name)
            except Exception as exc:
                failed.append(f"{name} ({type(exc).__name__})")
        return failed

    def for_context(self, ctx: _Served, name: str) -> Provider:
        """The provider serving this request's org on ``name``; sets ``ctx.credential_source`` (platform or org)."""
        org_id = ctx.key.org_id if ctx.key is not None else None
        if self._org_credentials is None or org_id is None:
            ctx.credential_source = "platform"
            return self.get(name)
        secret = self._org_credentials.choose(org_id, name)  # raises when the org allows no fallback
        if secret is None:
            ctx.credential_source = "platform"
            return self.get(name)
        now = self._org_credentials.monotonic()
        with self._lock:
            for k in [k for k, (s, _) in self._org_built.items() if s.expires <= now]:
                del self._org_built[k]  # an expired secret's provider (and the key in it) is dropped
            built = self._org_built.get((org_id, name))
            if built is None or built[0] is not secret:
                built = self._org_built[(org_id, name)] = (secret, self._build(self._entries[name], secret))
        ctx.credential_source = "org"
        return built[1]

    def _build(self, entry: ProviderEntry, org: OrgSecret | None = None) -> Provider:
        override = self._overrides.get(entry.name)
        credentials = self._credentials
        if org is not None:
            if org.api_key is not None:
                credentials = FixedCredentials(entry.name, org.api_key)
            if org.record.endpoint:  # on the region's allowlist: checked when it was added
                field = "endpoint" if entry.type == "azure_openai" else "base_url"
                entry = dataclasses.replace(entry, **{field: org.record.endpoint})
        # Imported here so that a region imports only the provider types it serves (openai_http pulls in
        # http.client and ssl: about 20 ms of a Lambda cold start).
        if entry.type == "bedrock":
            from regiongate.gateway.runtime.providers.bedrock import BedrockProvider

            if org is not None and org.aws_credentials is not None:
                return BedrockProvider(
                    entry, endpoint_url=override, timeouts=self._timeouts, aws_credentials=org.aws_credentials
                )
            return BedrockProvider(entry, endpoint_url=override, timeouts=self._timeouts)
        from regiongate.gateway.runtime.providers.openai_http import AzureOpenAIProvider, OpenAICompatibleProvider

        if entry.type == "azure_openai":
            return AzureOpenAIProvider(entry, credentials, endpoint=override, timeouts=self._timeouts)
        if entry.type == "openai_compatible":
            return OpenAICompatibleProvider(entry, credentials, base_url=override, timeouts=self._timeouts)
        raise ValueError(f"unknown provider type {entry.type}")
