"""The one source of the current time: every date-dependent path takes a ``Clock`` with ``utc_now`` as its default.

Tests pass a fixed clock; nothing else reads the process clock, and no SQL uses the server's ``now()`` for a value the
code compares with Python's time (the database server keeps its own clock).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)
