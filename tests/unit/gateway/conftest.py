"""Fixtures: the region catalogue and runtime documents (tests/fixtures/gateway_db.py; no database is used here)."""

from tests.fixtures.gateway_db import catalogue, eu_runtime, no_aws_account  # noqa: F401
