"""The smallest proxy this machine can run in Python: what bench_gateway.py measures beside the gateway as its floor.

An ASGI app under uvicorn with httptools (the gateway's server) that forwards each request's body to the fake
upstream over pooled keep-alive connections (raw asyncio protocols, one request at a time per connection) and
answers with the upstream's body. No authentication, limits, audit, logs or translation: the difference between
its row and the gateway's is the gateway's own work, the rest is the server, the harness and the machine.
Run as ``python -m uvicorn floor_proxy:app --app-dir bench`` with FLOOR_UPSTREAM_PORT set.
"""

from __future__ import annotations

import asyncio
import os
import re
from typing import Any

_PATH = b"/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
_LENGTH = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")


class _UpstreamConnection(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""
        self.answered: asyncio.Future[bytes] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        match = _LENGTH.search(self.buffer, 0, end + 2) if end >= 0 else None
        if match is None or self.answered is None:
            return
        total = end + 4 + int(match.group(1))
        if len(self.buffer) >= total:
            body, self.buffer = self.buffer[end + 4 : total], self.buffer[total:]
            answered, self.answered = self.answered, None
            answered.set_result(body)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.answered is not None and not self.answered.done():
            self.answered.set_exception(ConnectionError("the upstream closed the connection"))


_idle: list[_UpstreamConnection] = []


async def _forward(body: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    if _idle:
        connection = _idle.pop()
    else:
        _, connection = await loop.create_connection(
            _UpstreamConnection, "127.0.0.1", int(os.environ["FLOOR_UPSTREAM_PORT"])
        )
    assert connection.transport is not None
    connection.answered = loop.create_future()
    connection.transport.write(
        b"POST %s HTTP/1.1\r\nhost: 127.0.0.1\r\napi-key: bench\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n%s" % (_PATH, len(body), body)
    )
    answer = await connection.answered
    _idle.append(connection)
    return answer


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":  # lifespan: nothing to start or stop
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = await _forward(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})
