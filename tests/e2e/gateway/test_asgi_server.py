"""The production HTTP server (uvicorn + GatewayApp, what `regiongate serve` and the container run), in
process on a thread: SSE relayed as it arrives with the official ``openai`` client, a client disconnect that
stops the upstream and is recorded with the tokens streamed, header/body deadlines, 413 before the body,
JSON for HEAD/OPTIONS/unknown methods and malformed HTTP, keep-alive, bounded concurrency, graceful shutdown.

Assertions are on the order of events (a fake upstream that pauses on a gate), never on elapsed time."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time

import openai
import pytest

from regiongate.gateway.runtime.asgi import ServerLimits
from regiongate.gateway.runtime.local import GatewayHTTPServer
from regiongate.store.memory import MemoryStore
from tests.fixtures.fakes import FakeOpenAI
from tests.fixtures.gateway import make_gateway, new_key

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}


class EndlessOpenAI(FakeOpenAI):
    """Streams one word, waits for ``gate``, then one word at a time until the gateway closes the connection
    (seen as EOF on the socket or a failed write), at most ``limit`` words; records how it ended."""

    def __init__(self, limit: int = 400) -> None:
        super().__init__(reply="w")
        self.limit = limit
        self.gate = threading.Event()
        self.ended = threading.Event()
        self.closed_by_gateway = False
        self.sent = 0

    def stream(self, handler) -> None:
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream")
        handler.send_header("transfer-encoding", "chunked")
        handler.end_headers()
        base = {"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1, "model": "up"}

        def emit(content: str) -> None:
            chunk = {**base, "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
            data = b"data: " + json.dumps(chunk).encode() + b"\n\n"
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            handler.wfile.flush()
            self.sent += 1

        def peer_closed() -> bool:
            readable, _, _ = select.select([handler.connection], [], [], 0.05)
            return bool(readable) and handler.connection.recv(1, socket.MSG_PEEK) == b""

        try:
            emit("w0")
            self.gate.wait(timeout=30)
            while self.sent < self.limit:
                emit(f" w{self.sent}")
                if peer_closed():
                    self.closed_by_gateway = True
                    return
            handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.closed_by_gateway = True
        finally:
            self.ended.set()


@contextlib.contextmanager
def running(gateway, limits: ServerLimits = ServerLimits()):
    server = GatewayHTTPServer(("127.0.0.1", 0), gateway, limits)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown(timeout=30)
        thread.join(timeout=30)
        server.server_close()


def gateway_over(eu_runtime, upstream):
    """A gateway on a MemoryStore with ``upstream`` as its Azure, its audit sink, and a key of its store."""
    store = MemoryStore()
    gateway, sink = make_gateway(eu_runtime, store, azure=upstream)
    return gateway, sink, new_key(store)


@pytest.fixture
def world(eu_runtime):
    azure = FakeOpenAI(reply="Bonjour from Azure")
    gateway, sink, key = gateway_over(eu_runtime, azure)
    yield gateway, sink, azure, key
    azure.close()


def read_response(sock: socket.socket, no_body: bool = False) -> bytes:
    """One response with a Content-Length (every answer of these tests has one), or what came before EOF.
    ``no_body``: the answer to HEAD (its Content-Length is that of the body a GET would have)."""
    data = b""
    while True:
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            lengths = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
            length = int(lengths[0].split(b":")[1]) if lengths else 0
            if no_body:
                return data
            if len(body) >= length:
                return data
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            return data
        if not chunk:
            return data
        data += chunk


def raw_exchange(port: int, payload: bytes, timeout: float = 20, no_body: bool = False) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        return read_response(sock, no_body)


def json_body(reply: bytes) -> dict:
    return json.loads(reply.partition(b"\r\n\r\n")[2])


def test_tokens_reach_the_openai_client_before_the_upstream_has_finished(world):
    gateway, sink, azure, key = world
    azure.gate = threading.Event()
    with running(gateway) as (_, base):
        client = openai.OpenAI(api_key=key, base_url=base + "/v1", max_retries=0, timeout=30)
        try:
            stream = client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **CHAT)
            first = next(c for c in stream if c.choices and c.choices[0].delta.content)
            assert first.choices[0].delta.content == "Bonjour"
            assert not azure.gate.is_set() and not azure.gate_timed_out  # the upstream is still paused
            azure.gate.set()
            rest = list(stream)
        finally:
            azure.gate.set()
        assert "".join(c.choices[0].delta.content or "" for c in rest if c.choices) == " from Azure"
        assert rest[-1].usage.completion_tokens == 5 and not azure.gate_timed_out
    [event] = sink.events
    assert (event["status"], event["stream"], event["output_tokens"]) == (200, True, 5)


def record_direct_bodies(server) -> tuple[list[bytes], threading.Event]:
    """The server's own direct bodies (``asgi_httptools.direct_body``), wrapped: every piece written straight to a
    connection is kept, and the event is set once a body was not ready for a piece (only send could write it)."""
    writes: list[bytes] = []
    not_ready = threading.Event()
    make_body = server.app.direct_body

    class Recording:
        def __init__(self, send):
            body = make_body(send)
            assert body is not None  # the server's own sends: pieces may go straight to the connection
            self.body = body

        def ready(self) -> bool:
            ready = self.body.ready()
            if not ready:
                not_ready.set()
            return ready

        def write(self, piece: bytes) -> None:
            writes.append(piece)
            self.body.write(piece)

    server.app.direct_body = Recording
    return writes, not_ready


class BurstOpenAI(FakeOpenAI):
    """Sends the opening and three words in one write, then waits for ``gate``, then the rest in one write."""

    def __init__(self) -> None:
        super().__init__(reply="")
        self.gate = threading.Event()

    def stream(self, handler) -> None:
        base = {"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1, "model": "up"}

        def event(delta: dict, finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return b"data: " + json.dumps({**base, "choices": [choice]}).encode() + b"\n\n"

        def write(data: bytes) -> None:
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            handler.wfile.flush()

        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream")
        handler.send_header("transfer-encoding", "chunked")
        handler.end_headers()
        write(event({"role": "assistant", "content": ""}) + b"".join(event({"content": w}) for w in ("a", " b", " c")))
        self.gate.wait(timeout=30)
        write(event({"content": " d"}) + event({}, "stop") + b"data: [DONE]\n\n")
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()


def test_the_events_of_one_upstream_read_leave_in_one_write_before_the_stream_waits(eu_runtime):
    """Three words in one upstream write reach the client in one write, and before the upstream sends more (the
    stream's pieces are written when it is about to wait, never held behind its next read)."""
    upstream = BurstOpenAI()
    gateway, _, key = gateway_over(eu_runtime, upstream)
    try:
        with running(gateway) as (server, base):
            writes, _ = record_direct_bodies(server)
            client = openai.OpenAI(api_key=key, base_url=base + "/v1", max_retries=0, timeout=30)
            stream = client.chat.completions.create(stream=True, **CHAT)
            words = []
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    words.append(chunk.choices[0].delta.content)
                if len(words) == 3:
                    break
            assert words == ["a", " b", " c"] and not upstream.gate.is_set()  # all three before the rest was sent
            upstream.gate.set()
            rest = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    finally:
        upstream.gate.set()
        upstream.close()
    assert rest == [" d"]
    [first_read] = [w for w in writes if b'"content":"a"' in w]
    # the three words in one write (with the gateway's opening chunk too, when the upstream's bytes came with its head)
    assert b'"content":" b"' in first_read and b'"content":" c"' in first_read
    assert b'"content":" d"' not in first_read


def test_answered_requests_leave_no_garbage_for_the_cyclic_collector(world):
    # A request's response cycle in a reference cycle is freed only by the cyclic collector, whose pauses fall on
    # every request in flight; answered requests must be freed as soon as they are done.
    import gc

    from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

    gateway, _, _, key = world
    body = json.dumps(CHAT).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {key}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode()
    with (
        running(gateway) as (server, _),
        socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=20) as sock,
    ):
        sock.sendall(head + body)
        assert read_response(sock).startswith(b"HTTP/1.1 200")  # first request: caches and pools filled
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.disable()
        try:
            for _ in range(20):
                sock.sendall(head + body)
                assert read_response(sock).startswith(b"HTTP/1.1 200")
            gc.collect()
            cycles = [o for o in gc.garbage if isinstance(o, RequestResponseCycle)]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
    assert cycles == []


def test_client_disconnect_stops_the_upstream_and_records_the_tokens_streamed(eu_runtime):
    upstream = EndlessOpenAI()
    gateway, sink, key = gateway_over(eu_runtime, upstream)
    try:
        with running(gateway) as (_, base):
            client = openai.OpenAI(api_key=key, base_url=base + "/v1", max_retries=0, timeout=30)
            stream = client.chat.completions.create(stream=True, **CHAT)
            first = next(c for c in stream if c.choices and c.choices[0].delta.content)
            assert first.choices[0].delta.content == "w0"
            stream.close()  # the client goes away mid-answer
            upstream.gate.set()
            assert upstream.ended.wait(timeout=60)
            assert upstream.closed_by_gateway and upstream.sent < upstream.limit  # the gateway hung up
            deadline = time.monotonic() + 30
            while not sink.events and time.monotonic() < deadline:
                time.sleep(0.01)
    finally:
        upstream.gate.set()
        upstream.close()
    [event] = sink.events
    assert (event["status"], event["error_type"], event["stream"]) == (499, "client_closed_request", True)
    # Usage never came (the stream was cut): the gateway charges the prompt's estimate and each relayed delta.
    assert event["input_tokens"] == 1 and 1 <= event["output_tokens"] <= upstream.sent
    assert float(event["cost_usd"]) > 0


def test_a_client_reading_slower_than_the_stream_gets_every_chunk_in_order(eu_runtime):
    """Chunks go straight to the connection while it takes them (``asgi_httptools.DirectBody``); once a client that
    does not read has filled the buffers, the transport pauses writing, the body is not ready and the stream waits
    in ``send`` for the client. Read at last, every chunk arrives, once and in order, then the end."""
    words = [f"{i:05d}" + "x" * 4000 for i in range(2000)]  # 8 MB: more than every buffer on the way holds
    upstream = FakeOpenAI(reply=" ".join(words))
    gateway, sink, key = gateway_over(eu_runtime, upstream)
    body = json.dumps({**CHAT, "stream": True}).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer %s\r\n"
        b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (key.encode(), len(body), body)
    )
    try:
        with running(gateway) as (server, _):
            _, declined = record_direct_bodies(server)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.settimeout(60)
                sock.connect(("127.0.0.1", server.server_address[1]))
                sock.sendall(request)
                assert declined.wait(timeout=60), "the client never held the stream up"
                pieces: list[bytes] = []
                tail = b""
                while not tail.endswith(b"0\r\n\r\n"):
                    piece = sock.recv(1 << 20)
                    assert piece, "the stream ended before its last chunk"
                    pieces.append(piece)
                    tail = (tail + piece)[-16:]
                received = b"".join(pieces)
    finally:
        upstream.close()
    events = [json.loads(line[6:]) for line in decode_chunked(received).split(b"\n") if line.startswith(b"data: {")]
    texts = [c["choices"][0]["delta"].get("content") for c in events if c["choices"]]
    assert "".join(t for t in texts if t) == " ".join(words)
    assert decode_chunked(received).endswith(b"data: [DONE]\n\n")
    deadline = time.monotonic() + 30
    while not sink.events and time.monotonic() < deadline:
        time.sleep(0.01)
    [event] = sink.events
    assert event["status"] == 200 and event["output_tokens"] > 0


def decode_chunked(raw: bytes) -> bytes:
    """The body of one HTTP/1.1 response with chunked transfer encoding (its head dropped)."""
    at = raw.index(b"\r\n\r\n") + 4
    pieces = []
    while True:
        end = raw.index(b"\r\n", at)
        size = int(raw[at:end], 16)
        if size == 0:
            return b"".join(pieces)
        pieces.append(raw[end + 2 : end + 2 + size])
        at = end + 4 + size


def gateway_threads() -> list[str]:
    """The process's threads, less the fake upstream's (one per connection, ThreadingHTTPServer's)."""
    return [t.name for t in threading.enumerate() if "process_request_thread" not in t.name]


def test_open_streams_hold_no_thread_each_and_all_finish(world):
    """Forty streams paused mid-answer at once: the server holds them on its event loop (the service in one
    greenlet each), not on forty threads; released, every one ends complete and is recorded once."""
    gateway, sink, azure, key = world
    azure.gate = threading.Event()
    count = 40
    body = json.dumps({**CHAT, "stream": True}).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer %s\r\n"
        b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (key.encode(), len(body), body)
    )
    with running(gateway) as (server, base):
        before = gateway_threads()
        sockets = [socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=30) for _ in range(count)]
        try:
            received = [b""] * count
            for sock in sockets:
                sock.sendall(request)
            for i, sock in enumerate(sockets):  # every stream has its first word: all forty are open now
                while b"Bonjour" not in received[i]:
                    received[i] += sock.recv(65536)
            during = gateway_threads()
            assert server.app.active == count
            azure.gate.set()
            for i, sock in enumerate(sockets):
                while not received[i].endswith(b"0\r\n\r\n"):
                    piece = sock.recv(65536)
                    assert piece, "the stream ended before its last chunk"
                    received[i] += piece
        finally:
            azure.gate.set()
            for sock in sockets:
                sock.close()
    # A thread per stream would add forty; the loop's helpers (blocking calls, log writer) are a handful at most.
    assert len(during) - len(before) < 8, sorted(set(during) - set(before))
    assert all(b"data: [DONE]" in r and b" Azure" in r for r in received)
    deadline = time.monotonic() + 30
    while len(sink.events) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(sink.events) == count and {e["status"] for e in sink.events} == {200}


def test_http_edges_are_answered_as_openai_json(world):
    gateway, _, _, key = world
    limits = ServerLimits(header_timeout=0.3, body_timeout=0.3)
    with running(gateway, limits) as (server, _):
        port = server.server_address[1]

        reply = raw_exchange(port, b"OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 405") and json_body(reply)["error"]["type"] == "method_not_allowed"
        reply = raw_exchange(port, b"BREW /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 405") and b"application/json" in reply
        reply = raw_exchange(port, b"HEAD /v1/models HTTP/1.1\r\nHost: x\r\n\r\n", no_body=True)
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 405") and b"content-type: application/json" in head and body == b""

        reply = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 400") and json_body(reply)["error"]["type"] == "invalid_request_error"

        # 413 from the announced length alone: not a byte of the body is sent.
        reply = raw_exchange(
            port,
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n",
        )
        assert reply.startswith(b"HTTP/1.1 413") and json_body(reply)["error"]["type"] == "request_too_large"

        # A Content-Length above the body sent, and a head that never ends: 408, connection closed.
        reply = raw_exchange(port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        assert reply.startswith(b"HTTP/1.1 408") and json_body(reply)["error"]["type"] == "request_timeout"
        reply = raw_exchange(port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        assert reply.startswith(b"HTTP/1.1 408") and b"request headers" in reply

        # Keep-alive: two requests on one connection.
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            request = f"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\r\n".encode()
            for _ in range(2):
                sock.sendall(request)
                head, _, body = read_response(sock).partition(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200") and json.loads(body)["object"] == "list"


def test_http_edges_on_the_messages_paths_are_answered_in_anthropics_envelope(world):
    """The server's own refusals (before the service sees the request) choose the envelope by path, too."""
    gateway, _, _, key = world
    limits = ServerLimits(header_timeout=0.3, body_timeout=0.3)

    def anthropic(reply: bytes, status: int, error_type: str) -> dict:
        assert reply.startswith(b"HTTP/1.1 %d" % status), reply[:200]
        body = json_body(reply)
        assert body["type"] == "error" and set(body["error"]) == {"type", "message"}, body
        assert body["error"]["type"] == error_type, body
        return body

    with running(gateway, limits) as (server, _):
        port = server.server_address[1]
        reply = raw_exchange(port, b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n")
        anthropic(reply, 413, "invalid_request_error")
        reply = raw_exchange(
            port, b"POST /v1/messages/count_tokens HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
        )
        anthropic(reply, 408, "timeout_error")
        chunked = b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        anthropic(raw_exchange(port, chunked), 400, "invalid_request_error")
        reply = raw_exchange(port, f"GET /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: {key}\r\n\r\n".encode())
        anthropic(reply, 405, "invalid_request_error")
        assert b"\r\nallow: POST\r\n" in reply.partition(b"\r\n\r\n")[0]
        bad = b"{not json"
        head = f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: {key}\r\nContent-Length: {len(bad)}\r\n\r\n"
        anthropic(raw_exchange(port, head.encode() + bad), 400, "invalid_request_error")
        # The chat path next to it keeps OpenAI's.
        reply = raw_exchange(port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n")
        assert json_body(reply)["error"]["code"] == "request_too_large"


def test_requests_beyond_the_concurrency_limit_get_503(world):
    gateway, _, azure, key = world
    azure.gate = threading.Event()
    with running(gateway, ServerLimits(max_concurrency=1, queue_timeout=0.2)) as (_, base):
        client = openai.OpenAI(api_key=key, base_url=base + "/v1", max_retries=0, timeout=30)
        try:
            stream = client.chat.completions.create(stream=True, **CHAT)
            next(c for c in stream if c.choices and c.choices[0].delta.content)  # holds the only worker
            with pytest.raises(openai.InternalServerError, match="limit of 1 requests at once") as refused:
                client.chat.completions.create(**CHAT)
            assert refused.value.status_code == 503
            azure.gate.set()
            assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == " from Azure"
        finally:
            azure.gate.set()
        assert client.chat.completions.create(**CHAT).choices[0].message.content == "Bonjour from Azure"


def test_graceful_shutdown_stops_accepting_and_lets_the_stream_finish(world):
    gateway, sink, azure, key = world
    azure.gate = threading.Event()
    server = GatewayHTTPServer(("127.0.0.1", 0), gateway, ServerLimits(graceful_shutdown=60))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.server_address[1]
    stopper = None
    try:
        client = openai.OpenAI(api_key=key, base_url=f"http://127.0.0.1:{port}/v1", max_retries=0, timeout=30)
        stream = client.chat.completions.create(stream=True, **CHAT)
        next(c for c in stream if c.choices and c.choices[0].delta.content)
        stopper = threading.Thread(target=server.shutdown, kwargs={"timeout": 60})
        stopper.start()
        deadline = time.monotonic() + 30
        refused = False
        while not refused and time.monotonic() < deadline:  # the listener closes first
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                time.sleep(0.02)
            except ConnectionRefusedError:
                refused = True
        assert refused and thread.is_alive()  # no new connections; the stream is still being served
        azure.gate.set()
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == " from Azure"
        stopper.join(timeout=60)
        thread.join(timeout=60)
        assert not thread.is_alive()
    finally:
        azure.gate.set()
        if stopper is not None:
            stopper.join(timeout=60)
        server.shutdown(timeout=60)
        server.server_close()
    assert [e["status"] for e in sink.events] == [200]


def test_expect_100_continue_then_a_whole_answer_in_one_piece_and_a_stream_head_at_once(world):
    """A client that asks ``Expect: 100-continue`` gets the interim answer before it sends the body, then the whole
    answer (asgi_httptools._HeadJoinsBody holds a head for its body, never a 100 Continue); a stream's head
    reaches the client while the upstream still holds the rest of its stream."""
    gateway, sink, azure, key = world
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    with running(gateway) as (server, _):
        with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=20) as sock:
            sock.sendall(head)
            interim = b""
            while b"\r\n\r\n" not in interim:
                piece = sock.recv(65536)
                assert piece, "the connection closed before the interim answer"
                interim += piece
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            sock.sendall(body)
            reply = read_response(sock)
        assert reply.startswith(b"HTTP/1.1 200") and json_body(reply)["choices"][0]["message"]["content"] == (
            "Bonjour from Azure"
        )

        azure.gate = threading.Event()  # the upstream holds its stream until released
        stream_body = json.dumps({"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "Hi"}]})
        with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=20) as sock:
            sock.sendall(
                (
                    f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(stream_body)}\r\n\r\n{stream_body}"
                ).encode()
            )
            received = b""
            try:
                while b"\r\n\r\n" not in received:
                    piece = sock.recv(65536)
                    assert piece, "the connection closed before the stream's head"
                    received += piece
            finally:
                azure.gate.set()
            assert received.startswith(b"HTTP/1.1 200") and b"transfer-encoding: chunked" in received.lower()
