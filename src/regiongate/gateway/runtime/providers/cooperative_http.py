"""Upstream HTTP/1.1 for the served gateway: keep-alive connections on the event loop, read from a request's greenlet.

:class:`~regiongate.gateway.runtime.providers.openai_http.HttpClient` uses this inside a request's greenlet
(:mod:`regiongate.gateway.runtime.cooperative`) and ``http.client`` everywhere else (the Lambda). The
response object has the part of ``http.client.HTTPResponse`` the providers use (``status``, ``headers``,
``will_close``, ``read``, ``read1``), so the provider code is the same in both.

Responses are parsed by httptools (llhttp, the parser uvicorn uses for the server side). Each read waits on
the loop at most the timeout the provider set last (``before_read``: the read timeout cut to what is left of
the request's deadline). A connection is reused only after a response read to its end on a keep-alive
connection; a stale one (closed by the upstream while idle) is retried once on a new connection, as
``http.client``'s is. A slow reader pauses the socket rather than letting the buffer grow.

Bedrock goes through the same connections: :func:`aws_send` is a botocore ``before-send`` handler, so botocore
still serialises, signs (SigV4), retries and parses (event streams included) while the bytes move on the loop.
"""

from __future__ import annotations

import asyncio
import ssl
import weakref
from collections import deque
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httptools

from regiongate.contract.errors import UpstreamError, UpstreamTimeout
from regiongate.gateway.runtime import cooperative
from regiongate.gateway.runtime.cooperative import await_only

# Bytes of response body held for a reader that has not taken them; above this the socket is paused.
READ_AHEAD_BYTES = 256 * 1024
# Idle keep-alive connections kept per upstream: the most requests of one process open to one upstream at once.
MAX_IDLE_PER_UPSTREAM = 1024


class _Headers(dict[str, str]):
    """Response headers by lower-case name (``get`` takes any case), repeated ones joined with ", "."""

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


class _Connection(asyncio.Protocol):
    """One upstream connection and the response being read on it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.failure: str | None = None  # why the connection cannot go on (malformed answer)
        self._waiting = cooperative.Wakeup()  # the request's greenlet waiting for this connection (wait)
        # The loop the connection is on, read by its first wait: asyncio.get_running_loop() makes a getpid() system
        # call on every call (Python 3.11's check for a fork), which was 2.4 % of a serve process's samples at 400
        # streams when wait() asked once per relayed chunk (py-spy --native, issue 12).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deadline = 0.0  # of the current wait, on the loop's clock
        self._timer: asyncio.TimerHandle | None = None
        self._paused = False
        self.begin()

    # --- one response -----------------------------------------------------------------------------------
    def begin(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers = _Headers()
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.received_any = False
        self.body: deque[bytes] = deque()
        self.buffered = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(bytes(body))
        self.buffered += len(body)

    def on_message_complete(self) -> None:
        self.complete = True

    # --- asyncio.Protocol -------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.failure = "the provider answered with malformed HTTP"
            self.close()
        if self.buffered > READ_AHEAD_BYTES and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._waiting.wake()  # the greenlet runs now, in this callback, until it waits again

    def eof_received(self) -> bool | None:
        return None  # the transport closes; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.head_done and not self.complete and not self._framed():
            self.complete = True  # a body delimited by the end of the connection
        self._waiting.wake()

    def _framed(self) -> bool:
        return "content-length" in self.headers or "chunked" in self.headers.get("transfer-encoding", "").lower()

    # --- waiting ------------------------------------------------------------------------------------------
    def wait(self, timeout: float) -> None:
        """From the request's greenlet: until more arrives or the connection closes; ``TimeoutError`` after
        ``timeout`` seconds. The greenlet is switched into by the callback that has the bytes
        (``cooperative.Wakeup``: no future, no task step per chunk), and the connection's one timer is armed again
        only when it would fire after this wait's deadline (not ``asyncio.timeout``, a task-bound context with two
        timers): this runs once per relayed chunk, and a timer armed and cancelled each time (a heap push, a
        cancel, a heap pop) was about a twentieth of the loop's time at 400 streams (py-spy, issue 12). When the
        timer fires before the deadline of the wait then under way, it is armed for that deadline."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        deadline = self._deadline = loop.time() + timeout
        timer = self._timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self._timer = loop.call_at(deadline, self._timer_fired, loop)
        self._waiting.wait()

    def _timer_fired(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        if not self._waiting.waiting or self.closed:
            return  # between two waits: the next one arms it
        if loop.time() >= self._deadline:
            self._waiting.throw(TimeoutError())
        else:
            self._timer = loop.call_at(self._deadline, self._timer_fired, loop)

    def take(self) -> bytes:
        data = b"".join(self.body)
        self.body.clear()
        self.buffered = 0
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()
        return data

    def close(self) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None:
            self.transport.close()


class CooperativeResponse:
    """An upstream answer read from a request's greenlet (the providers' view of ``HTTPResponse``)."""

    def __init__(self, connection: _Connection, timeout: float) -> None:
        self._connection = connection
        self.timeout = timeout  # of the next read; the provider sets it before each (``HttpClient.before_read``)
        self.status = connection.status
        self.headers = connection.headers
        self.length = None  # an early end is raised by read() itself

    @property
    def will_close(self) -> bool:
        return not self._connection.keep_alive

    @property
    def complete(self) -> bool:
        return self._connection.complete and not self._connection.body

    def read1(self, amount: int = -1) -> bytes:
        """What has arrived (waiting for something if nothing has); b"" at the end of the body."""
        connection = self._connection
        while not connection.body:
            if connection.complete:
                return b""
            if connection.closed:
                raise ConnectionResetError(connection.failure or "the provider closed the connection mid-answer")
            connection.wait(self.timeout)
        return connection.take()

    def read(self, amount: int | None = None) -> bytes:
        """The rest of the body (``amount`` given: what has arrived, at least one piece)."""
        if amount is not None:
            return self.read1(amount)
        pieces = []
        while piece := self.read1():
            pieces.append(piece)
        return b"".join(pieces)


class CooperativeHttp:
    """Connections to one upstream (scheme, host, port) for every request's greenlet of this process."""

    def __init__(self, scheme: str, host: str, port: int, ssl_context: ssl.SSLContext | None) -> None:
        self.host, self.port = host, port
        self.ssl = ssl_context if scheme == "https" else None
        self._idle: list[_Connection] = []

    def _checkout(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection
        return None

    async def _connect(self, timeout: float) -> _Connection:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            _, protocol = await loop.create_connection(
                _Connection, self.host, self.port, ssl=self.ssl, server_hostname=self.host if self.ssl else None
            )
        return protocol

    def request(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
        connect_timeout: float,
        read_timeout: float,
    ) -> CooperativeResponse:
        """Send the request and wait for the response head (``UpstreamError``/``UpstreamTimeout`` otherwise).

        ``Host`` (the port only where it is not the scheme's) and ``Content-Length`` are added unless given: a
        signed request (SigV4) carries the host it was signed for."""
        given = {name.lower() for name in headers}
        default_port = 443 if self.ssl is not None else 80
        head = [f"{method} {target} HTTP/1.1"]
        if "host" not in given:
            head.append(f"host: {self.host}" if self.port == default_port else f"host: {self.host}:{self.port}")
        if "content-length" not in given:
            head.append(f"content-length: {len(body)}")
        head += [f"{name}: {value}" for name, value in headers.items()]
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        for attempt in (0, 1):
            checked_out = self._checkout()
            reused = checked_out is not None
            if checked_out is None:
                try:
                    checked_out = await_only(self._connect(connect_timeout))
                except TimeoutError:
                    raise UpstreamTimeout() from None
                except OSError as exc:
                    raise UpstreamError(
                        f"could not connect to the provider ({type(exc).__name__})", retryable=True
                    ) from None
            connection = checked_out
            try:
                connection.begin()
                assert connection.transport is not None
                connection.transport.write(data)
                while not connection.head_done:
                    if connection.closed:
                        raise ConnectionResetError(connection.failure or "closed before answering")
                    connection.wait(read_timeout)
            except TimeoutError:
                connection.close()
                raise UpstreamTimeout() from None
            except OSError as exc:  # ConnectionResetError, BrokenPipeError, ...
                connection.close()
                if connection.failure is not None:
                    raise UpstreamError(connection.failure) from None
                if reused and attempt == 0 and not connection.received_any:
                    continue  # a keep-alive connection the upstream closed while idle: once more on a new one
                raise UpstreamError(
                    f"the provider closed the connection ({type(exc).__name__})", retryable=True
                ) from None
            return CooperativeResponse(connection, read_timeout)
        raise AssertionError("unreachable")

    def finish(self, response: CooperativeResponse) -> None:
        """The answer was read to its end: the connection is kept for the next request, if it may be."""
        connection = response._connection
        if connection.closed or not connection.keep_alive or not response.complete:
            connection.close()
        elif len(self._idle) < MAX_IDLE_PER_UPSTREAM:
            self._idle.append(connection)
        else:
            connection.close()

    def abandon(self, response: CooperativeResponse) -> None:
        """The answer is not read to its end (an error, a cut stream): its connection is closed."""
        response._connection.close()

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()


# --- one pool per upstream and event loop -------------------------------------------------------------------

# A connection belongs to the loop it was opened on; every client of the process (each OpenAI-compatible provider,
# each Bedrock client) shares the pool of its upstream on that loop.
_loop_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str, int], CooperativeHttp]] = (
    weakref.WeakKeyDictionary()
)
_default_ssl: ssl.SSLContext | None = None
# The last loop's pools, held weakly as the map holds them: a served process has one loop, and the map's
# setdefault (a new weak reference and a new dict per call) was 2.6 % of its loop's time (py-spy, c=64; issue 12).
_last_pools: tuple[weakref.ref[asyncio.AbstractEventLoop], dict[tuple[str, str, int], CooperativeHttp]] | None = None


def pool_for(scheme: str, host: str, port: int) -> CooperativeHttp:
    """The running loop's connections to ``scheme://host:port`` (TLS verified with the default context)."""
    global _default_ssl, _last_pools
    loop = asyncio.get_running_loop()
    last = _last_pools  # one read: another thread's loop may replace it meanwhile
    if last is not None and last[0]() is loop:
        pools = last[1]
    else:
        pools = _loop_pools.setdefault(loop, {})
        _last_pools = (weakref.ref(loop), pools)
    pool = pools.get((scheme, host, port))
    if pool is None:
        if scheme == "https" and _default_ssl is None:
            _default_ssl = ssl.create_default_context()
        pool = pools[(scheme, host, port)] = CooperativeHttp(scheme, host, port, _default_ssl)
    return pool


# --- AWS SDK calls (botocore) on the same connections ---------------------------------------------------------


class _AwsBody:
    """What botocore reads a response through (urllib3's ``HTTPResponse`` in its own sessions): ``stream()`` for
    event streams and whole bodies, ``read(amt)`` for ``StreamingBody``, ``close()``."""

    def __init__(self, pool: CooperativeHttp, answer: CooperativeResponse) -> None:
        self._pool = pool
        self._answer = answer
        self._held = b""
        self._done = False

    def _next(self) -> bytes:
        if self._held:
            data, self._held = self._held, b""
            return data
        data = self._answer.read1()
        if not data and not self._done:
            self._done = True
            self._pool.finish(self._answer)  # read to its end: the connection serves the next call
        return data

    def stream(self, amt: int = 65536, decode_content: bool | None = None) -> Iterator[bytes]:
        while data := self._next():
            yield data

    def read(self, amt: int | None = None) -> bytes:
        if amt is None:
            return b"".join(self.stream())
        data = self._next()
        data, self._held = data[:amt], data[amt:]
        return data

    def close(self) -> None:
        if not self._done:
            self._done = True
            self._pool.abandon(self._answer)


def aws_refresh_credentials(request_signer: Any = None, **_: Any) -> None:
    """A botocore ``before-sign`` handler: in a request's greenlet, credentials that are due for a refresh (the
    ECS task role's, within botocore's advisory window before they expire) are refreshed on a blocking-call thread
    first, so signing on the loop finds them fresh. Without it the refresh is a blocking HTTP call to the
    container's credential endpoint made by whichever request signs first, on the event loop, stopping every
    other request and stream of the process meanwhile. Static credentials have no ``refresh_needed``."""
    if not cooperative.active():
        return
    credentials: Any = getattr(request_signer, "_credentials", None)  # botocore keeps the client's credentials there
    refresh_needed = getattr(credentials, "refresh_needed", None)
    if refresh_needed is not None and refresh_needed():
        cooperative.blocking(credentials.get_frozen_credentials)  # refreshes (botocore's own lock and rules)


def aws_send(connect_timeout: float, read_timeout: float) -> Any:
    """A botocore ``before-send`` handler: in a request's greenlet, the signed request goes out on the loop's
    connections and the answer is read by that greenlet (no thread waits for it); elsewhere None, so botocore
    sends it itself. ``read_timeout`` bounds every read, as the client's own would."""
    from botocore.awsrequest import AWSResponse

    def send(request: Any, **_: Any) -> Any:
        if not cooperative.active():
            return None
        parts = urlsplit(request.url)
        scheme = parts.scheme or "https"
        pool = pool_for(scheme, parts.hostname or "", parts.port or (443 if scheme == "https" else 80))
        body = request.body
        if body is None:
            body = b""
        elif not isinstance(body, bytes):
            body = body.encode("utf-8") if isinstance(body, str) else body.read()
        headers = {
            name: value.decode("latin-1") if isinstance(value, bytes) else str(value)
            for name, value in request.headers.items()
            if name.lower() != "expect"  # no 100-continue: the body is sent with the head
        }
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        answer = pool.request(request.method, target, headers, body, connect_timeout, read_timeout)
        return AWSResponse(request.url, answer.status, answer.headers, _AwsBody(pool, answer))  # type: ignore[arg-type]  # any mapping: AWSResponse copies it into a HeadersDict

    return send
