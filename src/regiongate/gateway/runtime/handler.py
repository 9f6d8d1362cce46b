"""ALB entry point of the gateway Lambda: parse the ALB event, call the service, return the ALB response.

Nothing is created at import: settings, configuration, database pool and AWS clients are built on the
first invocation and reused. Behind an ALB a Lambda cannot stream, so SSE bodies are sent whole (1 MB max).
"""

from __future__ import annotations

import base64
import logging
import time
from typing import TYPE_CHECKING, Any

from regiongate.common import logs
from regiongate.contract.errors import GatewayError, ServiceUnavailable, reason
from regiongate.gateway.runtime.envelopes import error_response_for
from regiongate.gateway.runtime.transport import Request, Response

if TYPE_CHECKING:  # built on the first invocation, not at import
    from regiongate.gateway.runtime.service import Gateway

log = logging.getLogger("regiongate.handler")
_gateway: Gateway | None = None


def _get_gateway() -> Gateway:
    global _gateway
    if _gateway is None:
        from regiongate.contract.environment import settings
        from regiongate.gateway.runtime.app import lambda_gateway

        current = settings()
        logs.configure(current.log_level)
        _gateway = lambda_gateway(current)
    return _gateway


def parse_event(event: dict[str, Any]) -> Request:
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body)
        except ValueError:
            raw = b""
    else:
        raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else b""
    return Request(
        method=str(event.get("httpMethod", "GET")).upper(),
        path=str(event.get("path") or "/"),
        headers=headers,
        body=raw,
    )


def to_alb(response: Response) -> dict[str, Any]:
    body = response.body if response.stream is None else b"".join(response.stream)
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    return {
        "statusCode": response.status,
        "statusDescription": f"{response.status} {reason(response.status)}",
        "isBase64Encoded": encoded,
        "headers": response.headers,
        "body": text,
    }


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    received = time.perf_counter()
    try:
        gateway = _get_gateway()
    except Exception as exc:
        logs.configure()
        log.error("gateway could not start", extra={"fields": {"error": type(exc).__name__, "detail": str(exc)[:300]}})
        failure = (
            exc if isinstance(exc, GatewayError) else ServiceUnavailable("the gateway is misconfigured; see its logs")
        )
        # In the envelope of the API asked (Anthropic's on /v1/messages*), as the service answers.
        status, headers, body = error_response_for(str(event.get("path") or "/"), failure)
        return to_alb(Response(status, headers, body))
    request = parse_event(event)
    request.received = received
    return to_alb(gateway.handle(request))
