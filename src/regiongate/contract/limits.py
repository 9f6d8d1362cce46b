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

# The console listens here in its container (and `regiongate console` locally, by default).
CONSOLE_PORT: Final = 8081

# Where the functions read their region document: layers are unpacked under /opt.
REGION_DOCUMENT_PATH: Final = "/opt/regiongate/region.json"
