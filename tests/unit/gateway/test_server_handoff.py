"""The hand-offs of the served gateway, without a socket: the worker → event loop channel of
``regiongate.gateway.runtime.asgi`` and the SSE reader of the OpenAI-compatible providers.

The channel wakes the loop once for everything a worker put while the loop was busy (one wake-up per
response, chunks taken together), keeps the order, releases the request's slot exactly once when the worker
is done, and unblocks a worker waiting for credit when the client goes away. The SSE reader splits whatever
the connection returns into lines itself (events split across reads, several events in one read, a last
line without its newline). Nothing here is timed: the assertions are on order and counts."""

from __future__ import annotations

import asyncio
import http.client
import threading

import pytest

from regiongate.contract.errors import UpstreamError
from regiongate.gateway.runtime.asgi import _Channel
from regiongate.gateway.runtime.providers.base import UpstreamTimer
from regiongate.gateway.runtime.providers.openai_http import AzureOpenAIProvider, HttpClient


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def counting_wakes(loop, monkeypatch) -> list[int]:
    wakes: list[int] = []
    original = loop.call_soon_threadsafe

    def counted(callback, *args):
        wakes.append(1)
        return original(callback, *args)

    monkeypatch.setattr(loop, "call_soon_threadsafe", counted)
    return wakes


def test_everything_a_worker_puts_while_the_loop_is_busy_is_one_wake_up_in_order(loop, monkeypatch):
    wakes = counting_wakes(loop, monkeypatch)
    finished: list[str] = []
    channel = _Channel(loop, credit=8, on_finished=lambda: finished.append("slot released"))

    def worker() -> None:
        channel.put("start", "response")
        for piece in (b"a", b"b", b"c"):
            assert channel.wait_credit()
            channel.put("chunk", piece)
        channel.put("end")
        channel.finish()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()  # the loop is not running meanwhile: every put finds a wake-up already pending

    items = loop.run_until_complete(channel.take())
    loop.run_until_complete(asyncio.sleep(0))
    assert items == [("start", "response"), ("chunk", b"a"), ("chunk", b"b"), ("chunk", b"c"), ("end", None)]
    assert len(wakes) == 1
    assert finished == ["slot released"]


def test_take_waits_for_the_worker_and_the_slot_is_released_once(loop):
    finished: list[str] = []
    channel = _Channel(loop, credit=1, on_finished=lambda: finished.append("slot released"))
    go = threading.Event()

    def worker() -> None:
        go.wait(timeout=30)
        channel.put("start", "response")
        channel.finish()
        channel.finish()  # a second call must not release the slot twice

    async def first_take():
        thread.start()
        pending = asyncio.ensure_future(channel.take())
        await asyncio.sleep(0)
        assert not pending.done()  # nothing put yet
        go.set()
        return await asyncio.wait_for(pending, 30)

    thread = threading.Thread(target=worker)
    assert loop.run_until_complete(first_take()) == [("start", "response")]
    thread.join(timeout=30)
    loop.run_until_complete(asyncio.sleep(0))
    loop.run_until_complete(asyncio.sleep(0))
    assert finished == ["slot released"]


def test_cancel_unblocks_a_worker_waiting_for_credit_and_tells_it_to_stop(loop):
    channel = _Channel(loop, credit=1)
    assert channel.wait_credit()  # the one chunk in flight
    answers: list[bool] = []
    thread = threading.Thread(target=lambda: answers.append(channel.wait_credit()))
    thread.start()  # blocks: no credit left
    channel.cancel()
    thread.join(timeout=30)
    assert answers == [False]


def test_written_chunks_give_their_credit_back(loop):
    channel = _Channel(loop, credit=2)
    assert channel.wait_credit() and channel.wait_credit()
    channel.release(2)
    assert channel.credit.acquire(blocking=False) and channel.credit.acquire(blocking=False)
    assert not channel.credit.acquire(blocking=False)


def test_a_put_after_the_loop_is_gone_cancels_the_stream():
    loop = asyncio.new_event_loop()
    channel = _Channel(loop, credit=1)
    loop.close()
    channel.put("chunk", b"a")
    assert channel.cancelled.is_set()


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
