"""Streaming benchmark (`make bench`): N concurrent SSE streams through one `regiongate serve` process.

Method
- A loopback fake upstream (Azure OpenAI chat completions, `stream: true`) runs in its own process on asyncio:
  each answer is 200 content chunks spread evenly over 10 s (one every 50 ms), then a usage chunk and
  `data: [DONE]`, chunked transfer encoding, keep-alive.
- `regiongate serve --region eu --upstream azure-weu=<fake>` (uvicorn, `regiongate.gateway.runtime.asgi`) runs
  in its own process on the local PostgreSQL (a throw-away database created for the run), as in
  bench_gateway.py.
- An asyncio client in this process opens N streams, spread evenly over a ramp (default 2 s), first straight
  to the fake upstream (baseline), then through the gateway. Per stream it records the time from sending
  the request to the first content token, and whether the stream was complete (HTTP 200, all 200 content
  chunks, `[DONE]`); anything else is an error.
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
from dataclasses import dataclass
from pathlib import Path

import served
from served import percentile

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
import asyncio, json, struct, sys, zlib
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

async def handle(reader, writer):
    try:
        for _ in range(100000):  # requests on one keep-alive connection
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 120)
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
            await reader.readexactly(length)
            writer.write(OPENING)
            loop = asyncio.get_running_loop()
            start = loop.time()
            for i in range(CHUNKS):
                delay = start + i * INTERVAL - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(TOKENS[i])
                await writer.drain()
            writer.write(CLOSING)
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()

import re
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096, limit=1 << 20)
    print(server.sockets[0].getsockname()[1], flush=True)
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


async def one_stream(
    port: int, path: str, headers: dict[str, str], body: bytes, delay: float, raw: bool = False
) -> Result:
    await asyncio.sleep(delay)
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
        head = f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        start = time.perf_counter()
        # One deadline for the whole stream, not asyncio.wait_for per read: wait_for makes a task and a timer for
        # every read, which at 20,000 reads/s cost this client a sizeable part of a CPU that the 2-CPU machine's
        # serve process competes for (measured: see docs/benchmarks.md, 4 Dec 2026).
        async with asyncio.timeout(STREAM_DEADLINE):
            writer.write(head.encode() + b"\r\n" + body)
            await writer.drain()
            status_line = await reader.readline()
            if b" 200 " not in status_line:
                return Result(False, None, status_line.decode(errors="replace").strip())
            await reader.readuntil(b"\r\n\r\n")
            ttft = None
            pending = b""
            tokens = 0
            done = False
            whole = b""  # event-stream framing (the direct Bedrock run): the raw answer, scanned as it grows
            for _ in range(CHUNKS * 10 + 1000):  # bounded: every read returns at least one byte or ends the loop
                data = await reader.read(65536)
                if not data:
                    break
                if raw:
                    whole += data
                    if ttft is None and b'"text": "tok' in whole:
                        ttft = (time.perf_counter() - start) * 1000
                    if whole.endswith(b"0\r\n\r\n") and b"metadata" in whole:  # the last frame, then the last chunk
                        tokens, done = whole.count(b'"text": "tok'), True
                        break
                    continue
                pending += data
                *events, pending = pending.split(b"\n\n")
                for ev in events:
                    ev = ev[ev.find(b"data: ") :] if b"data: " in ev else ev
                    if ttft is None and _has_token(ev):
                        ttft = (time.perf_counter() - start) * 1000
                    tokens += ev.count(b'"tok')
                    if ev.startswith(b"data: [DONE]"):
                        done = True
                if done:
                    break
        if not done or tokens != CHUNKS:
            return Result(False, ttft, f"incomplete: {tokens} of {CHUNKS} chunks, done={done}")
        return Result(True, ttft)
    except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        return Result(False, None, f"{type(exc).__name__}: {exc}")
    finally:
        if writer is not None:
            writer.close()


async def run_streams(port: int, path: str, headers: dict[str, str], body: bytes, raw: bool = False) -> list[Result]:
    tasks = [one_stream(port, path, headers, body, RAMP * i / STREAMS, raw) for i in range(STREAMS)]
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
            head = f"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {len(body)}\r\n"
            head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            writer.write(head.encode() + b"\r\n" + body)
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
        client_cpu, upstream_cpu = time.process_time(), served.cpu_seconds(upstream.pid, children=False)
        direct = asyncio.run(run_streams(upstream_port, direct_path, direct_headers, body, raw=bedrock))
        harness["direct"] = (
            time.process_time() - client_cpu,
            served.cpu_seconds(upstream.pid, children=False) - upstream_cpu,
        )
        client_cpu, upstream_cpu = time.process_time(), served.cpu_seconds(upstream.pid, children=False)
        via, stats = asyncio.run(gateway_run(serve.pid, gateway_port, gateway_headers, body))
        harness["via gateway"] = (
            time.process_time() - client_cpu,
            served.cpu_seconds(upstream.pid, children=False) - upstream_cpu,
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
