"""The served gateway's upstream HTTP client (``providers.cooperative_http`` through ``HttpClient``) against
loopback servers: keep-alive reuse, a stale idle connection retried once, chunked SSE read as it arrives, a
stream cut mid-way, a stalled answer, malformed HTTP, a refused connection, and the read-ahead bound.

Each test runs the provider code in a request greenlet (``cooperative.run``) on a fresh event loop, the way
``regiongate serve`` and the container run it. No assertion is on a duration."""

from __future__ import annotations

import asyncio
import json

import pytest

from regiongate.contract.errors import UpstreamError, UpstreamTimeout
from regiongate.gateway.runtime import cooperative
from regiongate.gateway.runtime.providers import cooperative_http
from regiongate.gateway.runtime.providers.base import UpstreamTimer
from regiongate.gateway.runtime.providers.openai_http import AzureOpenAIProvider, HttpClient


def json_answer(obj: dict, *, close: bool = False) -> bytes:
    body = json.dumps(obj).encode()
    extra = b"connection: close\r\n" if close else b""
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        + extra
        + b"content-length: %d\r\n\r\n%s"
        % (
            len(body),
            body,
        )
    )


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


class Upstream:
    """A loopback server answering each request with ``answer(n)`` (n counts requests), on the test's loop."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests = 0
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(
                    next(
                        v
                        for k, _, v in (l.partition(b":") for l in head.split(b"\r\n"))
                        if k.lower() == b"content-length"
                    )
                )
                await reader.readexactly(length)
                self.requests += 1
                keep = await self.answer(self.requests, writer)
                await writer.drain()
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


def served(answer, work):
    """Start the upstream, run ``work(client, base)`` in a request greenlet, return what it returns and the upstream."""

    async def main():
        upstream = Upstream(answer)
        base = await upstream.start()
        client = HttpClient(base, (2.0, 2.0))
        try:
            return await cooperative.run(work, client), upstream
        finally:
            cooperative_http.pool_for(client.scheme, client.host, client.port).close()
            await upstream.stop()

    return asyncio.run(main())


def post_json(client: HttpClient) -> dict:
    response = client.post("/chat/completions", {"n": 1}, {"authorization": "Bearer k"})
    body = json.loads(response.read())
    client.finish(response)
    return {"status": response.status, **body}


def test_answers_are_read_and_the_connection_is_kept_for_the_next_request():
    async def answer(n, writer):
        writer.write(json_answer({"answer": n}))
        return True

    results, upstream = served(answer, lambda client: [post_json(client) for _ in range(3)])
    assert results == [{"status": 200, "answer": 1}, {"status": 200, "answer": 2}, {"status": 200, "answer": 3}]
    assert upstream.connections == 1 and upstream.requests == 3


def test_an_idle_connection_the_upstream_closed_is_retried_once_on_a_new_one():
    async def answer(n, writer):
        writer.write(json_answer({"answer": n}))
        return False  # closes after each answer without saying so (no "connection: close")

    def work(client):
        first = post_json(client)
        cooperative.sleep(0.05)  # the close reaches the idle connection (an order, not a timing assertion)
        return first, post_json(client)

    (first, second), upstream = served(answer, work)
    assert first["answer"] == 1 and second["answer"] == 2
    assert upstream.connections == 2


def test_a_connection_the_upstream_announces_it_closes_is_not_reused():
    async def answer(n, writer):
        writer.write(json_answer({"answer": n}, close=True))
        return False

    results, upstream = served(answer, lambda client: [post_json(client) for _ in range(2)])
    assert [r["answer"] for r in results] == [1, 2] and upstream.connections == 2


def sse_provider(client: HttpClient) -> AzureOpenAIProvider:
    provider = object.__new__(AzureOpenAIProvider)
    provider.http = client
    return provider


def test_a_chunked_stream_is_read_event_by_event_and_keeps_its_connection():
    async def answer(n, writer):
        writer.write(SSE_HEAD)
        for i in range(3):
            writer.write(chunk(b'data: {"i": %d}\n\n' % i))
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        return True

    def work(client):
        events = []
        for _ in range(2):
            response = client.post("/chat/completions", {"stream": True}, {}, stream=True)
            events.append(list(sse_provider(client)._sse(response, UpstreamTimer())))
        return events

    events, upstream = served(answer, work)
    assert events == [[{"i": 0}, {"i": 1}, {"i": 2}]] * 2
    assert upstream.connections == 1


def test_a_stream_cut_mid_way_is_an_upstream_error():
    async def answer(n, writer):
        writer.write(SSE_HEAD + chunk(b'data: {"i": 0}\n\n'))
        return False  # the connection closes before [DONE] and the last chunk

    def work(client):
        received = []
        response = client.post("/chat/completions", {"stream": True}, {}, stream=True)
        try:
            for event in sse_provider(client)._sse(response, UpstreamTimer()):
                received.append(event)
        except UpstreamError as exc:
            return received, str(exc)
        return received, None

    (received, error), _ = served(answer, work)
    assert received == [{"i": 0}]
    assert error is not None and "connection broke while streaming" in error


def test_an_upstream_that_stops_answering_is_a_timeout_not_a_hang():
    async def answer(n, writer):
        await asyncio.sleep(3600)
        return False

    def work(client):
        client.read_timeout = 0.2
        with pytest.raises(UpstreamTimeout, match="did not answer in time"):
            client.post("/chat/completions", {}, {})
        return "timed out"

    result, _ = served(answer, work)
    assert result == "timed out"


def test_malformed_http_is_an_upstream_error():
    async def answer(n, writer):
        writer.write(b"HTTP/1.1 two hundred\r\n\r\n")
        return False

    def work(client):
        with pytest.raises(UpstreamError, match="answered with malformed HTTP"):
            client.post("/chat/completions", {}, {})
        return "refused"

    assert served(answer, work)[0] == "refused"


def test_a_refused_connection_is_a_retryable_upstream_error():
    def work(client):
        client.port = 9  # discard: nothing listens on loopback
        try:
            client.post("/x", {}, {})
        except UpstreamError as exc:
            return str(exc), exc.retryable
        return None

    async def main():
        return await cooperative.run(work, HttpClient("http://127.0.0.1:9", (1.0, 1.0)))

    message, retryable = asyncio.run(main())
    assert "could not connect to the provider" in message and retryable


def test_a_reader_slower_than_the_stream_pauses_the_socket_instead_of_buffering_without_bound():
    class Transport:
        paused = resumed = 0

        def pause_reading(self):
            self.paused += 1

        def resume_reading(self):
            self.resumed += 1

    connection = cooperative_http._Connection()
    connection.connection_made(Transport())
    connection.data_received(SSE_HEAD)
    piece = chunk(b"x" * 65536)
    for _ in range(cooperative_http.READ_AHEAD_BYTES // 65536 + 1):
        connection.data_received(piece)
    assert connection.transport.paused == 1
    assert connection.buffered > cooperative_http.READ_AHEAD_BYTES
    assert len(connection.take()) == 65536 * (cooperative_http.READ_AHEAD_BYTES // 65536 + 1)
    assert connection.transport.resumed == 1 and connection.buffered == 0


def test_one_read_timer_serves_a_connections_waits_and_a_stall_after_them_still_times_out():
    """``_Connection.wait`` keeps one timer per connection (re-armed only for an earlier deadline) instead of one
    armed and cancelled per relayed chunk; a stall after many woken waits, or a wait shorter than the armed
    timer, still ends in TimeoutError."""
    connection = cooperative_http._Connection()

    def work():
        loop = asyncio.get_running_loop()
        timers = set()
        for _ in range(20):  # each wait is woken by data 1 ms later, long before its 30 s timeout
            loop.call_later(0.001, connection._waiting.wake)
            connection.wait(30)
            timers.add(id(connection._timer))
        outcomes = []
        for timeout in (0.05, 30, 0.05):  # the last is shorter than the timer the 30 s wait left armed
            if timeout == 30:
                loop.call_later(0.001, connection._waiting.wake)
            try:
                connection.wait(timeout)
                outcomes.append("woken")
            except TimeoutError:
                outcomes.append("timed out")
        return len(timers), outcomes

    async def main():
        return await asyncio.wait_for(cooperative.run(work), 20)  # a missed timeout fails here, not in a hang

    armed, outcomes = asyncio.run(main())
    assert armed == 1
    assert outcomes == ["timed out", "woken", "timed out"]
    connection.close()
    assert connection._timer is None


def test_each_loop_has_its_own_pools_and_a_loop_keeps_them() -> None:
    """A connection belongs to the loop it was opened on: the same loop finds its pool again, another loop (also
    one created after the first has gone, or running at the same time on another thread) gets its own."""

    async def pools() -> tuple[object, object, object]:
        first = cooperative_http.pool_for("http", "127.0.0.1", 9)
        return (
            first,
            cooperative_http.pool_for("http", "127.0.0.1", 9),
            cooperative_http.pool_for("http", "127.0.0.1", 10),
        )

    first, again, other_port = asyncio.run(pools())
    assert again is first and other_port is not first
    later, _, _ = asyncio.run(pools())
    assert later is not first
    beside: list[object] = []

    async def hold_a_loop() -> None:
        beside.append(cooperative_http.pool_for("http", "127.0.0.1", 9))
        await asyncio.sleep(0)

    async def two_loops() -> object:
        mine = cooperative_http.pool_for("http", "127.0.0.1", 9)
        await asyncio.to_thread(asyncio.run, hold_a_loop())  # another thread's loop, while this one runs
        assert cooperative_http.pool_for("http", "127.0.0.1", 9) is mine
        return mine

    mine = asyncio.run(two_loops())
    assert beside[0] is not mine
