"""Structured JSON logs with metadata only.

Every record is one JSON object with ``level``, ``logger``, ``message`` and the fields passed as
``extra={"fields": {...}}``. Messages are fixed strings and fields are identifiers, counts and timings:
no code path logs request or completion content, and exception text is never logged (only its type).
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from typing import TextIO

from regiongate.common.json_text import encoder

_configured = False
_handler: logging.Handler | None = None


_line_json = encoder(compact=True, default=str)


class JsonFormatter(logging.Formatter):
    """``record.encoded_fields`` (optional): members whose values are JSON text already, written as they are after
    the others (the metrics line's constant directives: encoding them per request was most of its cost)."""

    def __init__(self) -> None:
        super().__init__()
        self._second: tuple[int, str] = (-1, "")  # the last second formatted: one tuple, so a reader sees a pair

    def format(self, record: logging.LogRecord) -> str:
        second, text = self._second
        if int(record.created) != second:
            second = int(record.created)
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, text)
        entry = {
            "time": f"{text}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.msg if isinstance(record.msg, str) else type(record.msg).__name__,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__  # the type only: messages can quote content
        line = _line_json(entry)
        encoded = getattr(record, "encoded_fields", None)
        if encoded:
            line = line[:-1] + "".join(f",{_line_json(name)}:{value}" for name, value in encoded.items()) + "}"
        return line


def configure(level: str = "INFO", stream: TextIO | None = None) -> logging.Logger:
    """Attach one JSON handler to the ``regiongate`` logger (idempotent)."""
    global _configured, _handler
    logger = logging.getLogger("regiongate")
    if not _configured:
        # What JsonFormatter never writes is not gathered either: the caller's file and line (a walk up the
        # stack per record), thread and process. The logging HOWTO's "Optimization" section names these switches.
        logging._srcfile = None
        logging.logThreads = False
        logging.logProcesses = False
        logging.logMultiprocessing = False
        handler = logging.StreamHandler(stream or sys.stdout)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False
        _configured = True
        _handler = handler
    logger.setLevel(level)
    return logger


class BackgroundHandler(logging.Handler):
    """Writes records from a thread of its own, in batches, every ``interval`` seconds; ``emit`` only queues.

    For the local server (``regiongate serve``), where one process serves many requests at once: a write to
    stdout on the request thread releases the interpreter lock for the system call, and under concurrency
    the thread then queues to get it back (and holds the handler lock meanwhile, so the other threads that
    log queue behind it): milliseconds per request at the tail. Here the request thread only appends to a
    lock-free queue, and the writer is not woken per record: waking it for each one (a futex system call, then
    the interpreter lock handed to it and back) sat between the upstream's answer and the client's, about a
    fifth of a millisecond per request (strace, issue 12); it drains the queue on its period instead.
    Not for Lambda, where a thread may be frozen between invocations: there ``configure``'s synchronous
    handler stays. ``flush`` (called by ``logging.shutdown`` at exit) waits until everything queued is written.
    """

    def __init__(self, stream: TextIO, formatter: logging.Formatter, interval: float = 0.05) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.stream = stream
        self._interval = interval
        self._queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self._wake = threading.Event()  # flush() and close() only: a record never sets it
        self._stopping = False
        self._written = threading.Condition()
        self._passes = 0  # drain passes completed; flush() waits for one that began after it was called
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    def handle(self, record: logging.LogRecord) -> bool:  # no handler lock: SimpleQueue.put is atomic
        if not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self._queue.put(record)

    def _write(self, records: list[logging.LogRecord]) -> None:
        lines = []
        for record in records:
            try:
                lines.append(self.format(record) + "\n")
            except Exception:
                self.handleError(record)
        if lines:
            try:
                self.stream.write("".join(lines))
                self.stream.flush()
            except Exception:
                self.handleError(records[-1])

    def _drain(self) -> None:
        batch: list[logging.LogRecord] = []
        while True:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        self._write(batch)

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            with self._written:
                started = self._passes + 1
            self._drain()
            with self._written:
                self._passes = started
                self._written.notify_all()
            if self._stopping:
                self._drain()  # what was queued while the last pass wrote
                return

    def flush(self) -> None:
        if not self._thread.is_alive():
            return
        with self._written:
            wanted = self._passes + 2  # the pass under way may have begun before the records now queued
            self._wake.set()
            deadline = time.monotonic() + 5
            while self._passes < wanted and self._thread.is_alive():
                if not self._written.wait(timeout=max(0.0, deadline - time.monotonic())):
                    break
                self._wake.set()

    def close(self) -> None:
        if self._thread.is_alive():
            self._stopping = True
            self._wake.set()
            self._thread.join(timeout=5)
        super().close()


def write_in_background() -> None:
    """Swap the handler ``configure`` attached for a ``BackgroundHandler`` on the same stream (idempotent; a
    no-op when ``configure`` was not called). Used by the local server only."""
    global _handler
    if not isinstance(_handler, logging.StreamHandler) or isinstance(_handler, BackgroundHandler):
        return
    logger = logging.getLogger("regiongate")
    background = BackgroundHandler(_handler.stream, _handler.formatter or JsonFormatter())
    background.setLevel(_handler.level)
    logger.addHandler(background)  # before removing the old one: no record goes to neither
    logger.removeHandler(_handler)
    _handler.flush()
    _handler = background
