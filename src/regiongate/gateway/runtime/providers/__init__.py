"""The region's provider registry: one provider per configured name, built on first use.

There is deliberately no fallback: a request goes to the provider its model names, in this region, and
if that provider fails after bounded retries (``providers.retries``) the client gets a clear 429/502/504.
What the provider modules share lives in ``providers.base`` and ``providers.credentials``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from regiongate.contract.document import ProviderEntry
from regiongate.gateway.runtime.providers.base import Provider, is_loopback_url
from regiongate.gateway.runtime.providers.credentials import Credentials


class Registry:
    """The region's providers, built lazily by name (clients are created on first use and reused)."""

    def __init__(
        self,
        providers: Mapping[str, ProviderEntry],
        credentials: Credentials,
        overrides: Mapping[str, str] | None = None,
        timeouts: tuple[float, float] = (5.0, 110.0),
    ) -> None:
        self._entries = providers
        self._credentials = credentials
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

    def _build(self, entry: ProviderEntry) -> Provider:
        override = self._overrides.get(entry.name)
        # Imported here so that a region imports only the provider types it serves (openai_http pulls in
        # http.client and ssl: about 20 ms of a Lambda cold start).
        if entry.type == "bedrock":
            from regiongate.gateway.runtime.providers.bedrock import BedrockProvider

            return BedrockProvider(entry, endpoint_url=override, timeouts=self._timeouts)
        from regiongate.gateway.runtime.providers.openai_http import AzureOpenAIProvider, OpenAICompatibleProvider

        if entry.type == "azure_openai":
            return AzureOpenAIProvider(entry, self._credentials, endpoint=override, timeouts=self._timeouts)
        if entry.type == "openai_compatible":
            return OpenAICompatibleProvider(entry, self._credentials, base_url=override, timeouts=self._timeouts)
        raise ValueError(f"unknown provider type {entry.type}")
