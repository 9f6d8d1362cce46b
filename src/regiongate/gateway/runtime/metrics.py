"""CloudWatch metrics of one finished request, as one embedded metric format (EMF) log line.

In Lambda, a JSON object on stdout whose ``_aws`` member holds ``CloudWatchMetrics`` directives is turned into
metrics by CloudWatch Logs (no API call on the request path, no extra permission). The line holds the region,
model and provider names, the status, the error type, counts, tokens, dollars and milliseconds: never content,
never a key, a key id or any identifier of the caller. Names, units and dimensions come from
``regiongate.contract.metrics``, which the alarms and the dashboard read too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from regiongate.contract import metrics as names

log = logging.getLogger("regiongate.metrics")


def emf_document(
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
    timestamp_ms: int,
) -> dict[str, Any]:
    """The EMF document of one request (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/
    CloudWatch_Embedded_Metric_Format_Specification.html): root members are the dimension values and one
    number per metric; ``_aws.Timestamp`` is milliseconds since the epoch."""
    values: dict[str, float | int] = {
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
    directives: list[dict[str, Any]] = [
        {
            "Namespace": names.NAMESPACE,
            "Dimensions": [list(dims) for dims in names.DIMENSION_SETS],
            "Metrics": [{"Name": name, "Unit": names.UNITS[name]} for name in values],
        }
    ]
    document: dict[str, Any] = {
        names.DIMENSION_REGION: region,
        names.DIMENSION_MODEL: model or names.NO_MODEL,
        names.DIMENSION_PROVIDER: provider or names.NO_MODEL,
        **values,
    }
    if error_type is not None:
        directives.append(
            {
                "Namespace": names.NAMESPACE,
                "Dimensions": [list(dims) for dims in names.ERROR_DIMENSION_SETS],
                "Metrics": [{"Name": names.ERRORS, "Unit": names.UNITS[names.ERRORS]}],
            }
        )
        document[names.DIMENSION_ERROR_TYPE] = error_type
        document[names.ERRORS] = 1
    document["_aws"] = {"Timestamp": timestamp_ms, "CloudWatchMetrics": directives}
    return document


def _count(value: int) -> int:
    """Tokens as the provider reported them, but never negative (an absurd usage is not a negative metric)."""
    return value if isinstance(value, int) and value >= 0 else 0


class MetricsEmitter:
    """Writes one EMF document per finished request; by default as a record of the ``regiongate.metrics``
    logger, whose JSON formatter puts the document's members at the top of the line (stdout in Lambda)."""

    def __init__(self, region: str, write: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.region = region
        self.write = write or _log

    def request(self, **fields: Any) -> None:
        try:
            self.write(emf_document(region=self.region, **fields))
        except Exception:  # metrics never fail a request
            log.error("metrics emit failed", exc_info=True)


def _log(document: dict[str, Any]) -> None:
    log.info("metrics", extra={"fields": document})
