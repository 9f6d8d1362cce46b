"""asgi_httptools._HeadJoinsBody: a whole answer's head leaves with its body (one send), a stream's head, a HEAD
answer's head and a 100 Continue leave at once, and nothing held is lost when the connection closes."""

from __future__ import annotations

from types import SimpleNamespace

from regiongate.gateway.runtime.asgi_httptools import _HeadJoinsBody


class Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def _cycle(*, chunked: bool | None, length: int = 0, method: str = "POST", started: bool = True) -> SimpleNamespace:
    return SimpleNamespace(
        response_started=started, chunked_encoding=chunked, expected_content_length=length, scope={"method": method}
    )


def test_a_head_with_a_content_length_leaves_with_the_body_in_one_write() -> None:
    transport, cycle = Transport(), _cycle(chunked=False, length=4)
    joined = _HeadJoinsBody(transport, cycle)
    joined.write(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n")
    assert transport.writes == []
    joined.write(b"body")
    assert transport.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nbody"]
    joined.write(b"more")  # later writes go straight through
    assert transport.writes[-1] == b"more"


def test_a_streamed_head_leaves_at_once() -> None:
    transport = Transport()
    joined = _HeadJoinsBody(transport, _cycle(chunked=True))
    joined.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    assert transport.writes == [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"]


def test_the_head_of_a_head_answer_or_an_empty_body_leaves_at_once() -> None:
    for cycle in (_cycle(chunked=False, length=120, method="HEAD"), _cycle(chunked=False, length=0)):
        transport = Transport()
        _HeadJoinsBody(transport, cycle).write(b"HTTP/1.1 200 OK\r\n\r\n")
        assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\n"]


def test_a_100_continue_before_the_response_is_not_taken_for_the_head() -> None:
    transport, cycle = Transport(), _cycle(chunked=None, started=False)
    joined = _HeadJoinsBody(transport, cycle)
    joined.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    cycle.response_started, cycle.chunked_encoding, cycle.expected_content_length = True, False, 2
    joined.write(b"HEAD")
    joined.write(b"ok")
    assert transport.writes[1:] == [b"HEADok"]


def test_a_held_head_leaves_before_the_connection_closes_and_on_flush() -> None:
    transport = Transport()
    joined = _HeadJoinsBody(transport, _cycle(chunked=False, length=9))
    joined.write(b"HEAD")
    joined.close()  # the application failed after starting the answer: the client still gets what was sent
    assert transport.writes == [b"HEAD"] and transport.closed
    transport = Transport()
    joined = _HeadJoinsBody(transport, _cycle(chunked=False, length=9))
    joined.write(b"HEAD")
    joined.flush_held()
    joined.flush_held()
    assert transport.writes == [b"HEAD"]
    assert joined.is_closing() is False  # everything else is the transport's own


def test_the_cycle_is_let_go_once_the_head_is_seen() -> None:
    # The cycle holds this transport: a reference back would make every request's cycle garbage for the cyclic
    # collector instead of freed on the spot.
    import gc

    cycle = _cycle(chunked=True)
    joined = _HeadJoinsBody(Transport(), cycle)
    assert cycle in gc.get_referents(joined)
    joined.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    assert cycle not in gc.get_referents(joined)
