"""The SSE reader of the OpenAI-compatible providers, without a socket.

It splits whatever the connection returns into lines itself (events split across reads, several events in
one read, a last line without its newline), ends at ``[DONE]`` and keeps the connection, and drops the
connection of a stream cut before it. Nothing here is timed: the assertions are on order and counts."""

from __future__ import annotations

import http.client

import pytest

from regiongate.contract.errors import UpstreamError
from regiongate.gateway.runtime.providers.base import UpstreamTimer
from regiongate.gateway.runtime.providers.openai_http import AzureOpenAIProvider, HttpClient

# --- the SSE reader -----------------------------------------------------------------------------------------


class PiecesResponse:
    """``read1`` answers the given pieces in turn, then b"" (or raises ``error`` when one is given)."""

    def __init__(self, pieces: list[bytes], error: Exception | None = None) -> None:
        self.pieces = list(pieces)
        self.error = error
        self.reads = 0

    def read1(self, size: int) -> bytes:
        self.reads += 1
        if self.pieces:
            return self.pieces.pop(0)
        if self.error is not None:
            raise self.error
        return b""

    def read(self) -> bytes:
        return b""


class RecordingHttp(HttpClient):
    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:9", (1.0, 1.0))
        self.ended: list[str] = []

    def finish(self, response) -> None:
        self.ended.append("finished")

    def abandon(self) -> None:
        self.ended.append("abandoned")


def reader(response: PiecesResponse) -> tuple[list, RecordingHttp]:
    provider = object.__new__(AzureOpenAIProvider)
    provider.http = RecordingHttp()
    return list(provider._sse(response, UpstreamTimer())), provider.http


def test_sse_events_split_across_reads_and_several_in_one_read_are_all_relayed():
    response = PiecesResponse(
        [
            b'data: {"n": 1}\n\ndata: {"n"',  # one whole event and the start of the next
            b": 2}\r\n\r\n: a comment\n\n",
            b'data: {"n": 3}\n\ndata: {"n": 4}\n\ndata: [DONE]\n\n',
            b'data: {"n": 5}\n\n',  # after [DONE]: never relayed
        ]
    )
    chunks, http = reader(response)
    assert chunks == [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]
    assert http.ended == ["finished"]  # the connection stays open for the next request
    assert response.reads == 3


def test_a_last_done_line_without_its_newline_still_ends_the_stream():
    chunks, http = reader(PiecesResponse([b'data: {"n": 1}\n\n', b"data: [DONE]"]))
    assert chunks == [{"n": 1}] and http.ended == ["finished"]


@pytest.mark.parametrize(
    "response",
    [
        PiecesResponse([b'data: {"n": 1}\n\n']),  # the connection closed before [DONE]
        PiecesResponse([b'data: {"n": 1}\n\n'], error=http.client.IncompleteRead(b"")),  # a chunk cut short
        PiecesResponse([b'data: {"n": 1}\n\n'], error=ConnectionResetError()),
    ],
    ids=["eof", "incomplete_chunk", "reset"],
)
def test_a_stream_cut_before_done_is_an_upstream_error_and_drops_the_connection(response):
    provider = object.__new__(AzureOpenAIProvider)
    provider.http = RecordingHttp()
    received = []
    with pytest.raises(UpstreamError, match="connection broke while streaming"):
        for chunk in provider._sse(response, UpstreamTimer()):
            received.append(chunk)
    assert received == [{"n": 1}]
    assert provider.http.ended == ["abandoned"]


def test_before_read_sets_the_socket_timeout_only_when_it_changes():
    class Sock:
        def __init__(self) -> None:
            self.timeout: float | None = None
            self.set: list[float] = []

        def gettimeout(self) -> float | None:
            return self.timeout

        def settimeout(self, value: float) -> None:
            self.set.append(value)
            self.timeout = value

    class Conn:
        sock = Sock()

    now = [0.0]
    client = HttpClient("http://127.0.0.1:9", (1.0, 5.0))
    client._local.conn = Conn()
    timer = UpstreamTimer(deadline=100.0, monotonic=lambda: now[0])
    for _ in range(3):
        client.before_read(timer)  # 100 s left: the read timeout, 5 s, each time
    now[0] = 97.0
    client.before_read(timer)  # 3 s left: the timeout is cut to what is left
    assert Conn.sock.set == [5.0, 3.0]
