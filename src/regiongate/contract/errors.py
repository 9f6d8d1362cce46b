"""Every error the gateway can answer with, and the one place that maps them to HTTP responses.

Bodies are OpenAI-shaped: ``{"error": {"message", "type", "param", "code"}}`` where ``param`` is the request
field at fault and ``code`` a string or null, as OpenAI's Error schema has them: OpenAI's own code where one
fits (``invalid_api_key``, ``model_not_found``, ``rate_limit_exceeded``, ``insufficient_quota``), else the
gateway's error type, and null for the generic types (``invalid_request_error``, ``not_found``,
``internal_error``), as OpenAI answers them. The one deliberate exception is the product's documented
region-mismatch body, exactly ``{"error": {"message", "type", "code": 403}}``: the HTTP status as a number and no
``param`` (docs/gateway.md, Errors). Messages never quote request or completion content: they name fields and
limits only.
"""

from __future__ import annotations

import json
import math
from http import HTTPStatus
from typing import Any

# error.code for the types that have one other than the type itself; the types in _NO_CODE have none (null).
_CODES = {"budget_exceeded": "insufficient_quota", "upstream_rate_limited": "rate_limit_exceeded"}
_NO_CODE = frozenset({"invalid_request_error", "internal_error", "not_found"})


def error_code(error_type: str) -> str | None:
    """The OpenAI ``error.code`` (a string or null) of a gateway error type."""
    return None if error_type in _NO_CODE else _CODES.get(error_type, error_type)


class GatewayError(Exception):
    status = 500
    type = "internal_error"
    retryable = False
    retry_after: float | None = None  # seconds: sent as Retry-After (rounded up)

    def __init__(
        self, message: str, *, status: int | None = None, type: str | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    @property
    def code(self) -> str | None:
        return error_code(self.type)

    def headers(self) -> dict[str, str]:
        """The HTTP headers this error answers with besides content-type (any envelope)."""
        headers = {}
        if self.status == 401:
            headers["www-authenticate"] = 'Bearer realm="regiongate"'
        if self.retry_after is not None:
            headers["retry-after"] = str(max(1, math.ceil(self.retry_after)))
        return headers


class InvalidRequest(GatewayError):
    status, type = 400, "invalid_request_error"


class InvalidApiKey(GatewayError):
    status, type = 401, "invalid_api_key"


class RegionMismatch(GatewayError):
    status, type = 403, "region_mismatch"

    def __init__(self, key_region: str, request_region: str) -> None:
        super().__init__(
            f"API key is for region {key_region.upper()}, but request was made to {request_region.upper()}"
        )

    def body(self) -> dict[str, Any]:  # the product's exact documented body (the deliberate exception above)
        return {"error": {"message": self.message, "type": self.type, "code": self.status}}


class ModelNotAllowed(GatewayError):
    status, type = 403, "model_not_allowed"


class NotFound(GatewayError):
    status, type = 404, "not_found"


class MethodNotAllowed(GatewayError):
    status, type = 405, "method_not_allowed"

    def __init__(self, message: str, *, allow: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.allow = allow  # the methods the path takes: the Allow header (RFC 9110 requires one on a 405)

    def headers(self) -> dict[str, str]:
        return {**super().headers(), **({"allow": ", ".join(self.allow)} if self.allow else {})}


class RequestTooLarge(GatewayError):
    status, type = 413, "request_too_large"


class GuardrailViolation(GatewayError):
    status, type = 400, "guardrail_violation"


class BudgetExceeded(GatewayError):
    status, type = 429, "budget_exceeded"


class RateLimited(GatewayError):
    """A key's or org's requests, tokens per minute or concurrent requests are at their limit."""

    status, type = 429, "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamError(GatewayError):
    """A provider failed. ``retryable`` marks connection errors, 429 and 5xx (bounded retries apply)."""

    status, type = 502, "upstream_error"

    def __init__(
        self, message: str, *, status: int = 502, type: str = "upstream_error", retryable: bool = False
    ) -> None:
        super().__init__(message, status=status, type=type)
        self.retryable = retryable


class UpstreamRateLimited(UpstreamError):
    def __init__(
        self,
        message: str = "the provider is rate limiting this region's requests; retry later",
        *,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=429, type="upstream_rate_limited", retryable=True)
        self.retry_after = retry_after  # the provider's Retry-After, passed on to the client on a final 429


class UpstreamTimeout(UpstreamError):
    def __init__(self, message: str = "the provider did not answer in time") -> None:
        super().__init__(message, status=504, type="upstream_timeout", retryable=False)


class ResponseTooLarge(GatewayError):
    status, type = 502, "response_too_large"


class ServiceUnavailable(GatewayError):
    status, type = 503, "service_unavailable"


def error_response(exc: BaseException) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body for any exception; unknown ones become a content-free 500."""
    if not isinstance(exc, GatewayError):
        exc = GatewayError("internal error; the request id identifies it in the gateway's logs")
    headers = {"content-type": "application/json", **exc.headers()}
    return exc.status, headers, json.dumps(exc.body()).encode()


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
