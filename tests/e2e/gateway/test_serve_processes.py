"""``regiongate serve --processes 2``: one listening socket, two worker processes, each with its own store pool,
audit sink and gateway (regiongate.gateway.runtime.processes), against a fresh database and loopback fakes.

Which worker holds a connection is read from /proc (each worker's open sockets against the kernel's table of
established TCP connections on the served port): the product's answers carry no process id. Assertions are on
counts and exit codes, never on elapsed time."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.fixtures.fakes import FakeBedrock, FakeOpenAI
from tests.fixtures.gateway import new_key
from tests.fixtures.served import served_eu

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.xdist_group("serve-processes"),
    pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads worker sockets from Linux /proc"),
]

CONNECTIONS = 24
REQUESTS_PER_CONNECTION = 3
BODY = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]})


@pytest.fixture
def fakes():
    bedrock = FakeBedrock(reply="unused")
    azure = FakeOpenAI(reply="Bonjour from Azure")
    yield bedrock, azure
    bedrock.close()
    azure.close()


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces, so split after its closing parenthesis.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def established_on(port: int) -> set[str]:
    """Socket inodes of the established TCP connections whose local port is ``port`` (the server's side)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                    inodes.add(fields[9])
    return inodes


def sockets_of(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    return inodes


def wait_until(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def audit_count(store) -> int:
    with store.pool.connection() as conn:
        return int(conn.run("SELECT count(*) FROM audit_events")[0][0])


class Connections:
    """Keep-alive connections, each sending requests from a thread of its own, all held open afterwards."""

    def __init__(self, base_url: str, key: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.key = key
        self.open: list[http.client.HTTPConnection] = []
        self.statuses: list[int] = []
        self._lock = threading.Lock()

    def round(self, count: int) -> None:
        def one() -> None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            with self._lock:
                self.open.append(conn)
            for _ in range(REQUESTS_PER_CONNECTION):
                conn.request(
                    "POST",
                    "/v1/chat/completions",
                    BODY,
                    {"authorization": f"Bearer {self.key}", "content-type": "application/json"},
                )
                response = conn.getresponse()
                answer = json.loads(response.read())
                assert answer["choices"][0]["message"]["content"] == "Bonjour from Azure"
                with self._lock:
                    self.statuses.append(response.status)

        threads = [threading.Thread(target=one) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def close(self) -> None:
        for conn in self.open:
            conn.close()


def test_two_workers_share_the_port_and_sigterm_drains_both_with_every_answer_audited(
    tmp_path, database_url, pg_store, fakes
):
    key = new_key(pg_store)
    bedrock, azure = fakes
    with served_eu(tmp_path, database_url, bedrock, azure, extra_args=("--processes", "2")) as server:
        parent = server.process.pid
        wait_until(lambda: len(children_of(parent)) == 2, "the two workers")
        workers = children_of(parent)
        port = int(urlsplit(server.base_url).port or 0)
        connections = Connections(server.base_url, key)
        try:
            holding: dict[int, int] = {}
            for _ in range(10):  # rounds of concurrent connections until each worker holds some
                connections.round(CONNECTIONS)
                established = established_on(port)
                holding = {pid: len(sockets_of(pid) & established) for pid in workers}
                if all(holding.values()):
                    break
            assert all(holding.values()), holding  # both workers accepted connections of the same socket
            assert sockets_of(parent) & established == set()  # the parent accepts none
            assert children_of(parent) == workers  # nobody died and nobody was respawned
        finally:
            connections.close()
        answered = len(connections.statuses)
        assert connections.statuses == [200] * answered
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=60) == 0
        log = server.output()
    # Each worker flushed its own audit buffer before it exited: requests answered == audit rows.
    assert audit_count(pg_store) == answered
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists()  # reaped by the parent before it exited
    stopped = [json.loads(line) for line in log.splitlines() if '"gateway worker stopped"' in line]
    assert sorted(entry["pid"] for entry in stopped) == workers
    assert all(entry["exit_code"] == 0 for entry in stopped)


def test_a_worker_that_dies_unasked_is_reported_and_the_parent_exits_non_zero(tmp_path, database_url, pg_store, fakes):
    key = new_key(pg_store)
    bedrock, azure = fakes
    with served_eu(tmp_path, database_url, bedrock, azure, extra_args=("--processes", "2")) as server:
        parent = server.process.pid
        wait_until(lambda: len(children_of(parent)) == 2, "the two workers")
        victim, survivor = children_of(parent)
        connections = Connections(server.base_url, key)
        try:
            connections.round(4)
        finally:
            connections.close()
        os.kill(victim, signal.SIGKILL)
        # The survivor is stopped the graceful way (it hands on its audit events), and the task exits 1: ECS
        # replaces it rather than the parent quietly starting another worker.
        assert server.process.wait(timeout=60) == 1
        log = server.output()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    (died,) = [e for e in lines if e["message"] == "gateway worker exited unexpectedly"]
    assert (died["pid"], died["exit_code"]) == (victim, -signal.SIGKILL)
    (stopped,) = [e for e in lines if e["message"] == "gateway worker stopped"]
    assert (stopped["pid"], stopped["exit_code"]) == (survivor, 0)
    assert not Path(f"/proc/{survivor}").exists()


def test_processes_must_be_a_positive_number():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "regiongate.cli.main", "serve", "--region", "eu", "--processes", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--processes must be from 1 to 64" in done.stderr


def test_the_listening_socket_says_tcp_so_asyncio_disables_nagle():
    from regiongate.gateway.runtime.local import listening_socket

    with contextlib.closing(listening_socket(("127.0.0.1", 0))) as sock:
        assert sock.proto == socket.IPPROTO_TCP
