"""Streaming benchmark (`make bench`): N concurrent SSE streams through one `regiongate serve` process.

Method
- A loopback fake upstream (Azure OpenAI chat completions, `stream: true`) runs in its own process on asyncio:
  each answer is 200 content chunks spread evenly over 10 s (one every 50 ms), then a usage chunk and
  `data: [DONE]`, chunked transfer encoding, keep-alive. One asyncio.Protocol per connection parses the requests
  in data_received; every answer's bytes are encoded once; the opening goes out with token 0 at once, token i at
  start + i × 50 ms (the closing with the last), written from one loop timer for all connections (a queue in time
  order) rather than a coroutine and an asyncio.sleep per connection.
- `regiongate serve --region eu --upstream azure-weu=<fake>` (uvicorn, `regiongate.gateway.runtime.asgi`) runs
  in its own process on the local PostgreSQL (a throw-away database created for the run), as in
  bench_gateway.py.
- An asyncio client in this process opens N streams, spread evenly over a ramp (default 2 s), first straight
  to the fake upstream (baseline), then through the gateway. Per stream it records the time from sending
  the request to the first content token, and whether the stream was complete (HTTP 200, all 200 content
  chunks, `[DONE]`); anything else is an error. Each stream is an asyncio.BufferedProtocol on a raw socket
  (``_Stream``: it parses the head and counts the tokens as the bytes come, one timer for its deadline), not a
  StreamReader and a coroutine step per read.
- Why the harness is written for CPU: the machine has 2 CPUs, and the fake upstream and the client run on the
  same ones as the serve process (unless BENCH_LOAD_CPUS / BENCH_SERVE_CPUS pin them apart), while a deployed
  gateway does not share its CPUs with its clients and providers. With a coroutine per stream and per
  connection (StreamReader, writer.drain, asyncio.sleep per chunk) the two spent 0.036-0.047 ms of CPU per chunk
  (7.2-9.4 s per run of 200,000 chunks, some 0.7 of a CPU the serve process did not get); as protocols with one
  upstream timer, 0.022-0.031 ms (4.4-6.3 s), 4 Dec 2026, interleaved runs (bench_gateway.py's asyncio harness
  is the same approach). Each run prints what they spent ("harness CPU").
- "Added time to first token" is the gateway's p50/p99 minus the direct run's p50/p99 (same percentile). Before
  the gateway run, 8 streams cut after their first bytes warm the serve process up (``warm_up``).
- Peak RSS: the serve process's VmHWM from /proc (and VmRSS sampled every 0.2 s); its CPU seconds are read
  from /proc/<pid>/stat before and after the gateway run.
Everything is bounded: N streams, each with its own deadline, and a deadline for the whole run.
Environment: BENCH_STREAMS (default 1000), BENCH_STREAMS_QUICK=1 (100 streams, 20 chunks over 2 s),
BENCH_STREAMS_RAMP (seconds, default 2), BENCH_SERVE_CPUS (a CPU list for `taskset -c`, e.g. `0`: the serve
process is pinned to those CPUs, one CPU standing in for a 1 vCPU task; default: not pinned), BENCH_LOAD_CPUS
(likewise for the fake upstream and this client process, e.g. `1`, so that they do not take the serve
process's CPU; default: not pinned).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import served
from served import percentile

T = TypeVar("T")

QUICK = os.environ.get("BENCH_STREAMS_QUICK") == "1"
STREAMS = int(os.environ.get("BENCH_STREAMS", "100" if QUICK else "1000"))
CHUNKS = 20 if QUICK else 200
SECONDS = 2.0 if QUICK else 10.0
RAMP = float(os.environ.get("BENCH_STREAMS_RAMP", "2"))
SERVE_CPUS = os.environ.get("BENCH_SERVE_CPUS", "")
# `regiongate serve --processes N`: worker processes sharing the port; RSS, threads and CPU below are then the sums
# over the parent and its workers (RSS counts pages they share once per process).
SERVE_PROCESSES = int(os.environ.get("BENCH_SERVE_PROCESSES", "1"))
LOAD_CPUS = os.environ.get("BENCH_LOAD_CPUS", "")
WARMUP_STREAMS = int(os.environ.get("BENCH_STREAMS_WARMUP", "8"))  # cut after their first bytes; 0: none
# azure (an OpenAI-compatible SSE upstream, the default) or bedrock (ConverseStream's event-stream framing, nova-pro)
PROVIDER = os.environ.get("BENCH_STREAMS_PROVIDER", "azure")
STREAM_DEADLINE = SECONDS + RAMP + 60  # one stream, from its request to its last byte
TARGETS = {"errors": 0, "ttft_p99_ms": 50.0, "rss_mib": 512.0}

UPSTREAM = r"""
import asyncio, json, re, struct, sys, zlib
from collections import deque
CHUNKS, INTERVAL, MODE = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
BASE = {"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1, "model": "up"}

def chunked(data):
    return b"%x\r\n%s\r\n" % (len(data), data)

def event(obj):
    return chunked(b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n")

def frame(event_type, body):  # one message of the AWS event-stream encoding, as ConverseStream sends
    headers = b""
    for name, value in ((":event-type", event_type), (":content-type", "application/json"), (":message-type", "event")):
        n, v = name.encode(), value.encode()
        headers += struct.pack("!B", len(n)) + n + b"\x07" + struct.pack("!H", len(v)) + v
    payload = json.dumps(body).encode()
    prelude = struct.pack("!II", 12 + len(headers) + len(payload) + 4, len(headers))
    prelude += struct.pack("!I", zlib.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + headers + payload
    return chunked(message + struct.pack("!I", zlib.crc32(message) & 0xFFFFFFFF))

def opening():
    if MODE == "bedrock":
        return (b"HTTP/1.1 200 OK\r\ncontent-type: application/vnd.amazon.eventstream\r\ntransfer-encoding: chunked\r\n\r\n"
                + frame("messageStart", {"role": "assistant"}))
    return (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
            + event({**BASE, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}))

def token(i):
    if MODE == "bedrock":
        return frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": f"tok{i} "}})
    return event({**BASE, "choices": [{"index": 0, "delta": {"content": f"tok{i} "}, "finish_reason": None}]})

def closing():
    if MODE == "bedrock":
        return (frame("contentBlockStop", {"contentBlockIndex": 0}) + frame("messageStop", {"stopReason": "end_turn"})
                + frame("metadata", {"usage": {"inputTokens": 20, "outputTokens": CHUNKS, "totalTokens": 20 + CHUNKS},
                                     "metrics": {"latencyMs": 1}}) + b"0\r\n\r\n")
    return (event({**BASE, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            + event({**BASE, "choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": CHUNKS, "total_tokens": 20 + CHUNKS}})
            + event(b"[DONE]") + b"0\r\n\r\n")

# Encoded once: every answer is the same bytes, and encoding them per chunk took CPU the serve process competes for.
OPENING, TOKENS, CLOSING = opening(), [token(i) for i in range(CHUNKS)], closing()
# What is written at token i's time: the opening goes out with token 0, the closing with the last token.
WRITES = [(OPENING if i == 0 else b"") + TOKENS[i] + (CLOSING if i == CHUNKS - 1 else b"") for i in range(CHUNKS)]
LENGTH = re.compile(rb"(?i)content-length:\s*(\d+)")
IDLE = 120  # seconds a connection may wait for its next request

# The next token of every answer in flight, (time, connection), in time order, and one loop timer for the first.
# Each entry's time is its answer's previous one plus INTERVAL (or, for a new answer, now plus INTERVAL), so
# appending keeps the order. One timer, not one per connection: asyncio's timers are a heap of Python objects
# compared in Python, which cost more CPU than the writes themselves at 1,000 connections.
DUE = deque()
timer = None

def tick():
    global timer
    now = loop.time()
    while DUE and DUE[0][0] <= now:
        upstream = DUE.popleft()[1]
        if upstream.next >= 0:
            upstream.send()  # may append its next token, overdue tokens included: they go out in this loop too
    timer = loop.call_at(DUE[0][0], tick) if DUE else None

def schedule(when, upstream):
    global timer
    DUE.append((when, upstream))
    if timer is None:
        timer = loop.call_at(when, tick)

CONNECTIONS = set()

def sweep():  # a connection waiting IDLE seconds for its next request is closed
    for upstream in [u for u in CONNECTIONS if u.next < 0 and loop.time() - u.idle_since > IDLE]:
        upstream.transport.close()
    loop.call_later(5, sweep)

class Upstream(asyncio.Protocol):
    # One keep-alive connection: request heads and bodies parsed from data_received, one answer at a time (a request
    # that comes during an answer waits for its end). next: the index of the token due, -1 when idle.
    def connection_made(self, transport):
        self.transport, self.buffer, self.queued, self.next, self.idle_since = transport, b"", 0, -1, loop.time()
        CONNECTIONS.add(self)
    def data_received(self, data):
        buffer = self.buffer + data if self.buffer else data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            match = LENGTH.search(buffer, 0, end)
            total = end + 4 + (int(match.group(1)) if match else 0)
            if len(buffer) < total:
                break
            buffer = buffer[total:]
            self.queued += 1
        self.buffer = buffer
        if self.queued and self.next < 0:
            self.answer()
    def answer(self):  # the opening and token 0 now, token i at start + i * INTERVAL, the closing with the last
        self.queued -= 1
        self.start, self.next = loop.time(), 0
        self.send()
    def send(self):
        if self.transport.is_closing():
            self.next = -1
            return
        i = self.next
        self.transport.write(WRITES[i])  # buffered by the transport if need be, never lost
        if i + 1 < CHUNKS:
            self.next = i + 1
            schedule(self.start + (i + 1) * INTERVAL, self)
        elif self.queued:
            self.answer()
        else:
            self.next, self.idle_since = -1, loop.time()
    def connection_lost(self, exc):
        CONNECTIONS.discard(self)
        self.queued, self.next = 0, -1

async def main():
    global loop
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Upstream, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    sweep()
    await server.serve_forever()
asyncio.run(main())
"""


@dataclass
class Result:
    ok: bool
    ttft_ms: float | None
    error: str = ""


def _has_token(event: bytes) -> bool:
    if not event.startswith(b"data: ") or event == b"data: [DONE]":
        return False
    try:
        choices = json.loads(event[6:]).get("choices") or []
    except ValueError:
        return False
    return any((c.get("delta") or {}).get("content") for c in choices)


_TEXT_TOKEN = b'"text": "tok'  # a content token in the raw event-stream framing (the direct Bedrock run)
_HEAD_LIMIT = 1 << 16  # bytes of an answer's head (asyncio.StreamReader's default limit, as before)
_EVENT_LIMIT = 1 << 20  # bytes of one SSE event still incomplete
# Every stream reads into this one buffer (recv_into; each read is parsed before the next one). A plain Protocol's
# transport allocates 256 KiB per read instead, which glibc served with mmap, mremap and munmap: three system calls
# per chunk, more CPU than the whole read (measured with strace -c).
_READ_BUFFER = memoryview(bytearray(1 << 16))


class _Stream(asyncio.BufferedProtocol):
    """One stream of the client, on a raw socket: ``send`` writes the whole request and arms the stream's deadline;
    ``data_received`` parses the status line and head, then counts content tokens as they come, without keeping
    the answer: SSE events are split on their blank line in each read only (the incomplete last one kept in
    pieces), the raw event-stream answer is scanned with the last bytes of the previous read in front, so that
    nothing is scanned twice. ``result`` is resolved once: complete, incomplete, closed, failed or timed out."""

    def __init__(self, raw: bool, result: asyncio.Future[Result]) -> None:
        self.raw = raw
        self.result = result
        self.transport: asyncio.Transport | None = None
        self.deadline: asyncio.TimerHandle | None = None
        self.start = 0.0
        self.head: bytes | None = b""  # the answer's head until its blank line; None once it has been read
        self.ttft: float | None = None
        self.tokens = 0
        self.done = False
        self.partial: list[bytes] = []  # SSE: the incomplete last event, in pieces
        self.partial_size = 0
        self.tail = b""  # raw: the last bytes of the answer so far (shorter than _TEXT_TOKEN)
        self.metadata = False  # raw: the metadata frame seen

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, request: bytes) -> None:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self.deadline = loop.call_at(loop.time() + STREAM_DEADLINE, self._timed_out)
        self.start = time.perf_counter()
        self.transport.write(request)

    def get_buffer(self, sizehint: int) -> memoryview:
        return _READ_BUFFER

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(_READ_BUFFER[:nbytes]))

    def data_received(self, data: bytes) -> None:
        if self.result.done():
            return
        if self.head is not None:
            head = self.head + data
            end = head.find(b"\r\n\r\n", max(0, len(self.head) - 3))
            line_end = head.find(b"\r\n")
            if line_end >= 0 and b" 200 " not in head[: line_end + 2]:
                self._finish(head[:line_end].decode(errors="replace").strip(), ttft=False)
                return
            if end < 0:
                if len(head) > _HEAD_LIMIT:
                    self._finish(f"LimitOverrunError: no end of the answer's head in {len(head)} bytes", ttft=False)
                else:
                    self.head = head
                return
            self.head = None
            data = head[end + 4 :]
            if not data:
                return
        if self.raw:
            self._raw(data)
        else:
            self._events(data)

    def _events(self, data: bytes) -> None:
        partial = self.partial
        if partial and partial[-1].endswith(b"\n") and data.startswith(b"\n"):  # the blank line across two reads
            partial[-1] = partial[-1][:-1]
            pieces = data[1:].split(b"\n\n")
            events = [b"".join(partial), *pieces[:-1]]
        else:
            pieces = data.split(b"\n\n")
            if len(pieces) == 1:  # no event ends in this read
                partial.append(data)
                self.partial_size += len(data)
                if self.partial_size > _EVENT_LIMIT:
                    self._finish(f"LimitOverrunError: an event longer than {_EVENT_LIMIT} bytes", ttft=False)
                return
            events = [b"".join(partial) + pieces[0] if partial else pieces[0], *pieces[1:-1]]
        rest = pieces[-1]
        self.partial, self.partial_size = ([rest] if rest else []), len(rest)
        for ev in events:
            at = ev.find(b"data: ")
            if at > 0:
                ev = ev[at:]  # after the chunk-size line
            if self.ttft is None and _has_token(ev):
                self.ttft = (time.perf_counter() - self.start) * 1000
            self.tokens += ev.count(b'"tok')
            if ev.startswith(b"data: [DONE]"):
                self.done = True
        if self.done:
            self._finish()

    def _raw(self, data: bytes) -> None:
        window = self.tail + data  # an occurrence found here ends in data: the tail is shorter than the marker
        found = window.count(_TEXT_TOKEN)
        if found:
            if self.ttft is None:
                self.ttft = (time.perf_counter() - self.start) * 1000
            self.tokens += found
        self.metadata = self.metadata or b"metadata" in window
        if self.metadata and window.endswith(b"0\r\n\r\n"):  # the last frame, then the last chunk
            self.done = True
            self._finish()
            return
        self.tail = window[-(len(_TEXT_TOKEN) - 1) :]

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self._finish(f"{type(exc).__name__}: {exc}", ttft=False)
        elif self.head is not None:
            self._finish(f"IncompleteReadError: closed after {len(self.head)} bytes of the answer's head", ttft=False)
        else:
            self._finish()

    def _timed_out(self) -> None:
        self._finish(f"TimeoutError: the stream did not end within {STREAM_DEADLINE:g} s", ttft=False)

    def _finish(self, error: str | None = None, *, ttft: bool = True) -> None:
        """Resolve ``result`` (an error, else complete or incomplete), then close the connection."""
        if self.deadline is not None:
            self.deadline.cancel()
        if self.result.done():  # resolved before, or cancelled with the run
            return
        if error is None and (not self.done or self.tokens != CHUNKS):
            error = f"incomplete: {self.tokens} of {CHUNKS} chunks, done={self.done}"
        self.result.set_result(Result(error is None, self.ttft if ttft else None, error or ""))
        if self.transport is not None:
            self.transport.close()


def _request(path: str, headers: dict[str, str], body: bytes) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {len(body)}\r\n"
    return (head + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode() + body


async def one_stream(port: int, request: bytes, delay: float, raw: bool = False) -> Result:
    """One stream after ``delay`` seconds: a connection of its own, ``request`` written once connected. The
    connection has 30 s; from the request on, the stream has STREAM_DEADLINE (one timer, not one per read)."""
    await asyncio.sleep(delay)
    loop = asyncio.get_running_loop()
    result: asyncio.Future[Result] = loop.create_future()
    try:
        transport, stream = await asyncio.wait_for(
            loop.create_connection(lambda: _Stream(raw, result), "127.0.0.1", port), 30
        )
    except (TimeoutError, OSError) as exc:
        return Result(False, None, f"{type(exc).__name__}: {exc}")
    try:
        stream.send(request)
        return await result
    finally:
        transport.close()


async def run_streams(port: int, path: str, headers: dict[str, str], body: bytes, raw: bool = False) -> list[Result]:
    request = _request(path, headers, body)
    tasks = [one_stream(port, request, RAMP * i / STREAMS, raw) for i in range(STREAMS)]
    return await asyncio.wait_for(asyncio.gather(*tasks), RAMP + STREAM_DEADLINE + 30)


def proc_status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:", "Threads:")):
            name, value = line.split(":", 1)
            out[name] = int(value.split()[0])
    return out


def serve_status(pid: int) -> dict[str, int]:
    """proc_status summed over serve_pids (a single process: its own)."""
    total: dict[str, int] = {}
    for one in served.serve_pids(pid):
        try:
            status = proc_status(one)
        except OSError:
            continue
        for name, value in status.items():
            total[name] = total.get(name, 0) + value
    return total


async def sample_rss(pid: int, peak: dict[str, int], stop: asyncio.Event) -> None:
    for _ in range(int((RAMP + STREAM_DEADLINE + 60) / 0.2)):
        status = serve_status(pid)
        peak["rss"] = max(peak.get("rss", 0), status["VmRSS"])
        peak["threads"] = max(peak.get("threads", 0), status["Threads"])
        try:
            await asyncio.wait_for(stop.wait(), 0.2)
            return
        except TimeoutError:
            pass


async def warm_up(port: int, headers: dict[str, str], body: bytes, count: int = 8) -> None:
    """``count`` streams at once, each closed after its first bytes of answer: the serve process's first requests
    fill its database connections and its key, limit and budget caches (about 80 ms measured for the first one,
    with the next few waiting for the same reads), as bench_gateway.py's warm-up round does, so the measured run
    starts from a serving process."""

    async def one() -> None:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
        try:
            writer.write(_request("/v1/chat/completions", headers, body))
            await writer.drain()
            answer = b""
            while b"tok" not in answer:
                piece = await asyncio.wait_for(reader.read(65536), 30)
                if not piece:
                    break
                answer += piece
        finally:
            writer.close()

    await asyncio.gather(*(one() for _ in range(count)))
    await asyncio.sleep(1)  # the cut streams are recorded and their upstream connections closed


async def gateway_run(pid: int, port: int, headers: dict[str, str], body: bytes) -> tuple[list[Result], dict]:
    if WARMUP_STREAMS:
        await warm_up(port, headers, body, WARMUP_STREAMS)
    peak: dict[str, int] = {}
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(pid, peak, stop))
    cpu_before, start = served.cpu_seconds(pid), time.monotonic()
    results = await run_streams(port, "/v1/chat/completions", headers, body)
    cpu, wall = served.cpu_seconds(pid) - cpu_before, time.monotonic() - start
    stop.set()
    await sampler
    status = serve_status(pid)
    return results, {**peak, "hwm": status["VmHWM"], "cpu": cpu, "wall": wall}


def with_harness_cpu(upstream_pid: int, run: Coroutine[Any, Any, T]) -> tuple[T, tuple[float, float]]:
    """``run``'s result, and the CPU seconds this process (the client) and the fake upstream spent while it ran."""
    client, upstream = time.process_time(), served.cpu_seconds(upstream_pid, children=False)
    result = asyncio.run(run)
    return result, (time.process_time() - client, served.cpu_seconds(upstream_pid, children=False) - upstream)


def summarize(results: list[Result]) -> tuple[int, list[float], dict[str, int]]:
    errors: dict[str, int] = {}
    for r in results:
        if not r.ok:
            key = r.error[:80]
            errors[key] = errors.get(key, 0) + 1
    ttft = [r.ttft_ms for r in results if r.ok and r.ttft_ms is not None]
    return sum(errors.values()), ttft, errors


def main() -> int:
    return served.on_throwaway_database("rg_bench_streams", _measure)


def _measure(database_url: str) -> int:
    calibration_start = served.calibration_ms()
    load_start = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    load_pin = ["taskset", "-c", LOAD_CPUS] if LOAD_CPUS else []
    if LOAD_CPUS:  # the client (this process) too
        os.sched_setaffinity(0, {int(cpu) for cpu in LOAD_CPUS.split(",")})
    upstream, upstream_port = served.start_upstream(
        [*load_pin, sys.executable, "-c", UPSTREAM, str(CHUNKS), str(SECONDS / CHUNKS), PROVIDER]
    )
    pin = ["taskset", "-c", SERVE_CPUS] if SERVE_CPUS else []
    bedrock = PROVIDER == "bedrock"
    serve, log = served.start_serve(
        database_url,
        upstream_port,
        SERVE_PROCESSES,
        log_prefix="bench-streams-",
        pin=pin,
        provider="bedrock-eu" if bedrock else "azure-weu",
    )
    try:
        gateway_port = served.gateway_port(serve, log)
        if gateway_port is None:
            return 1
        key = served.create_key(database_url)
        body = json.dumps(
            {
                "model": "nova-pro" if bedrock else "gpt-4o",
                "stream": True,
                "max_tokens": 400,
                "messages": [{"role": "user", "content": "Count slowly."}],
            }
        ).encode()
        gateway_headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
        direct_headers = {"api-key": "bench", "content-type": "application/json"}
        direct_path = (
            "/model/eu.amazon.nova-pro-v1:0/converse-stream"
            if bedrock
            else "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
        )
        rss_idle = serve_status(serve.pid)["VmRSS"]
        harness: dict[str, tuple[float, float]] = {}  # run -> (client CPU s, fake upstream CPU s)
        direct, harness["direct"] = with_harness_cpu(
            upstream.pid, run_streams(upstream_port, direct_path, direct_headers, body, raw=bedrock)
        )
        (via, stats), harness["via gateway"] = with_harness_cpu(
            upstream.pid, gateway_run(serve.pid, gateway_port, gateway_headers, body)
        )
    finally:
        served.stop(serve, upstream, serve_timeout=30)
    load_end = " / ".join(f"{x:.2f}" for x in os.getloadavg())

    d_errors, d_ttft, d_kinds = summarize(direct)
    g_errors, g_ttft, g_kinds = summarize(via)
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load_start} at the start, "
        f"{load_end} at the end (1/5/15 min). {STREAMS} streams opened over {RAMP:g} s, each {CHUNKS} chunks "
        f"over {SECONDS:g} s from {PROVIDER}; machine calibration {calibration_start:.0f} ms at the start, {served.calibration_ms():.0f} ms at the end. serve processes: {SERVE_PROCESSES}; serve process pinned to CPUs: {SERVE_CPUS or 'no (any CPU)'}; upstream and client pinned to: {LOAD_CPUS or 'no (any CPU)'}.\n"
    )
    print("| Run | Streams | Errors | TTFT p50 (ms) | TTFT p99 (ms) | TTFT max (ms) |")
    print("|---|---|---|---|---|---|")
    for name, errors, ttft in (("direct", d_errors, d_ttft), ("via gateway", g_errors, g_ttft)):
        if ttft:
            print(
                f"| {name} | {STREAMS} | {errors} | {percentile(ttft, 50):.1f} | {percentile(ttft, 99):.1f} | {max(ttft):.1f} |"
            )
        else:
            print(f"| {name} | {STREAMS} | {errors} | – | – | – |")
    print()
    for name, kinds in (("direct", d_kinds), ("via gateway", g_kinds)):
        for error, count in sorted(kinds.items(), key=lambda kv: -kv[1])[:5]:
            print(f"- {name} error ×{count}: {error}")
    if d_ttft and g_ttft:
        added50 = percentile(g_ttft, 50) - percentile(d_ttft, 50)
        added99 = percentile(g_ttft, 99) - percentile(d_ttft, 99)
        verdict = "meets" if added99 <= TARGETS["ttft_p99_ms"] else "MISSES"
        print(f"- added time to first token: p50 {added50:.1f} ms, p99 {added99:.1f} ms ({verdict} <= 50 ms)")
    print(f"- gateway errors: {g_errors} ({'meets' if g_errors == 0 else 'MISSES'} 0)")
    hwm_mib = stats["hwm"] / 1024
    print(
        f"- serve process RSS: idle {rss_idle / 1024:.0f} MiB, peak sampled {stats['rss'] / 1024:.0f} MiB, "
        f"VmHWM {hwm_mib:.0f} MiB ({'meets' if hwm_mib <= TARGETS['rss_mib'] else 'MISSES'} <= 512 MiB); "
        f"peak threads {stats['threads']}"
    )
    print(
        f"- serve process CPU: {stats['cpu']:.1f} s over {stats['wall']:.1f} s wall "
        f"({stats['cpu'] / stats['wall']:.2f} cores on average during the gateway run), "
        f"{stats['cpu'] / (STREAMS * CHUNKS) * 1000:.3f} ms per relayed content chunk (request, audit and relay counted)"
    )
    chunks = STREAMS * CHUNKS
    for name, (client, up) in harness.items():
        print(
            f"- harness CPU, {name} run: client {client:.1f} s, fake upstream {up:.1f} s "
            f"({(client + up) / chunks * 1000:.3f} ms per content chunk; it shares the machine with the serve process)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
