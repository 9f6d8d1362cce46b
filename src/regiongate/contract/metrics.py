"""The gateway's CloudWatch metrics: one namespace, names, units and dimensions, shared by the runtime that emits
them (embedded metric format log lines, ``regiongate.gateway.runtime.metrics``) and the constructs that alarm on
them and graph them (``regiongate.monitoring.infrastructure``). Values are counts, tokens, dollars and
milliseconds only: no content, no key, no identifier of a caller."""

from __future__ import annotations

from typing import Final

NAMESPACE: Final = "Regiongate/Gateway"

# Dimension sets (each metric is published under every set): the whole region (what the alarms watch), and
# by model and provider (what the dashboard breaks down). Values are the region's catalogue names.
DIMENSION_REGION: Final = "Region"
DIMENSION_MODEL: Final = "Model"
DIMENSION_PROVIDER: Final = "Provider"
DIMENSION_SETS: Final = ((DIMENSION_REGION,), (DIMENSION_REGION, DIMENSION_MODEL, DIMENSION_PROVIDER))
NO_MODEL: Final = "none"  # requests refused before a model was resolved

# Metric name -> CloudWatch unit.
REQUESTS: Final = "Requests"
ERRORS_4XX: Final = "Errors4xx"
ERRORS_5XX: Final = "Errors5xx"
THROTTLES: Final = "Throttles"  # the gateway's own 429s (rate limits, budgets) and the provider's
INPUT_TOKENS: Final = "InputTokens"
OUTPUT_TOKENS: Final = "OutputTokens"
COST_USD: Final = "CostUSD"
LATENCY: Final = "Latency"
UPSTREAM_LATENCY: Final = "UpstreamLatency"
UNITS: Final = {
    REQUESTS: "Count",
    ERRORS_4XX: "Count",
    ERRORS_5XX: "Count",
    THROTTLES: "Count",
    INPUT_TOKENS: "Count",
    OUTPUT_TOKENS: "Count",
    COST_USD: "None",
    LATENCY: "Milliseconds",
    UPSTREAM_LATENCY: "Milliseconds",
}

# Errors by type: a count per error type (the gateway's own types, a bounded set), in a directive of its own.
ERRORS: Final = "Errors"
DIMENSION_ERROR_TYPE: Final = "ErrorType"
ERROR_DIMENSION_SETS: Final = ((DIMENSION_REGION, DIMENSION_ERROR_TYPE),)
UNITS[ERRORS] = "Count"

# Alarm thresholds (regiongate.monitoring.infrastructure), each over ALARM_PERIOD_SECONDS.
ALARM_PERIOD_SECONDS: Final = 300
ERROR_5XX_RATE_PERCENT: Final = 5  # of the region's requests, over 3 periods
P99_LATENCY_MS: Final = 30_000  # the gateway's added time plus the upstream's: well below the 100 s deadline
THROTTLES_PER_PERIOD: Final = 100
DATABASE_CPU_PERCENT: Final = 80
DATABASE_FREE_STORAGE_FRACTION: Final = 0.1  # of the allocated storage
DATABASE_CONNECTIONS: Final = 200  # a t4g.medium allows about 400; the functions' pools should never near it
