"""Fixtures: PostgreSQL per worker (tests/fixtures/gateway_db.py)."""

from tests.fixtures.gateway_db import *  # noqa: F403
