"""Instructions per request of the service's own code (`make bench`): a figure the machine's speed does not move.

Method
- `Gateway.handle` in process as in bench_gateway.handler_only (MemoryStore, an instant stub provider, audit
  events to a list), with the gateway's log lines formatted by its JSON formatter (to /dev/null, in the request's
  thread here; the served gateway formats them on its log-writer thread).
- Run under `valgrind --tool=callgrind` twice, for FEW and MANY requests, with PYTHONHASHSEED=0; the difference
  of the two instruction counts divided by MANY - FEW is the count per request (start-up and warm-up cancel out).
- CPU time on this shared 2-CPU machine moves by 15 % or more between minutes (an A/A comparison of one build
  with itself, interleaved, spread 0.87-1.18); this count repeats to within 0.01 %, so a change of a few per cent
  in the request path shows here when the CPU figures cannot show it.

Instructions per relayed stream chunk: the served path of a stream, in one process and one event loop: a fake
OpenAI-compatible upstream, uvicorn with `GatewayApp` (the served protocol, the greenlets, the cooperative upstream
client) on a MemoryStore, and STREAMS clients reading SSE over loopback sockets. The upstream sends chunk i of
every stream only once the clients have received chunk i - 1 of all of them (lockstep), so each chunk travels
alone, as at 50 ms apart, and the count does not depend on how fast valgrind runs. The same clients straight to
the upstream are the harness's share; the gateway's share per chunk is (via - direct) / chunks, each from
FEW_CHUNKS and MANY_CHUNKS per stream as above.
Without valgrind it says so and measures nothing (exit 0: the other benchmarks still run).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FEW, MANY = 100, 600
STREAMS, FEW_CHUNKS, MANY_CHUNKS = 8, 20, 120


def instructions(*arguments: str) -> int:
    """Instructions of this script run under callgrind with ``arguments`` (``--requests N``, ``--relay via|direct
    N``)."""
    out = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,  # run as a script: its folder, bench/, is on the import path, and bench_gateway with it
            *arguments,
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    match = re.search(r"Collected : (\d+)", out.stderr)
    if match is None:
        raise RuntimeError(f"callgrind printed no count:\n{out.stderr[-2000:]}")
    return int(match.group(1))


def requests(count: int) -> None:
    """The measured process: ``count`` requests (and handler_only's warm-up) with the log lines formatted."""
    from regiongate.common import logs

    logs.configure("INFO", stream=open(os.devnull, "w"))  # open until the process ends
    import bench_gateway

    bench_gateway.handler_only(count)


UPSTREAM_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
CHUNK_BASE = {"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1, "model": "up"}


def _event(obj: object) -> bytes:
    data = b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


def _token(i: int) -> bytes:
    return _event({**CHUNK_BASE, "choices": [{"index": 0, "delta": {"content": f"tok{i} "}, "finish_reason": None}]})


def _closing(chunks: int) -> bytes:
    usage = {"prompt_tokens": 20, "completion_tokens": chunks, "total_tokens": 20 + chunks}
    return (
        _event({**CHUNK_BASE, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        + _event({**CHUNK_BASE, "choices": [], "usage": usage})
        + _event(b"[DONE]")
        + b"0\r\n\r\n"
    )


def relay(route: str, chunks: int) -> None:
    """The measured process: STREAMS streams of ``chunks`` chunks each, through the served gateway (``via``) or
    straight to the fake upstream (``direct``), in lockstep (module docstring)."""
    import asyncio

    asyncio.run(_relay(route, chunks))


async def _relay(route: str, chunks: int) -> None:
    import asyncio

    tokens = [_token(i) for i in range(chunks)]
    opening = _event({**CHUNK_BASE, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
    closing = _closing(chunks)
    received = 0  # token chunks the clients have, over all streams
    progress = asyncio.Condition()

    connections: list[asyncio.StreamWriter] = []

    async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        try:
            while True:  # requests on one keep-alive connection, until it closes
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
                await reader.readexactly(length)
                writer.write(UPSTREAM_HEAD + opening)
                for i, token in enumerate(tokens):
                    async with progress:
                        await progress.wait_for(lambda i=i: received >= STREAMS * i)
                    writer.write(token)
                writer.write(closing)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def client(port: int, path: str, headers: dict[str, str], body: bytes) -> None:
        nonlocal received
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {len(body)}\r\n"
        writer.write((head + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode() + body)
        data, tokens_seen = b"", 0
        while b"[DONE]" not in data:  # a read holds one chunk (lockstep), so no marker is split between two
            data = await reader.read(65536)
            if not data:
                raise RuntimeError("the stream ended early")
            got = data.count(b'"tok')
            if got:
                tokens_seen += got
                async with progress:
                    received += got
                    progress.notify_all()
        if tokens_seen != chunks:
            raise RuntimeError(f"{tokens_seen} of {chunks} chunks arrived")
        writer.close()

    fake = await asyncio.start_server(upstream, "127.0.0.1", 0)
    upstream_port = fake.sockets[0].getsockname()[1]
    body = json.dumps(
        {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "Count slowly."}]}
    ).encode()
    if route == "direct":
        path = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
        await asyncio.gather(*(client(upstream_port, path, {"api-key": "bench"}, body) for _ in range(STREAMS)))
    else:
        await _through_gateway(upstream_port, body, client)
    for writer in connections:  # the gateway's pooled connections: their handlers see the end and return
        writer.close()
    await asyncio.sleep(0.1)


async def _through_gateway(upstream_port: int, body: bytes, client: Any) -> None:
    import asyncio

    from regiongate.audit.runtime.events import ListAuditSink
    from regiongate.config.gateway import runtime_document
    from regiongate.config.regions import load_catalogue
    from regiongate.contract.document import RuntimeConfig
    from regiongate.gateway.runtime.local import GatewayHTTPServer
    from regiongate.gateway.runtime.providers import Registry
    from regiongate.gateway.runtime.providers.credentials import Credentials
    from regiongate.gateway.runtime.service import Gateway
    from regiongate.store.keys import KeyService
    from regiongate.store.memory import MemoryStore

    runtime = RuntimeConfig.from_document(runtime_document(load_catalogue().region("eu")))
    store = MemoryStore()
    registry = Registry(
        runtime.providers,
        Credentials(lambda: {name: {"api_key": "bench"} for name in runtime.providers}),
        overrides={"azure-weu": f"http://127.0.0.1:{upstream_port}"},
    )
    gateway = Gateway(runtime, store=store, registry=registry, audit=ListAuditSink())
    key = KeyService(store).create(region_code="eu", org_id="bench").key
    server = GatewayHTTPServer(("127.0.0.1", 0), gateway)
    # its uvicorn server on this loop (serve_forever runs a loop of its own)
    serving = asyncio.ensure_future(server._server.serve(sockets=[server.socket]))
    while not server.started:
        await asyncio.sleep(0.01)
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    port = server.server_address[1]
    await asyncio.gather(*(client(port, "/v1/chat/completions", headers, body) for _ in range(STREAMS)))
    server.request_stop()
    await serving


def main() -> int:
    if sys.argv[1:2] == ["--requests"]:
        requests(int(sys.argv[2]))
        return 0
    if sys.argv[1:2] == ["--relay"]:
        relay(sys.argv[2], int(sys.argv[3]))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed here: instructions per request not measured.")
        return 0
    few, many = instructions("--requests", str(FEW)), instructions("--requests", str(MANY))
    per_request = (many - few) / (MANY - FEW)
    print(
        f"- Gateway.handle with its log lines formatted (bench_gateway.handler_only, callgrind, "
        f"{MANY} - {FEW} requests): {per_request:,.0f} instructions per request"
    )
    per_chunk = {}
    for route in ("direct", "via"):
        few, many = (instructions("--relay", route, str(n)) for n in (FEW_CHUNKS, MANY_CHUNKS))
        per_chunk[route] = (many - few) / (STREAMS * (MANY_CHUNKS - FEW_CHUNKS))
    print(
        f"- One relayed stream chunk ({STREAMS} streams in lockstep, callgrind, {MANY_CHUNKS} - {FEW_CHUNKS} chunks "
        f"each): {per_chunk['via'] - per_chunk['direct']:,.0f} instructions in the served gateway "
        f"({per_chunk['via']:,.0f} through it, less {per_chunk['direct']:,.0f} for the same clients and upstream "
        "without it)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
