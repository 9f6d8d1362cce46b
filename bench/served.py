"""What the served benchmarks (bench_gateway.py, bench_streams.py) share: a throw-away database for the run, the
fake upstream and `regiongate serve` in processes of their own, and a key to call the gateway with.

Not a benchmark itself (run_all.py runs bench_*.py only); the scripts run as `python bench/bench_x.py`, so this
folder is on sys.path and they import it as `served`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent


def on_throwaway_database(prefix: str, measure: Callable[[str], int]) -> int:
    """``measure(url)`` on a database of its own (``<prefix>_<pid>``, created now and dropped afterwards), so a
    benchmark never touches the test database's tables; 1 when DATABASE_URL is not set."""
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        print("DATABASE_URL is not set (make bench starts PostgreSQL)", file=sys.stderr)
        return 1
    from regiongate.store.postgres import ConnectionParams

    admin = ConnectionParams.from_url(database_url)
    bench_db = f"{prefix}_{os.getpid()}"
    conn = admin.connect()
    conn.run(f'CREATE DATABASE "{bench_db}"')
    conn.close()
    params = replace(admin, database=bench_db)
    database_url = f"postgresql://{params.user}:{params.password}@{params.host}:{params.port}/{bench_db}"
    try:
        return measure(database_url)
    finally:
        conn = admin.connect()
        conn.run(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{bench_db}' AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        conn.run(f'DROP DATABASE IF EXISTS "{bench_db}"')
        conn.close()


def start_upstream(command: Sequence[str]) -> tuple[subprocess.Popen[str], int]:
    """The fake upstream (``command`` runs it; it prints its port on its first line) and its port."""
    upstream = subprocess.Popen(list(command), stdout=subprocess.PIPE, text=True)
    assert upstream.stdout is not None
    return upstream, int(upstream.stdout.readline())


def start_serve(
    database_url: str,
    upstream_port: int,
    processes: int,
    *,
    log_prefix: str,
    pin: Sequence[str] = (),
    provider: str = "azure-weu",
) -> tuple[subprocess.Popen[bytes], IO[Any]]:
    """`regiongate serve --region eu` (``--processes``) on ``database_url``, its ``provider`` (azure-weu, or
    bedrock-eu) the fake one on ``upstream_port``, no AWS credentials; ``pin`` goes before the interpreter
    (``taskset -c …``). Its output goes to the log file returned."""
    log = tempfile.NamedTemporaryFile(prefix=log_prefix, suffix=".log", delete=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "REGIONGATE_PROVIDER_AZURE_WEU_API_KEY": "bench",
            "AWS_EC2_METADATA_DISABLED": "true",
            "DATABASE_URL": database_url,
        }
    )
    serve = subprocess.Popen(
        [
            *pin,
            sys.executable,
            "-m",
            "regiongate.cli.main",
            "serve",
            "--region",
            "eu",
            "--port",
            "0",
            "--upstream",
            f"{provider}=http://127.0.0.1:{upstream_port}",
            "--processes",
            str(processes),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
    )
    return serve, log


def gateway_port(serve: subprocess.Popen[bytes], log: IO[Any], timeout: float = 60) -> int | None:
    """The port from serve's "gateway on http://127.0.0.1:<port>/v1" line; None (its log printed to stderr) when
    it exits or ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        match = re.search(r"gateway on http://127\.0\.0\.1:(\d+)/v1", Path(log.name).read_text())
        if match:
            return int(match.group(1))
        if serve.poll() is not None or time.monotonic() > deadline:
            print(Path(log.name).read_text(), file=sys.stderr)
            return None
        time.sleep(0.05)


def create_key(database_url: str) -> str:
    """A new key of org "bench" in region eu, created in the served database."""
    from regiongate.store.keys import KeyService
    from regiongate.store.postgres import ConnectionParams, ConnectionPool, PostgresStore

    store = PostgresStore(ConnectionPool(ConnectionParams.from_url(database_url).connect, size=1))
    key = KeyService(store).create(region_code="eu", org_id="bench").key
    store.pool.close()
    return key


def stop(serve: subprocess.Popen[bytes], upstream: subprocess.Popen[str], *, serve_timeout: float) -> None:
    serve.terminate()
    upstream.terminate()
    serve.wait(timeout=serve_timeout)
    upstream.wait(timeout=10)


def serve_pids(pid: int) -> list[int]:
    """The serve process and its workers (with BENCH_SERVE_PROCESSES > 1)."""
    pids = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def cpu_seconds(pid: int, *, children: bool = True) -> float:
    """User and system CPU seconds of ``pid`` and (``children``) its child processes: serve's workers."""
    total = 0.0
    for one in serve_pids(pid) if children else [pid]:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def calibration_ms(rounds: int = 5) -> float:
    """Milliseconds this machine takes for a fixed piece of interpreter work (JSON out and back, a dictionary and a
    string built, 20,000 times), the fastest of ``rounds``. The same code measured 0.095 ms of CPU per relayed
    chunk one day and 0.138 ms the next on this machine: printed beside each run's figures, this tells a slower
    machine from a slower gateway."""
    import json

    document = {"id": "chatcmpl-x", "choices": [{"index": 0, "delta": {"content": "tok "}, "finish_reason": None}]}
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(20_000):
            text = json.dumps(document)
            decoded = json.loads(text)
            decoded["n"] = f"{i}:{len(text)}"
        best = min(best, (time.perf_counter() - start) * 1000)
    return best


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
