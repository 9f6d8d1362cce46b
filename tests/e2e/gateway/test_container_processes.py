"""The gateway container's entry point with two server processes (``REGIONGATE_GATEWAY_PROCESSES=2``, what the
construct sets for ``sizing.gateway_task_vcpus: 2``), started from the image's layout as
tests/e2e/gateway/test_container_image.py does: both workers serve, SIGTERM lets a stream in flight on either of
them finish, every worker hands on its own buffered audit events, and the task exits 0 with both workers gone.

Assertions are on the order of events (a fake upstream that pauses on a gate), never on elapsed time."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import threading
from pathlib import Path

import pytest

from tests.e2e.gateway.test_container_image import (  # noqa: F401 - fixtures
    chat,
    image_app,
    running,
    sqs,
    upstream,
    wait_until,
)
from tests.e2e.gateway.test_serve_processes import children_of
from tests.fixtures.gateway import new_key

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the worker processes from Linux /proc"),
]


def test_two_processes_serve_and_sigterm_drains_both_and_hands_on_every_event(
    image_app,  # noqa: F811
    tmp_path,
    database_url,
    eu_runtime,
    upstream,  # noqa: F811
    sqs,  # noqa: F811
    pg_store,
):
    key = new_key(pg_store)
    with running(
        image_app, tmp_path, database_url, eu_runtime, upstream, sqs, REGIONGATE_GATEWAY_PROCESSES="2"
    ) as container:
        parent = container.process.pid
        wait_until(lambda: len(children_of(parent)) == 2, "the two workers")
        workers = children_of(parent)
        client = container.client(key)
        answered = [chat(client).choices[0].message.content for _ in range(6)]
        assert answered == ["one two three four"] * 6
        upstream.gate = threading.Event()  # the next stream pauses after its first word
        stream = chat(client, stream=True, stream_options={"include_usage": True})
        first = next(c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content)
        assert first == "one"
        container.process.send_signal(signal.SIGTERM)  # as ECS does, to the task's PID 1: the parent

        def refusing() -> bool:
            with contextlib.closing(socket.socket()) as probe:
                return probe.connect_ex(("127.0.0.1", container.port)) != 0

        wait_until(refusing, "both workers to stop accepting connections")
        assert container.process.poll() is None  # the stream is still in flight on one worker
        upstream.gate.set()
        rest = "".join(c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content)
        assert first + rest == "one two three four"
        assert container.process.wait(timeout=60) == 0
        log = container.log()
    # Requests answered == events in the queue: each worker handed on what it held before it exited.
    events = sqs.events()
    assert [e["status"] for e in events] == [200] * 7
    assert len({e["request_id"] for e in events}) == 7
    assert sorted(e["stream"] for e in events) == [False] * 6 + [True]
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists()
    entries = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    stopped = [e for e in entries if e["message"] == "gateway worker stopped"]
    assert sorted(e["pid"] for e in stopped) == workers and all(e["exit_code"] == 0 for e in stopped)
    # Each worker said it served and stopped (its own sink), and the parent said so once for the task.
    assert len([e for e in entries if e["message"] == "gateway container stopped"]) == 3


def test_an_invalid_number_of_processes_exits_2_naming_the_variable(
    image_app,  # noqa: F811
    eu_runtime,
    upstream,  # noqa: F811
    sqs,  # noqa: F811
):
    import subprocess

    from tests.e2e.gateway.test_container_image import container_env, image_command

    env = {**container_env(image_app, eu_runtime, upstream, sqs), "REGIONGATE_GATEWAY_PROCESSES": "0"}
    done = subprocess.run(image_command(), env=env, cwd=image_app, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "REGIONGATE_GATEWAY_PROCESSES" in done.stderr
