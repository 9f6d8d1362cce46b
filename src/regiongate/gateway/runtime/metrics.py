"""CloudWatch metrics of one finished request, as one embedded metric format (EMF) log line.

In Lambda, a JSON object on stdout whose ``_aws`` member holds ``CloudWatchMetrics`` directives is turned into
metrics by CloudWatch Logs (no API call on the request path, no extra permission). The line holds the region,
model and provider names, the status, the error type, counts, tokens, dollars and milliseconds: never content,
never a key, a key id or any identifier of the caller. Names, units and dimensions come from
``regiongate.contract.metrics``, which the alarms and the dashboard read too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from regiongate.contract import metrics as names

log = logging.getLogger("regiongate.metrics")


# The metrics every document carries, in this order (the directive lists them by name).
_VALUE_NAMES = (
    names.REQUESTS,
    names.ERRORS_4XX,
    names.ERRORS_5XX,
    names.THROTTLES,
    names.INPUT_TOKENS,
    names.OUTPUT_TOKENS,
    names.COST_USD,
    names.LATENCY,
    names.UPSTREAM_LATENCY,
)


def _directives(with_error_type: bool) -> list[dict[str, Any]]:
    directives: list[dict[str, Any]] = [
        {
            "Namespace": names.NAMESPACE,
            "Dimensions": [list(dims) for dims in names.DIMENSION_SETS],
            "Metrics": [{"Name": name, "Unit": names.UNITS[name]} for name in _VALUE_NAMES],
        }
    ]
    if with_error_type:
        directives.append(
            {
                "Namespace": names.NAMESPACE,
                "Dimensions": [list(dims) for dims in names.ERROR_DIMENSION_SETS],
                "Metrics": [{"Name": names.ERRORS, "Unit": names.UNITS[names.ERRORS]}],
            }
        )
    return directives


# The directives are the same on every line but for the error one: encoded once, not per request (building and
# encoding them was 13 µs of the 19 µs each request spent on its metrics line; issue 12).
_DIRECTIVES_JSON = {flag: json.dumps(_directives(flag), separators=(",", ":")) for flag in (False, True)}


def _members(
    *,
    region: str,
    model: str | None,
    provider: str | None,
    status: int,
    error_type: str | None,
    input_tokens: int,
    output_tokens: int,
    cost_usd: Decimal,
    total_ms: float,
    upstream_ms: float,
) -> dict[str, Any]:
    """The document's root members: the dimension values and one number per metric."""
    document: dict[str, Any] = {
        names.DIMENSION_REGION: region,
        names.DIMENSION_MODEL: model or names.NO_MODEL,
        names.DIMENSION_PROVIDER: provider or names.NO_MODEL,
        names.REQUESTS: 1,
        names.ERRORS_4XX: int(400 <= status < 500),
        names.ERRORS_5XX: int(status >= 500),
        names.THROTTLES: int(status == 429),
        names.INPUT_TOKENS: _count(input_tokens),
        names.OUTPUT_TOKENS: _count(output_tokens),
        names.COST_USD: float(cost_usd) if cost_usd.is_finite() and cost_usd >= 0 else 0.0,
        names.LATENCY: round(max(total_ms, 0.0), 3),
        names.UPSTREAM_LATENCY: round(max(upstream_ms, 0.0), 3),
    }
    if error_type is not None:
        document[names.DIMENSION_ERROR_TYPE] = error_type
        document[names.ERRORS] = 1
    return document


def emf_document(*, timestamp_ms: int, **fields: Any) -> dict[str, Any]:
    """The EMF document of one request (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/
    CloudWatch_Embedded_Metric_Format_Specification.html): root members are the dimension values and one
    number per metric; ``_aws.Timestamp`` is milliseconds since the epoch. ``fields`` are ``_members``'s."""
    document = _members(**fields)
    document["_aws"] = {
        "Timestamp": timestamp_ms,
        "CloudWatchMetrics": _directives(fields["error_type"] is not None),
    }
    return document


def _count(value: int) -> int:
    """Tokens as the provider reported them, but never negative (an absurd usage is not a negative metric)."""
    return value if isinstance(value, int) and value >= 0 else 0


class MetricsEmitter:
    """Writes one EMF document per finished request; by default as a record of the ``regiongate.metrics``
    logger, whose JSON formatter puts the document's members at the top of the line (stdout in Lambda), with
    ``_aws`` given to it as JSON text; ``write`` receives the whole document instead."""

    def __init__(self, region: str, write: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.region = region
        self.write = write

    def request(self, *, timestamp_ms: int, **fields: Any) -> None:
        try:
            if self.write is not None:
                self.write(emf_document(region=self.region, timestamp_ms=timestamp_ms, **fields))
                return
            members = _members(region=self.region, **fields)
            directives = _DIRECTIVES_JSON[fields["error_type"] is not None]
            aws = f'{{"Timestamp":{int(timestamp_ms)},"CloudWatchMetrics":{directives}}}'
            log.info("metrics", extra={"fields": members, "encoded_fields": {"_aws": aws}})
        except Exception:  # metrics never fail a request
            log.error("metrics emit failed", exc_info=True)
