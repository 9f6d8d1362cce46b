"""Upstream providers of one region: the protocol, retries, credentials and the registry.

There is deliberately no fallback: a request goes to the provider its model names, in this region, and
if that provider fails after bounded retries the client gets a clear 429/502/504.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from regiongate.contract.errors import GatewayError, ServiceUnavailable, UpstreamError
from regiongate.contract.settings import ModelEntry, ProviderEntry
from regiongate.gateway.runtime.translate import ChatResult, Delta, EmbeddingResult

T = TypeVar("T")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class UpstreamTimer:
    """Accumulates the time spent waiting on the upstream for one request."""

    __slots__ = ("attempts", "seconds")

    def __init__(self) -> None:
        self.seconds = 0.0
        self.attempts = 0

    def timed(self, fn: Callable[[], T]) -> T:
        start = time.perf_counter()
        try:
            return fn()
        finally:
            self.seconds += time.perf_counter() - start


class Provider(Protocol):
    name: str

    def chat(self, model: ModelEntry, body: dict, timer: UpstreamTimer) -> ChatResult: ...
    def chat_stream(self, model: ModelEntry, body: dict, timer: UpstreamTimer) -> Iterator[Delta]: ...
    def embed(self, model: ModelEntry, inputs: list[str], timer: UpstreamTimer) -> EmbeddingResult: ...


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    base_delay: float = 0.2
    max_delay: float = 2.0

    def delay(self, attempt: int) -> float:
        return min(self.max_delay, self.base_delay * (2**attempt)) * (0.5 + random.random() / 2)


def with_retries(
    call: Callable[[], T], policy: RetryPolicy, timer: UpstreamTimer, sleep: Callable[[float], None] = time.sleep
) -> T:
    """Retry connection errors, 429 and 5xx (``UpstreamError.retryable``) up to ``policy.attempts`` times."""
    for attempt in range(policy.attempts):
        timer.attempts += 1
        try:
            return call()
        except UpstreamError as exc:
            if not exc.retryable or attempt == policy.attempts - 1:
                raise
        sleep(policy.delay(attempt))
    raise AssertionError("unreachable")


def is_loopback_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and (parts.hostname or "") in LOOPBACK_HOSTS and not parts.username


class Credentials:
    """Provider credentials by provider name, loaded lazily once: ``{"<provider>": {"api_key": "…"}}``.

    Sources, first found wins per provider: environment variable ``REGIONGATE_PROVIDER_<NAME>_API_KEY``
    (name upper-cased, dashes as underscores), the JSON file at ``REGIONGATE_PROVIDER_CREDENTIALS_FILE``,
    the Secrets Manager secret at ``PROVIDER_SECRET_ARN``.
    """

    def __init__(self, loader: Callable[[], Mapping[str, Any]], env: Mapping[str, str] | None = None) -> None:
        self._loader = loader
        self._env = os.environ if env is None else env
        self._values: Mapping[str, Any] | None = None
        self._lock = threading.Lock()

    def api_key(self, provider: str) -> str:
        env_name = f"REGIONGATE_PROVIDER_{provider.upper().replace('-', '_')}_API_KEY"
        if self._env.get(env_name):
            return self._env[env_name]
        if self._values is None:
            with self._lock:
                if self._values is None:
                    try:
                        self._values = self._loader() or {}
                    except GatewayError:
                        raise
                    except Exception as exc:
                        raise ServiceUnavailable(
                            f"provider credentials could not be loaded ({type(exc).__name__})"
                        ) from None
        entry = self._values.get(provider)
        key = entry.get("api_key") if isinstance(entry, Mapping) else entry if isinstance(entry, str) else None
        if not key:
            raise ServiceUnavailable(f"no credentials are configured for provider {provider}")
        return key


def file_loader(path: str) -> Callable[[], Mapping[str, Any]]:
    def load() -> Mapping[str, Any]:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)

    return load


def secret_loader(secret_arn: str, region_name: str) -> Callable[[], Mapping[str, Any]]:
    def load() -> Mapping[str, Any]:
        import boto3

        client = boto3.client("secretsmanager", region_name=region_name)
        return json.loads(client.get_secret_value(SecretId=secret_arn)["SecretString"])

    return load


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
        if entry.type == "bedrock":
            from regiongate.gateway.runtime.providers.bedrock import BedrockProvider

            return BedrockProvider(entry, endpoint_url=override, timeouts=self._timeouts)
        from regiongate.gateway.runtime.providers.openai_http import AzureOpenAIProvider, OpenAICompatibleProvider

        if entry.type == "azure_openai":
            return AzureOpenAIProvider(entry, self._credentials, endpoint=override, timeouts=self._timeouts)
        if entry.type == "openai_compatible":
            return OpenAICompatibleProvider(entry, self._credentials, base_url=override, timeouts=self._timeouts)
        raise ValueError(f"unknown provider type {entry.type}")
