"""Fixtures: the region runtimes, PostgreSQL per worker and loopback fakes (tests/fixtures/gateway_db.py)."""

from tests.fixtures.gateway_db import *  # noqa: F403
