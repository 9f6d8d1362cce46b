"""Structured JSON logs with metadata only.

Every record is one JSON object with ``level``, ``logger``, ``message`` and the fields passed as
``extra={"fields": {...}}``. Messages are fixed strings and fields are identifiers, counts and timings:
no code path logs request or completion content, and exception text is never logged (only its type).
"""

from __future__ import annotations

import json
import logging
import sys
import time

_configured = False


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.msg if isinstance(record.msg, str) else type(record.msg).__name__,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__  # the type only: messages can quote content
        return json.dumps(entry, default=str, separators=(",", ":"))


def configure(level: str = "INFO", stream=None) -> logging.Logger:
    """Attach one JSON handler to the ``regiongate`` logger (idempotent)."""
    global _configured
    logger = logging.getLogger("regiongate")
    if not _configured:
        handler = logging.StreamHandler(stream or sys.stdout)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False
        _configured = True
    logger.setLevel(level)
    return logger
