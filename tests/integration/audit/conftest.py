"""Fixtures: no AWS account is reachable (moto only), PostgreSQL per worker (tests/fixtures/gateway_db.py)."""

from tests.fixtures.gateway_db import *  # noqa: F403
