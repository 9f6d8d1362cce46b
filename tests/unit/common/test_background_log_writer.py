"""The served process's log writer (common/logs.BackgroundHandler): records leave on the writer's period, not one
wake-up per record; nothing queued is lost on flush or close; order is kept."""

from __future__ import annotations

import io
import json
import logging
import threading
import time

from regiongate.common.logs import BackgroundHandler, JsonFormatter


def _record(n: int) -> logging.LogRecord:
    record = logging.LogRecord("regiongate.test", logging.INFO, __file__, 1, "line", None, None)
    record.fields = {"n": n}
    return record


def _numbers(stream: io.StringIO) -> list[int]:
    return [json.loads(line)["n"] for line in stream.getvalue().splitlines()]


def test_a_record_does_not_wake_the_writer_it_waits_for_the_period_or_a_flush() -> None:
    stream = io.StringIO()
    handler = BackgroundHandler(stream, JsonFormatter(), interval=3600)
    try:
        handler.handle(_record(1))
        time.sleep(0.3)  # the writer was woken per record before: it wrote within microseconds
        assert stream.getvalue() == ""
        handler.flush()
        assert _numbers(stream) == [1]
    finally:
        handler.close()


def test_records_are_written_on_the_period_in_order() -> None:
    stream = io.StringIO()
    handler = BackgroundHandler(stream, JsonFormatter(), interval=0.01)
    try:
        for n in range(200):
            handler.handle(_record(n))
        deadline = time.monotonic() + 10
        while len(_numbers(stream)) < 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _numbers(stream) == list(range(200))
    finally:
        handler.close()


def test_flush_returns_after_every_record_queued_before_it_even_from_other_threads() -> None:
    stream = io.StringIO()
    handler = BackgroundHandler(stream, JsonFormatter(), interval=3600)
    try:

        def log(first: int) -> None:
            for n in range(first, first + 500):
                handler.handle(_record(n))

        threads = [threading.Thread(target=log, args=(i * 500,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        handler.flush()
        assert sorted(_numbers(stream)) == list(range(2000))
        handler.handle(_record(2000))
        handler.flush()  # a second flush: its record too, not only what an earlier pass wrote
        assert _numbers(stream)[-1] == 2000
    finally:
        handler.close()


def test_close_writes_what_is_queued_and_stops_the_thread() -> None:
    stream = io.StringIO()
    handler = BackgroundHandler(stream, JsonFormatter(), interval=3600)
    for n in range(50):
        handler.handle(_record(n))
    handler.close()
    assert _numbers(stream) == list(range(50))
    assert not handler._thread.is_alive()
