"""The gateway as an ASGI application, served by uvicorn (``regiongate serve`` and the container).

The service (:class:`~regiongate.gateway.runtime.service.Gateway`) is synchronous, the same code as the
Lambda's. Each request's call of it runs in a greenlet on the event loop (:mod:`.cooperative`): upstream HTTP
is read on the loop, database and boto3 calls on a few blocking-call threads, so a request, or a stream open
for minutes, holds no thread. A stream's chunks are written as soon as the service has nothing more to relay at once
(before the request's greenlet next waits: the events of one upstream read leave in one write; a slow client makes
the stream wait through the transport's flow control). A client that goes away sets a flag
read before the next chunk is relayed: the stream is then closed, which closes the upstream connection and
records the request (status 499) with the tokens streamed so far.

The event loop itself reads headers and bodies under deadlines (``ServerLimits``), refuses an announced
body above the limit with 413 before reading it, and answers malformed HTTP with OpenAI-shaped JSON (a request
whose path is known, on ``/v1/messages*``, is refused in Anthropic's envelope: ``envelopes``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from regiongate.contract.errors import (
    GatewayError,
    InvalidRequest,
    RequestTooLarge,
    ServiceUnavailable,
    reason,
)
from regiongate.gateway.runtime import cooperative
from regiongate.gateway.runtime.cooperative import await_only
from regiongate.gateway.runtime.envelopes import error_response_for
from regiongate.gateway.runtime.transport import Request, Response

if TYPE_CHECKING:
    from regiongate.gateway.runtime.service import Gateway

log = logging.getLogger("regiongate.server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class DirectBody(Protocol):
    """A started stream's body written straight to its connection (the server protocol's: asgi_httptools)."""

    def ready(self) -> bool:
        """Whether a piece may be written here now (False: only ``send`` may write it)."""
        ...

    def write(self, piece: bytes) -> None:
        """One non-empty piece, after ``ready()``."""
        ...


@dataclass(frozen=True)
class ServerLimits:
    """What one server process accepts. The defaults suit one 1 vCPU task behind an ALB."""

    max_concurrency: int = 4096  # requests (and open streams) served at once; beyond it a request waits
    queue_timeout: float = 5.0  # a request waits this long for a slot, then gets 503
    header_timeout: float = 10.0  # from connection (or first byte of a keep-alive request) to the end of headers
    body_timeout: float = 30.0  # from the end of headers to the end of the announced body
    keep_alive: float = 75.0  # idle keep-alive connections; above the ALB's client keep-alive to targets
    graceful_shutdown: float = 300.0  # SIGTERM: in-flight requests and streams may finish this long

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError("ServerLimits.max_concurrency must be at least 1")
        for name in ("queue_timeout", "header_timeout", "body_timeout", "keep_alive", "graceful_shutdown"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ServerLimits.{name} must be positive")


def _json_error(exc: GatewayError, close: bool = True, path: str = "") -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """``path``: the request's, when known (its API chooses the envelope); "" before a request head is read."""
    status, headers, body = error_response_for(path, exc)
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    if close:
        raw.append((b"connection", b"close"))
    return status, raw, body


def _raw_response(exc: GatewayError) -> bytes:
    """A whole HTTP/1.1 response written straight to the transport (before the parser has a request to answer)."""
    status, headers, body = _json_error(exc)
    head = f"HTTP/1.1 {status} {reason(status)}\r\n".encode() + b"".join(k + b": " + v + b"\r\n" for k, v in headers)
    return head + b"\r\n" + body


class GatewayApp:
    """ASGI application over one ``Gateway``: each request's service call runs in a greenlet on the loop."""

    def __init__(
        self,
        gateway: Gateway,
        limits: ServerLimits = ServerLimits(),
        direct_body: Callable[[Send], DirectBody | None] = lambda send: None,
    ) -> None:
        """``direct_body``: for a request's ``send``, the started stream's body written straight to the connection
        (``ready()``, ``write(piece)``); None: every piece through ``send``. The server's protocol provides it
        (``asgi_httptools.direct_body``)."""
        self.gateway = gateway
        self.limits = limits
        self.direct_body = direct_body
        self._slots: asyncio.Semaphore | None = None
        self.active = 0  # requests being served now (read by tests and the health of the process)
        self.closed = False

    def close(self) -> None:
        self.closed = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        received = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope.get("raw_path") or scope["path"].encode("latin-1")
        if scope.get("query_string") and b"?" not in path:
            path += b"?" + scope["query_string"]
        body = await self._read_body(path.decode("latin-1"), headers, receive, send)
        if body is None:
            return
        request = Request(
            method=scope["method"], path=path.decode("latin-1"), headers=headers, body=body, received=received
        )
        await self._dispatch(request, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _refuse(self, send: Send, exc: GatewayError, close: bool = True, *, path: str) -> None:
        status, headers, body = _json_error(exc, close=close, path=path)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _read_body(self, path: str, headers: dict[str, str], receive: Receive, send: Send) -> bytes | None:
        """The whole body, or None when the request was answered here (400, 408, 413) or the client left."""
        limit = self.gateway.max_request_bytes
        if "chunked" in headers.get("transfer-encoding", "").lower():
            await self._refuse(
                send, InvalidRequest("chunked request bodies are not supported; send Content-Length"), path=path
            )
            return None
        try:
            length = int(headers.get("content-length") or 0)
            if length < 0:
                raise ValueError
        except ValueError:
            await self._refuse(send, InvalidRequest("Content-Length is not a number"), path=path)
            return None
        if length > limit:  # answered before a byte of the body is read
            await self._refuse(
                send,
                RequestTooLarge(f"the request body is {length} bytes; the limit is {limit}"),
                close=True,
                path=path,
            )
            return None
        chunks: list[bytes] = []
        # asyncio.timeout_at, not wait_for: wait_for wraps every receive() in a task of its own (measured: a few
        # per cent of the server's CPU per request), while the body is nearly always there already.
        deadline = asyncio.get_running_loop().time() + self.limits.body_timeout
        more = length > 0
        while more:
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                await self._refuse(
                    send,
                    GatewayError(
                        f"the request body did not arrive within {self.limits.body_timeout:g} s "
                        f"({sum(map(len, chunks))} of {length} bytes)",
                        status=408,
                        type="request_timeout",
                    ),
                    path=path,
                )
                return None
            if message["type"] == "http.disconnect":
                return None
            chunks.append(message.get("body", b""))
            more = bool(message.get("more_body"))
        return b"".join(chunks)

    async def _dispatch(self, request: Request, receive: Receive, send: Send) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limits.max_concurrency)
        slots = self._slots
        try:
            if slots.locked():  # wait for a slot, at most queue_timeout; a free slot is taken without a timer
                async with asyncio.timeout(self.limits.queue_timeout):
                    await slots.acquire()
            else:
                await slots.acquire()
        except TimeoutError:
            await self._refuse(
                send,
                ServiceUnavailable(
                    f"the gateway is serving its limit of {self.limits.max_concurrency} requests at once; retry shortly"
                ),
                close=False,
                path=request.path,
            )
            return
        if self.closed:
            slots.release()
            await self._refuse(send, ServiceUnavailable("the gateway is shutting down"), path=request.path)
            return
        self.active += 1
        try:
            await cooperative.run(self._serve, request, receive, send)
        finally:
            self.active -= 1
            slots.release()

    def _serve(self, request: Request, receive: Receive, send: Send) -> None:
        """In the request's greenlet: the service call, then the answer or, for a stream, every chunk as it comes."""
        try:
            response = self.gateway.handle(request)
        except Exception as exc:  # handle turns errors into responses; this is a last resort
            log.error("gateway.handle raised", exc_info=True)
            status, headers, body = error_response_for(request.path, exc)
            response = Response(status, headers, body)
        raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
        # uvicorn's send never asks for the task it runs in (taskless): after the upstream's bytes woke this greenlet
        # from their callback, an answer that does not wait is still written at once (cooperative.await_only).
        stream = response.stream
        if stream is None:
            raw_headers.append((b"content-length", str(len(response.body)).encode()))
            await_only(
                send({"type": "http.response.start", "status": response.status, "headers": raw_headers}), taskless=True
            )
            await_only(send({"type": "http.response.body", "body": response.body, "more_body": False}), taskless=True)
            return
        gone = asyncio.Event()  # the client disconnected
        watcher = asyncio.ensure_future(self._watch_disconnect(receive, gone))
        direct = self.direct_body(send)
        # Pieces written straight to the connection wait here until the request's greenlet is about to wait (for
        # the upstream, most often), then leave in one write: each as soon as the stream has nothing more to
        # relay at once. The events of one upstream read are one system call, not one each: a process that falls
        # behind (many streams) relays them in fewer writes, rather than a write per event however late.
        # Invariant: ``pending`` is empty whenever ``direct`` is not ready (nothing runs between appends but this
        # greenlet, and every wait empties it first).
        pending: list[bytes] = []

        def flush() -> None:
            if pending:
                assert direct is not None
                direct.write(pending[0] if len(pending) == 1 else b"".join(pending))
                pending.clear()

        replaced = cooperative.on_wait(flush)
        try:
            await_only(
                send({"type": "http.response.start", "status": response.status, "headers": raw_headers}), taskless=True
            )
            # The first chunk is always pulled: the service records a stream when the stream ends or is closed,
            # and closing one that never started would record nothing.
            # A disconnect is acted on before relaying the *next* piece, never right after one is handed over: the
            # client may close as soon as it has the last chunk, and the stream must then still end normally (and be
            # recorded as answered) rather than be closed as cut off.
            for piece in stream:
                if gone.is_set():
                    break
                if direct is not None and piece and direct.ready():
                    pending.append(piece)
                else:  # send waits while the client reads slower than the stream comes (the transport's flow control)
                    flush()  # (an empty piece only: otherwise nothing is pending here, by the invariant)
                    await_only(send({"type": "http.response.body", "body": piece, "more_body": True}), taskless=True)
            else:
                if not gone.is_set():
                    flush()
                    await_only(send({"type": "http.response.body", "body": b"", "more_body": False}), taskless=True)
        except cooperative.Cancelled:
            raise  # shutdown past its limit: the service's generators have ended as closed (recorded as cut off)
        except Exception:
            log.error("stream failed", exc_info=True)
        finally:
            cooperative.on_wait(replaced)
            if pending and direct is not None and direct.ready():
                flush()  # what was relayed before the stream failed
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # GeneratorExit reaches the service and the provider: upstream closed, request recorded
            watcher.cancel()

    async def _watch_disconnect(self, receive: Receive, gone: asyncio.Event) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                gone.set()
                return
