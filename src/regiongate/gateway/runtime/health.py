"""Readiness of the gateway (``GET /health/ready``): the region's database answers a query.

``GET /health`` stays liveness (no I/O): a load balancer that used readiness would take every target out
during a database outage, and clients would get the balancer's bare 502 instead of the gateway's 503.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from regiongate.gateway.runtime.transport import Response

log = logging.getLogger("regiongate.gateway")


def readiness(store: Any, region_code: str) -> Response:
    ping = getattr(store, "ping", None)
    try:
        if ping is not None:
            ping()
    except Exception as exc:
        log.error("readiness check failed", extra={"fields": {"error": type(exc).__name__}})
        body = {"status": "unavailable", "region": region_code, "database": "unreachable"}
        return Response(503, {"content-type": "application/json", "retry-after": "5"}, json.dumps(body).encode())
    body = {"status": "ready", "region": region_code, "database": "ok"}
    return Response(200, {"content-type": "application/json"}, json.dumps(body).encode())
