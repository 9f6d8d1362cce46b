"""Limits and fixed values shared by synthesis, the constructs, the runtimes and the CLI: each defined here only."""

from __future__ import annotations

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

# Rate limits: a sliding window of one minute in one-second buckets; a concurrency slot of a crashed
# instance is freed after SPEND_HOLD_SECONDS like its reservation.
RATE_WINDOW_SECONDS: Final = 60

# The console listens here in its container (and `regiongate console` locally, by default).
CONSOLE_PORT: Final = 8081
# The gateway listens here in its container (runtime: container), behind the ALB.
GATEWAY_PORT: Final = 8080
# Audit events the gateway container keeps while its queue is unreachable; beyond, new requests get 503.
DEFAULT_AUDIT_BUFFER_EVENTS: Final = 10_000

# Where the functions read their region document: layers are unpacked under /opt.
REGION_DOCUMENT_PATH: Final = "/opt/regiongate/region.json"
