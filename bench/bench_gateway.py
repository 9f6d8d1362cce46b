"""Gateway benchmark (`make bench`): added latency p50/p99 at concurrency 1, 16 and 64, and cold import time.

Method
- A loopback fake upstream (Azure OpenAI chat completions, fixed small answer, answering after
  BENCH_UPSTREAM_MS, default 20 ms) runs in its own process.
- `regiongate serve --region eu` runs in its own process with `--upstream azure-weu=<fake>`, the real
  PostgreSQL from DATABASE_URL (key lookups and budgets are cached, audit rows are written by the in-process
  writer thread, as locally served).
- Client threads (1, 16, then 64) send non-streaming chat completions over keep-alive connections.
- "Added" is the gateway's own figure per request (header x-regiongate-added-ms = total − upstream, measured
  inside the gateway). "Client overhead" compares client-observed latency through the gateway with direct
  calls to the fake upstream at the same concurrency.
- The floor (bench/floor_proxy.py): the same loads, after the gateway's, through the smallest proxy on the same
  server (uvicorn + httptools) and upstream, in one process: what the machine and the harness leave of each target.
- LiteLLM (the proxy most of our users run today), after the floor: its proxy as it ships, one worker, the same
  model as an Azure OpenAI deployment on the same upstream, its master key, no database; pinned with everything it
  installs in bench/litellm-requirements.txt, in a venv of its own (.venv-litellm, which `make bench` creates).
- Cold import: a fresh interpreter importing `regiongate.gateway.runtime.handler` (what Lambda loads at init), and
  separately everything the first request imports (service, providers, pg8000, boto3), median of 5 runs.
Everything runs on this machine; with 2 cores, client, gateway and upstream compete for CPU at c=16.
BENCH_HARNESS=asyncio (the default) runs the client and the fake upstream each on one asyncio loop (protocols on
raw sockets, keep-alive, a timer for the upstream's delay); BENCH_HARNESS=threads runs them as before 2 Dec 2026
(http.client in one thread per connection; http.server's ThreadingHTTPServer). The threaded pair spent 0.54 ms
of CPU per request (client 0.29, upstream 0.25, measured at c=64) on the two CPUs the gateway runs on; a deployed
gateway's clients and providers do not run on its CPUs. Each row reports the CPU the harness spent per request.
BENCH_QUICK=1 runs one short round per concurrency (a smoke run, not figures to publish).
BENCH_SERVE_PROCESSES=N (default 1) serves with `regiongate serve --processes N`.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import served
from served import percentile

ROOT = Path(__file__).resolve().parent.parent
# Issue 12: client-observed overhead against direct calls (c=1 p50, c=16 p99, c=64 p99) and the handler import.
TARGETS = {"p50": 2.0, "p99": 10.0, "import": 150.0}
OVERHEAD_TARGETS = {(1, 50): 1.0, (16, 99): 5.0, (64, 99): 20.0}
QUICK = os.environ.get("BENCH_QUICK") == "1"
UPSTREAM_MS = float(os.environ.get("BENCH_UPSTREAM_MS", "20"))
# `regiongate serve --processes N`: worker processes sharing the port (sizing.gateway_task_vcpus of a task).
SERVE_PROCESSES = int(os.environ.get("BENCH_SERVE_PROCESSES", "1"))
WARMUP = 64 if QUICK else 320
REQUESTS = {1: 100, 16: 320, 64: 640} if QUICK else {1: 500, 16: 1600, 64: 3200}  # per round
ROUNDS = 1 if QUICK else 3
# The LiteLLM proxy side by side (issue 12 quotes LiteLLM 1.108 with 1 worker): 1.108.0, the last 1.108 release whose
# litellm-enterprise and litellm-proxy-extras pins this machine's registry has (1.108.1+ pin post-releases it lacks).
LITELLM = ROOT / ".venv-litellm" / "bin" / "litellm"
LITELLM_REQUIREMENTS = ROOT / "bench" / "litellm-requirements.txt"
LITELLM_REQUESTS = {1: 50, 16: 160, 64: 320} if QUICK else {1: 200, 16: 640, 64: 1280}
HARNESS = os.environ.get("BENCH_HARNESS", "asyncio")
if HARNESS not in ("asyncio", "threads"):
    raise SystemExit(f"BENCH_HARNESS must be asyncio or threads, not {HARNESS!r}")

ANSWER_JSON = """{"id": "x", "object": "chat.completion", "created": 1, "model": "up",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris is the capital of France."},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28}}"""

# The same answer after the same delay as UPSTREAM, from one asyncio loop: a request head up to its blank line, a
# body of its Content-Length, then the answer on a timer. One request at a time per connection (keep-alive).
UPSTREAM_ASYNCIO = r"""
import asyncio, json, re, sys
ANSWER = json.dumps(json.loads(sys.argv[2])).encode()
RESPONSE = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(ANSWER)) + ANSWER
DELAY = float(sys.argv[1]) / 1000
LENGTH = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")
class Upstream(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            match = LENGTH.search(self.buffer, 0, end + 2)
            total = end + 4 + (int(match.group(1)) if match else 0)
            if len(self.buffer) < total:
                return
            self.buffer = self.buffer[total:]
            asyncio.get_running_loop().call_later(DELAY, self.answer)
    def answer(self):
        if not self.transport.is_closing():
            self.transport.write(RESPONSE)
async def main():
    server = await asyncio.get_running_loop().create_server(Upstream, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""

UPSTREAM = r"""
import json, socket, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
ANSWER = json.dumps(json.loads(sys.argv[2])).encode()
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        time.sleep(DELAY)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)
class S(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
DELAY = float(sys.argv[1]) / 1000
s = S(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""

BODY = json.dumps(
    {
        "model": "gpt-4o",
        "max_tokens": 64,
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "What is the capital of France? " * 8},
        ],
    }
).encode()


def run_load(
    port: int, path: str, headers: dict[str, str], concurrency: int, total: int
) -> tuple[list[float], list[float]]:
    """Client-observed milliseconds per request, and the gateway's own x-regiongate-added-ms where it answered."""
    if HARNESS == "asyncio":
        return asyncio.run(_run_load_asyncio(port, path, headers, concurrency, total))
    return _run_load_threads(port, path, headers, concurrency, total)


class _ClientConnection(asyncio.Protocol):
    """One keep-alive connection of the asyncio client: a whole request written at once, the answer read up to its
    Content-Length; the time is taken when its last byte arrives."""

    def __init__(self) -> None:
        self.buffer = b""
        self.answered: asyncio.Future[tuple[float, bytes]] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.answered is None:
            return
        match = _LENGTH.search(self.buffer, 0, end + 2)
        if match is None:
            self.answered.set_exception(RuntimeError("answer without a Content-Length"))
            return
        total = end + 4 + int(match.group(1))
        if len(self.buffer) >= total:
            head, self.buffer = self.buffer[:end], self.buffer[total:]
            answered, self.answered = self.answered, None
            answered.set_result((time.perf_counter(), head))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.answered is not None and not self.answered.done():
            self.answered.set_exception(ConnectionError("the connection closed before the answer"))


_LENGTH = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")
_ADDED = re.compile(rb"(?i)\r\nx-regiongate-added-ms:\s*([0-9.]+)")


async def _run_load_asyncio(
    port: int, path: str, headers: dict[str, str], concurrency: int, total: int
) -> tuple[list[float], list[float]]:
    loop = asyncio.get_running_loop()
    request = f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {len(BODY)}\r\n"
    request_bytes = (request + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode() + BODY
    client_ms: list[float] = []
    added_ms: list[float] = []

    async def worker() -> None:
        transport, connection = await loop.create_connection(_ClientConnection, "127.0.0.1", port)
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for _ in range(total // concurrency):
                connection.answered = loop.create_future()
                start = time.perf_counter()
                transport.write(request_bytes)
                end, head = await asyncio.wait_for(connection.answered, 30)
                client_ms.append((end - start) * 1000)
                if not head.startswith(b"HTTP/1.1 200 "):
                    raise RuntimeError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
                added = _ADDED.search(head + b"\r\n")
                if added is not None:
                    added_ms.append(float(added.group(1)))
        finally:
            transport.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return client_ms, added_ms


def _run_load_threads(
    port: int, path: str, headers: dict[str, str], concurrency: int, total: int
) -> tuple[list[float], list[float]]:
    client_ms: list[float] = []
    added_ms: list[float] = []
    lock = threading.Lock()
    per_thread = total // concurrency

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        local_client, local_added = [], []
        for _ in range(per_thread):
            start = time.perf_counter()
            conn.request("POST", path, body=BODY, headers=headers)
            response = conn.getresponse()
            response.read()
            local_client.append((time.perf_counter() - start) * 1000)
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")
            added = response.getheader("x-regiongate-added-ms")
            if added is not None:
                local_added.append(float(added))
        conn.close()
        with lock:
            client_ms.extend(local_client)
            added_ms.extend(local_added)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return client_ms, added_ms


def handler_only(count: int) -> tuple[int, float, float]:
    """The service's own cost per chat request, without HTTP: what the Lambda code adds to an invocation."""
    from regiongate.audit.runtime.events import ListAuditSink
    from regiongate.config.gateway import runtime_document
    from regiongate.config.regions import load_catalogue
    from regiongate.contract.document import RuntimeConfig
    from regiongate.gateway.runtime.service import Gateway
    from regiongate.gateway.runtime.translate import ChatResult
    from regiongate.gateway.runtime.transport import Request
    from regiongate.store.keys import KeyService
    from regiongate.store.memory import MemoryStore

    class Instant:
        name = "azure-weu"

        def chat(self, model, body, timer):
            return ChatResult("Paris is the capital of France.", [], "stop", 20, 8)

    class Providers:
        def get(self, name):
            return Instant()

        def for_context(self, ctx, name):  # the service asks per request (organisations' own credentials)
            ctx.credential_source = "platform"
            return self.get(name)

    runtime = RuntimeConfig.from_document(runtime_document(load_catalogue().region("eu")))
    store = MemoryStore()
    sink = ListAuditSink()
    gateway = Gateway(runtime, store=store, registry=Providers(), audit=sink)
    key = KeyService(store).create(region_code="eu", org_id="bench").key
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    times = []
    for i in range(count + 200):
        start = time.perf_counter()
        response = gateway.handle(Request("POST", "/v1/chat/completions", headers, BODY))
        elapsed = (time.perf_counter() - start) * 1000
        if response.status != 200:
            raise RuntimeError(response.body)
        if i >= 200:
            times.append(elapsed)
        if len(sink.events) > 1000:
            sink.events.clear()
    return len(times), percentile(times, 50), percentile(times, 99)


def detector_scan_ms(size: int, runs: int = 20) -> float:
    """Milliseconds for the EU region's content detectors (payment cards, IBANs) to scan ``size`` characters of this
    repository's Python source (digits, capitals and punctuation, as in the code a coding agent sends), median of
    ``runs``: the event loop serves nothing else meanwhile."""
    from regiongate.config.gateway import runtime_document
    from regiongate.config.regions import load_catalogue
    from regiongate.contract.document import RuntimeConfig
    from regiongate.gateway.runtime.guardrails import scan

    policy = RuntimeConfig.from_document(runtime_document(load_catalogue().region("eu"))).guardrails_for("bench")
    source = "".join(path.read_text() for path in sorted((ROOT / "src" / "regiongate").rglob("*.py")))
    text = (source * (size // len(source) + 1))[:size]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        scan([("messages[0].content", text)], policy)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def cold_import(statement: str, runs: int = 5) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print((time.perf_counter() - t) * 1000)"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}
    times = []
    for _ in range(runs + 1):  # the first run may compile bytecode: not counted
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env
        )
        times.append(float(out.stdout.strip()))
    return statistics.median(times[1:])


def _cpu(serve_pid: int, upstream_pid: int) -> tuple[float, float, float]:
    """CPU seconds so far of the gateway (with its workers), this process (the client) and the fake upstream."""
    return (
        served.cpu_seconds(serve_pid),
        served.cpu_seconds(os.getpid(), children=False),
        served.cpu_seconds(upstream_pid, children=False),
    )


def _proxy_rows(
    command: list[str],
    env: dict[str, str],
    port: int,
    headers: dict[str, str],
    requests: dict[int, int],
    upstream_port: int,
    direct_path: str,
    direct_headers: dict[str, str],
    *,
    start_timeout: float = 30,
) -> list[tuple[int, float, float, float, float]]:
    """The same loads through another proxy on ``port`` (``command`` starts it with the environment ``env``, in
    one process, forwarding to the same upstream): ``requests[c]`` per round at concurrency c, each round against
    its own direct run. Rows of (concurrency, overhead p50, overhead p99, requests/s, its CPU ms per request)."""
    log = tempfile.NamedTemporaryFile(prefix="bench-proxy-", suffix=".log")
    proxy = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proxy.poll() is not None or time.monotonic() > deadline:
                    print(Path(log.name).read_text(errors="replace")[-4000:], file=sys.stderr)
                    raise RuntimeError(f"{command[0]} did not start on port {port}") from None
                time.sleep(0.05)
        run_load(port, "/v1/chat/completions", headers, 64, WARMUP)
        rows = []
        for concurrency, total in requests.items():
            for _ in range(ROUNDS):
                direct, _ = run_load(upstream_port, direct_path, direct_headers, concurrency, total)
                cpu_before, start = served.cpu_seconds(proxy.pid), time.perf_counter()
                via, _ = run_load(port, "/v1/chat/completions", headers, concurrency, total)
                elapsed = time.perf_counter() - start
                cpu = (served.cpu_seconds(proxy.pid) - cpu_before) * 1000 / len(via)
                rows.append(
                    (
                        concurrency,
                        percentile(via, 50) - percentile(direct, 50),
                        percentile(via, 99) - percentile(direct, 99),
                        len(via) / elapsed,
                        cpu,
                    )
                )
        return rows
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)
        log.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _floor_rows(
    upstream_port: int, direct_path: str, direct_headers: dict[str, str]
) -> list[tuple[int, float, float, float, float]]:
    """bench/floor_proxy.py (uvicorn + httptools forwarding to the same upstream, nothing else), one process."""
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "floor_proxy:app", "--app-dir", str(ROOT / "bench")]
    command += ["--port", str(port), "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    return _proxy_rows(
        command,
        {**os.environ, "FLOOR_UPSTREAM_PORT": str(upstream_port)},
        port,
        {"content-type": "application/json"},
        REQUESTS,
        upstream_port,
        direct_path,
        direct_headers,
    )


def _litellm_rows(
    upstream_port: int, direct_path: str, direct_headers: dict[str, str]
) -> list[tuple[int, float, float, float, float]] | None:
    """The LiteLLM proxy (LITELLM, pinned in bench/litellm-requirements.txt; `make bench` installs it), one
    worker, as it ships: the same model as an Azure OpenAI deployment on the same upstream, a master key, no
    database. None when it is not installed. Fewer requests per round (LITELLM_REQUESTS): it is slower."""
    if not LITELLM.exists():
        return None
    port = _free_port()
    master_key = "sk-regiongate-bench-0123456789abcdef"
    config = {
        "model_list": [
            {
                "model_name": "gpt-4o",
                "litellm_params": {
                    "model": "azure/gpt-4o",
                    "api_base": f"http://127.0.0.1:{upstream_port}",
                    "api_key": "bench",
                    "api_version": "2024-10-21",
                },
            }
        ],
        "general_settings": {"master_key": master_key},
    }
    with tempfile.NamedTemporaryFile("w", prefix="bench-litellm-", suffix=".yaml") as file:
        json.dump(config, file)  # JSON is YAML
        file.flush()
        return _proxy_rows(
            [str(LITELLM), "--config", file.name, "--port", str(port), "--num_workers", "1"],
            # No DATABASE_URL (LiteLLM would take ours and set up its own tables); its model price map from the
            # package, not from GitHub.
            {**{k: v for k, v in os.environ.items() if k != "DATABASE_URL"}, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
            port,
            {"authorization": f"Bearer {master_key}", "content-type": "application/json"},
            LITELLM_REQUESTS,
            upstream_port,
            direct_path,
            direct_headers,
            start_timeout=120,
        )


def _litellm_version() -> str:
    """The version bench/litellm-requirements.txt pins (the one `make bench` installs)."""
    pins = dict(line.split("==", 1) for line in LITELLM_REQUIREMENTS.read_text().split() if "==" in line)
    return pins["litellm"]


def _proxy_table(rows: list[tuple[int, float, float, float, float]]) -> None:
    print("| Concurrency | Overhead p50 (ms) | Overhead p99 (ms) | Requests/s | CPU ms per request |")
    print("|---|---|---|---|---|")
    for concurrency in sorted({r[0] for r in rows}):
        mine = [r for r in rows if r[0] == concurrency]
        print(
            f"| {concurrency} | {statistics.median(r[1] for r in mine):.3f} | {statistics.median(r[2] for r in mine):.3f} "
            f"| {statistics.median(r[3] for r in mine):.0f} | {statistics.median(r[4] for r in mine):.3f} |"
        )


def main() -> int:
    return served.on_throwaway_database("rg_bench_gateway", _measure)


def _measure(database_url: str) -> int:
    calibration_start = served.calibration_ms()
    upstream_code = UPSTREAM_ASYNCIO if HARNESS == "asyncio" else UPSTREAM
    upstream, upstream_port = served.start_upstream(
        [sys.executable, "-c", upstream_code, str(UPSTREAM_MS), ANSWER_JSON]
    )
    serve, log = served.start_serve(database_url, upstream_port, SERVE_PROCESSES, log_prefix="bench-serve-")
    try:
        gateway_port = served.gateway_port(serve, log)
        if gateway_port is None:
            return 1
        key = served.create_key(database_url)
        gateway_headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
        direct_headers = {"api-key": "bench", "content-type": "application/json"}
        direct_path = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"

        run_load(gateway_port, "/v1/chat/completions", gateway_headers, 64, WARMUP)
        run_load(upstream_port, direct_path, direct_headers, 64, WARMUP)
        rows = []
        for concurrency, total in REQUESTS.items():
            for _ in range(ROUNDS):
                direct, _ = run_load(upstream_port, direct_path, direct_headers, concurrency, total)
                before, start = _cpu(serve.pid, upstream.pid), time.perf_counter()
                via, added = run_load(gateway_port, "/v1/chat/completions", gateway_headers, concurrency, total)
                elapsed = time.perf_counter() - start
                cpu = [(after - first) * 1000 / len(via) for after, first in zip(_cpu(serve.pid, upstream.pid), before)]
                rows.append(
                    (
                        concurrency,
                        len(added),
                        percentile(added, 50),
                        percentile(added, 99),
                        percentile(via, 50) - percentile(direct, 50),
                        percentile(via, 99) - percentile(direct, 99),
                        percentile(direct, 50),
                        percentile(via, 50),
                        percentile(direct, 99),
                        percentile(via, 99),
                        len(via) / elapsed,
                        *cpu,
                    )
                )
        floor = _floor_rows(upstream_port, direct_path, direct_headers)
        litellm = _litellm_rows(upstream_port, direct_path, direct_headers)
    finally:
        served.stop(serve, upstream, serve_timeout=10)

    handler_import = cold_import("import regiongate.gateway.runtime.handler")
    first_request_import = cold_import(
        "import regiongate.gateway.runtime.handler, regiongate.gateway.runtime.app, regiongate.gateway.runtime.service, regiongate.gateway.runtime.providers.openai_http, "
        "regiongate.gateway.runtime.providers.bedrock, regiongate.store.postgres, regiongate.audit.runtime.events, pg8000.native, boto3"
    )

    in_process = handler_only(2000)
    detector_ms = {size: detector_scan_ms(size) for size in (20_000, 100_000)}

    def verdict(value: float, target: float) -> str:
        return "meets" if value < target else "MISSES"

    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"Fake upstream answers after {UPSTREAM_MS:g} ms; serve processes: {SERVE_PROCESSES}; harness: {HARNESS}. "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load} (1/5/15 min) at the end; "
        f"requests per row as listed, after {WARMUP} warm-up requests; machine calibration "
        f"{calibration_start:.0f} ms at the start, {served.calibration_ms():.0f} ms at the end (served.calibration_ms: "
        f"lower is a faster machine).\n"
    )
    print(
        "| Concurrency | Requests | Added p50 (ms) | Added p99 (ms) | Client overhead p50 (ms) | Client overhead p99 (ms) | Direct p50 (ms) | Via gateway p50 (ms) | Direct p99 (ms) | Via gateway p99 (ms) | Requests/s | CPU ms per request: gateway / client / upstream |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for c, n, a50, a99, o50, o99, d50, v50, d99, v99, rps, g_cpu, c_cpu, u_cpu in rows:
        print(
            f"| {c} | {n} | {a50:.3f} | {a99:.3f} | {o50:.3f} | {o99:.3f} | {d50:.3f} | {v50:.3f} | {d99:.3f} | {v99:.3f} "
            f"| {rps:.0f} | {g_cpu:.3f} / {c_cpu:.3f} / {u_cpu:.3f} |"
        )
    print()
    for (concurrency, q), target in OVERHEAD_TARGETS.items():
        column = 4 if q == 50 else 5
        overhead = statistics.median(r[column] for r in rows if r[0] == concurrency)
        print(
            f"- c={concurrency}, median of {ROUNDS} rounds: client-observed overhead p{q} {overhead:.3f} ms "
            f"({'meets' if overhead <= target else 'MISSES'} <= {target} ms)"
        )
    for concurrency in REQUESTS:
        a50 = statistics.median(r[2] for r in rows if r[0] == concurrency)
        a99 = statistics.median(r[3] for r in rows if r[0] == concurrency)
        print(
            f"- c={concurrency}, median of {ROUNDS} rounds: added p50 {a50:.3f} ms ({verdict(a50, TARGETS['p50'])} < "
            f"{TARGETS['p50']} ms), p99 {a99:.3f} ms ({verdict(a99, TARGETS['p99'])} < {TARGETS['p99']} ms)"
        )
    print(
        f"- Gateway.handle alone (in process, MemoryStore, instant stub provider, audit to a list, c=1, "
        f"{in_process[0]} requests): p50 {in_process[1]:.3f} ms, p99 {in_process[2]:.3f} ms"
    )
    print(
        "- the EU content detectors (payment card, IBAN) on Python source, median of 20 scans: "
        + ", ".join(f"{size // 1000} KB {ms:.3f} ms" for size, ms in detector_ms.items())
    )
    print(
        f"- cold import of regiongate.gateway.runtime.handler: {handler_import:.1f} ms ({verdict(handler_import, TARGETS['import'])} < {TARGETS['import']} ms)"
    )
    print(f"- cold import of everything the first request loads (incl. boto3, pg8000): {first_request_import:.1f} ms")
    print(
        "\nThe floor: the same loads through bench/floor_proxy.py (uvicorn + httptools, forwarding to the same upstream, "
        "nothing else; one process), median of the rounds. What it leaves of a target is what this machine, server "
        "and harness allow; the rest of the gateway's figure is the gateway's own work.\n"
    )
    _proxy_table(floor)
    if litellm is None:
        print(f"\nLiteLLM: not measured ({LITELLM} is not installed; `make bench` installs it).")
    else:
        print(
            f"\nLiteLLM {_litellm_version()} (its proxy, one worker, a master key, no database), the same upstream and "
            f"harness in the same run, median of {ROUNDS} rounds of {', '.join(f'{n} (c={c})' for c, n in LITELLM_REQUESTS.items())} requests:\n"
        )
        _proxy_table(litellm)
    return 0


if __name__ == "__main__":
    sys.exit(main())
