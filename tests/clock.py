"""The moment every date-sensitive test pins its clocks to.

A fixed instant by default; ``make test`` runs the date-sensitive tests again (marker ``clock``) with
``REGIONGATE_TEST_NOW`` set to a boundary moment and the process clock moved there too (``--process-clock``,
see tests/conftest.py). The database server keeps its own, real clock, so a value computed with SQL ``now()``
and compared with Python's time fails those runs.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

DEFAULT_NOW = "2026-11-22T10:30:00Z"


def parse_moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r}: a test moment must carry a time zone (e.g. a trailing Z)")
    return moment.astimezone(timezone.utc)


NOW = parse_moment(os.environ.get("REGIONGATE_TEST_NOW") or DEFAULT_NOW)


def pinned():
    """A clock answering NOW (the gateway's ``Clock`` type)."""
    return lambda: NOW
