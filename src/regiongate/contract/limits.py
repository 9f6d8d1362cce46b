"""Limits and fixed values shared by synthesis, the constructs, the runtimes and the CLI: each defined here only."""

from __future__ import annotations

from decimal import Decimal
from typing import Final

# The audit store: PostgreSQL on its default port (also what a DATABASE_URL without a port means).
DATABASE_PORT: Final = 5432
DATABASE_NAME: Final = "regiongate"

# Defaults of a region's gateway settings (regions.<code>.gateway in regions.yaml).
DEFAULT_KEY_CACHE_TTL_SECONDS: Final = 30  # a revoked key stops working within this time
DEFAULT_AUDIT_RETENTION_MONTHS: Final = 13
DEFAULT_MAX_REQUEST_BYTES: Final = 1_000_000  # the ALB → Lambda request limit is 1 MB
DEFAULT_MAX_INPUT_TOKENS: Final = 200_000

# The gateway function's own limit (Lambda timeout; the ALB's idle timeout is the same) and the one overall
# deadline of a request's upstream calls, retries and back-off included: below it, so that the client gets the
# gateway's own 504 (and the audit event is sent) rather than the runtime's bare 502.
GATEWAY_TIMEOUT_SECONDS: Final = 120
UPSTREAM_DEADLINE_SECONDS: Final = 100

# The longest generation a deployment allows (``gateway.max_generation_seconds``): the overall upstream deadline
# of one request. The Lambda runtime allows at most UPSTREAM_DEADLINE_SECONDS (its timeout stays 120 s). The
# container runtime streams: its ALB idle timeout, its target group's deregistration delay and its SIGTERM drain
# are the limit plus GATEWAY_ANSWER_MARGIN_SECONDS (time to answer 504 and send the audit event), and a target
# group drains for at most 3600 s, hence the container's ceiling.
GATEWAY_ANSWER_MARGIN_SECONDS: Final = GATEWAY_TIMEOUT_SECONDS - UPSTREAM_DEADLINE_SECONDS
MIN_GENERATION_SECONDS: Final = 10
CONTAINER_MAX_GENERATION_SECONDS: Final = 3600 - GATEWAY_ANSWER_MARGIN_SECONDS
DEFAULT_LAMBDA_GENERATION_SECONDS: Final = UPSTREAM_DEADLINE_SECONDS
DEFAULT_CONTAINER_GENERATION_SECONDS: Final = 600

# Budgets: what a request reserves when it names no max_tokens (output tokens at the model's output price),
# how long an unsettled reservation counts (a crashed instance's expire; longer than any request can run),
# and how long a settled one waits for its audit event to reach the rollups (the writer then removes it).
DEFAULT_RESERVED_OUTPUT_TOKENS: Final = 4096
SPEND_HOLD_SECONDS: Final = 300
SETTLED_SPEND_HOLD_SECONDS: Final = 86_400

# Monthly budgets of keys, teams and orgs: numeric(14, 6) columns, so below 10**8 USD with at most 6 decimals (a
# value PostgreSQL would round to 10**8 overflows). ``budget_problem`` is the one check: KeyService, the console's
# forms and the CLI's flags all call it, and say BUDGET_RULE when it fails.
MAX_BUDGET_USD: Final = Decimal(10) ** 8  # exclusive
BUDGET_DECIMALS: Final = 6
BUDGET_RULE: Final = "a non-negative amount below 100,000,000 USD with at most 6 decimals"


def budget_problem(amount: Decimal) -> str | None:
    """None when ``amount`` fits a budget column; else why not (the caller words it: ``must be`` + BUDGET_RULE)."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        return "not a finite amount"
    if amount < 0:
        return "negative"
    if amount >= MAX_BUDGET_USD:
        return "100,000,000 USD or more"
    if amount != amount.quantize(Decimal(1).scaleb(-BUDGET_DECIMALS)):  # below 10**8: quantizing cannot overflow
        return f"more than {BUDGET_DECIMALS} decimals"
    return None


# Rate limits: a sliding window of one minute in one-second buckets; a concurrency slot of a crashed
# instance is freed after SPEND_HOLD_SECONDS like its reservation.
RATE_WINDOW_SECONDS: Final = 60

# The console listens here in its container (and `regiongate console` locally, by default).
CONSOLE_PORT: Final = 8081
# The gateway listens here in its container (runtime: container), behind the ALB.
GATEWAY_PORT: Final = 8080
# Audit events the gateway container keeps while its queue is unreachable; beyond, new requests get 503.
DEFAULT_AUDIT_BUFFER_EVENTS: Final = 10_000

# Memory-as-a-Service (regions.<code>.gateway.memory): the size of a stored fact's embedding (the memory_facts
# column, migration 0006), an org's defaults until `regiongate memory enable` sets its own, and per-request limits.
MEMORY_DIMENSIONS: Final = 1024
DEFAULT_MEMORY_RETENTION_DAYS: Final = 30
DEFAULT_MEMORY_MAX_FACTS: Final = 10_000
MEMORY_MAX_FACTS_PER_REQUEST: Final = 100
MEMORY_MAX_FACT_CHARS: Final = 8_000
MEMORY_MAX_RESULTS: Final = 100

# Where the functions read their region document: layers are unpacked under /opt.
REGION_DOCUMENT_PATH: Final = "/opt/regiongate/region.json"
