"""uvicorn's httptools protocol with the gateway's header-read deadline and JSON answers to malformed HTTP.

The HTTP protocol of the served gateway (``local.GatewayHTTPServer``), on the llhttp parser in C: the event loop's
share of the server's CPU per request was 0.56-0.71 ms with uvicorn's h11 protocol and 0.26-0.44 ms with httptools,
measured back to back (docs/benchmarks.md; the h11 protocol this replaced is gone).

- A timer runs from the connection, and from the first byte of each later request, until the request head is
  complete; when it fires the client gets 408 and the connection is closed (uvicorn arms no timer while a head
  is arriving, only between keep-alive requests).
- A request line with a method llhttp does not know (``BREW``) is answered 405 as OpenAI-shaped JSON, as the
  service answers a known method on a path that does not take it; any other malformed request gets 400 JSON.
- A whole answer (a head with a Content-Length, then its body) leaves in one send: uvicorn writes the head as soon
  as the application starts the response, and the body with a second system call. On loopback each send also
  delivers to (and wakes) the client, so the second cost about 0.1-0.4 ms per request here (strace, issue 12). A
  stream's head (chunked) is still written at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from regiongate.contract.errors import GatewayError, InvalidRequest, MethodNotAllowed
from regiongate.gateway.runtime.asgi import ServerLimits, _raw_response


class _HeadJoinsBody:
    """The transport a response cycle writes to: the head of a response with a non-empty Content-Length is held
    and leaves with the first piece of its body (or when the cycle closes the connection first)."""

    __slots__ = ("_cycle", "_head_seen", "_held", "_transport")

    def __init__(self, transport: asyncio.Transport, cycle: RequestResponseCycle) -> None:
        self._transport = transport
        self._cycle: RequestResponseCycle | None = cycle
        self._held: bytes | None = None
        self._head_seen = False

    def write(self, data: bytes) -> None:
        if self._held is not None:
            data, self._held = self._held + data, None
        elif not self._head_seen and (cycle := self._cycle) is not None and cycle.response_started:
            # this write is the head (not a 100 Continue)
            self._head_seen = True
            # Dropped once the head is seen: the cycle holds this transport, and with the reference back every
            # request's cycle, scope and headers were garbage only the cyclic collector could free (11 objects per
            # request, the collector's pauses falling on every request in flight).
            self._cycle = None
            if (
                cycle.chunked_encoding is False
                and cycle.expected_content_length > 0
                and cycle.scope["method"] != "HEAD"
            ):
                self._held = data
                return
        self._transport.write(data)

    def close(self) -> None:
        self.flush_held()
        self._transport.close()

    def flush_held(self) -> None:
        if self._held is not None:
            data, self._held = self._held, None
            self._transport.write(data)

    def __getattr__(self, name: str) -> object:  # is_closing, get_extra_info, …: the transport's own
        return getattr(self._transport, name)


class GatewayHttpToolsProtocol(HttpToolsProtocol):
    header_timeout: float = ServerLimits.header_timeout

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._head_pending = True  # no request head yet: it must arrive within header_timeout
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        if getattr(self, "_header_timer", None) is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._header_timeout_fired)

    def _disarm_header_timer(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def _header_timeout_fired(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or not self._head_pending:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered (a pipelined head waits for it); re-armed when it is done
        self._answer_and_close(
            GatewayError(
                f"the request headers did not arrive within {self.header_timeout:g} s",
                status=408,
                type="request_timeout",
            )
        )

    def _answer_and_close(self, exc: GatewayError) -> None:
        self._disarm_header_timer()
        self.transport.write(_raw_response(exc))
        self.transport.close()

    # --- parser callbacks -----------------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_pending = True
        self._arm_header_timer()  # keeps the connection's deadline when this is its first request

    def on_headers_complete(self) -> None:
        self._head_pending = False
        self._disarm_header_timer()
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None:
            cycle.transport = _HeadJoinsBody(self.transport, cycle)  # type: ignore[assignment]

    def on_response_complete(self) -> None:
        cycle = self.cycle
        if cycle is not None and isinstance(cycle.transport, _HeadJoinsBody):
            cycle.transport.flush_held()  # nothing is held once a body was written; this is the safety net
        super().on_response_complete()
        if self._head_pending and not self.transport.is_closing():
            self._arm_header_timer()  # a pipelined head that is still incomplete

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserInvalidMethodError:
            self._answer_and_close(MethodNotAllowed("the HTTP method of this request is not supported"))
        except httptools.HttpParserError as exc:
            self.send_400_response(str(exc) or "invalid HTTP request")
        except httptools.HttpParserUpgrade:
            self._unsupported_upgrade_warning()  # no WebSocket here: answered as plain HTTP, as uvicorn does

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        self._answer_and_close(InvalidRequest(f"malformed HTTP request: {msg.rstrip('.')}"))


class DirectBody:
    """The started chunked body of one response cycle (uvicorn's ``RequestResponseCycle``), written straight to its
    transport: the bytes its ``send`` writes for a body piece, in the same order, without the ASGI round of a
    stream's every chunk (the message dictionary, the coroutine, and send's checks of the message type and state;
    GatewayApp._serve). Held by the request's stream only, never by the cycle's own objects (no reference cycle)."""

    __slots__ = ("_cycle",)

    def __init__(self, cycle: RequestResponseCycle) -> None:
        self._cycle = cycle

    def ready(self) -> bool:
        """Whether a piece may be written here now; False when only ``send`` may write: the transport's writing is
        paused by a slow client, the client has gone, or the response is not a chunked one in progress."""
        cycle = self._cycle
        return (
            cycle.chunked_encoding is True
            and not cycle.flow.write_paused
            and not cycle.disconnected
            and not cycle.response_complete
        )

    def write(self, piece: bytes) -> None:
        """One non-empty piece as one HTTP chunk (the caller has seen ``ready()``)."""
        self._cycle.transport.write(b"%x\r\n%b\r\n" % (len(piece), piece))


def direct_body(send: Any) -> DirectBody | None:
    """For the ``send`` of one of this protocol's response cycles, its body written straight (``DirectBody``); None
    for any other ``send``."""
    cycle = getattr(send, "__self__", None)
    return DirectBody(cycle) if isinstance(cycle, RequestResponseCycle) else None


def protocol_class(limits: ServerLimits) -> type[GatewayHttpToolsProtocol]:
    return type(
        "ConfiguredGatewayHttpToolsProtocol", (GatewayHttpToolsProtocol,), {"header_timeout": limits.header_timeout}
    )
