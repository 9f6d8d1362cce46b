"""What every provider module shares: the provider protocol, the upstream timer and the loopback test.

A leaf below the registry (``providers/__init__``) and the provider implementations, so that neither
imports the other's package module.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from regiongate.contract.document import ModelEntry
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

    def chat(self, model: ModelEntry, body: dict[str, Any], timer: UpstreamTimer) -> ChatResult: ...
    def chat_stream(self, model: ModelEntry, body: dict[str, Any], timer: UpstreamTimer) -> Iterator[Delta]: ...
    def embed(self, model: ModelEntry, inputs: list[str], timer: UpstreamTimer) -> EmbeddingResult: ...


def is_loopback_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and (parts.hostname or "") in LOOPBACK_HOSTS and not parts.username
