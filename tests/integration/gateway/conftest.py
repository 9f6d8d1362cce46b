"""Fixtures: PostgreSQL per worker, loopback fake providers (tests/fixtures/gateway_db.py)."""

from tests.fixtures.gateway_db import *  # noqa: F403
