"""asgi_httptools.chunk_writer: a piece written straight to the connection is what uvicorn's send writes for it;
it declines where only send may write, and there is no writer for a send that is not a response cycle's."""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from regiongate.gateway.runtime.asgi_httptools import chunk_writer


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
    write = chunk_writer(direct.send)
    assert write is not None
    for piece in PIECES:
        asyncio.run(by_send.send({"type": "http.response.body", "body": piece, "more_body": True}))
        assert write(piece) is True
    assert written.writes == sent.writes and len(written.writes) == 1 + len(PIECES)


def test_it_declines_where_only_send_may_write() -> None:
    cycle, transport = _started_stream()
    write = chunk_writer(cycle.send)
    assert write is not None
    assert write(b"") is False  # an empty piece would end a chunked body
    cycle.flow.write_paused = True  # the client reads slower than the stream comes: send waits for it
    assert write(b"a") is False
    cycle.flow.write_paused = False
    cycle.disconnected = True
    assert write(b"a") is False
    cycle.disconnected = False
    asyncio.run(cycle.send({"type": "http.response.body", "body": b"", "more_body": False}))
    assert write(b"a") is False  # the response is complete
    head_cycle, _ = _started_stream(method="HEAD")  # not chunked: send knows what to write (nothing)
    head_write = chunk_writer(head_cycle.send)
    assert head_write is not None and head_write(b"a") is False
    assert len(transport.writes) == 2  # the head and the end, both by send


def test_there_is_no_writer_for_another_send() -> None:
    async def send(message: object) -> None: ...

    assert chunk_writer(send) is None
