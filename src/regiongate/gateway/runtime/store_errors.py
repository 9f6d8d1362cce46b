"""How the request path treats a failing key store: a database outage is a 503 the client may retry."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from regiongate.contract.errors import GatewayError, ServiceUnavailable

T = TypeVar("T")
log = logging.getLogger("regiongate.gateway")


def store_call(call: Callable[[], T]) -> T:
    """Runs ``call``; gateway errors pass through, anything else becomes ``ServiceUnavailable`` (not a 500)."""
    try:
        return call()
    except GatewayError:
        raise
    except Exception as exc:
        log.error("key store unavailable", extra={"fields": {"error": type(exc).__name__}})
        raise ServiceUnavailable("the region's key store is unavailable; retry shortly") from None
