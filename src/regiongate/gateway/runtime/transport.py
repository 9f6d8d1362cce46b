"""The gateway's own request/response types, shared by the ALB handler and the local HTTP server."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field


@dataclass
class Request:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes = b""
    received: float | None = None  # time.perf_counter() when the transport started reading the request


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: Iterator[bytes] | None = None  # SSE chunks; ``headers`` are final when the stream starts
