"""asgi_httptools.DirectBody: a piece written straight to the connection is what uvicorn's send writes for it; it
is not ready where only send may write, and there is none for a send that is not a response cycle's."""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from regiongate.gateway.runtime.asgi_httptools import direct_body


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.writes.append(bytes(data))

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


def _started_stream(method: str = "POST") -> tuple[RequestResponseCycle, Transport]:
    transport = Transport()
    cycle = RequestResponseCycle(
        scope={"type": "http", "method": method},  # type: ignore[typeddict-item]
        transport=transport,
        flow=FlowControl(transport),
        logger=logging.getLogger("test"),
        access_logger=logging.getLogger("test"),
        access_log=False,
        default_headers=[],
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=True,
        on_response=lambda: None,
    )
    asyncio.run(cycle.send({"type": "http.response.start", "status": 200, "headers": []}))
    return cycle, transport


PIECES = [b"data: {}\n\n", b"x" * 70_000, b"data: [DONE]\n\n"]


def test_a_piece_written_straight_is_what_send_writes_for_it() -> None:
    by_send, sent = _started_stream()
    direct, written = _started_stream()
    body = direct_body(direct.send)
    assert body is not None
    for piece in PIECES:
        asyncio.run(by_send.send({"type": "http.response.body", "body": piece, "more_body": True}))
        assert body.ready()
        body.write(piece)
    assert written.writes == sent.writes and len(written.writes) == 1 + len(PIECES)


def test_it_is_not_ready_where_only_send_may_write() -> None:
    cycle, transport = _started_stream()
    body = direct_body(cycle.send)
    assert body is not None and body.ready()
    cycle.flow.write_paused = True  # the client reads slower than the stream comes: send waits for it
    assert not body.ready()
    cycle.flow.write_paused = False
    cycle.disconnected = True
    assert not body.ready()
    cycle.disconnected = False
    assert body.ready()
    asyncio.run(cycle.send({"type": "http.response.body", "body": b"", "more_body": False}))
    assert not body.ready()  # the response is complete
    head_cycle, _ = _started_stream(method="HEAD")  # not chunked: send knows what to write (nothing)
    head_body = direct_body(head_cycle.send)
    assert head_body is not None and not head_body.ready()
    assert len(transport.writes) == 2  # the head and the end, both by send


def test_there_is_no_direct_body_for_another_send() -> None:
    async def send(message: object) -> None: ...

    assert direct_body(send) is None
