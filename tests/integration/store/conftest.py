"""Fixtures: a PostgreSQL database per xdist worker (tests/fixtures/gateway_db.py)."""

from tests.fixtures.gateway_db import *  # noqa: F403
