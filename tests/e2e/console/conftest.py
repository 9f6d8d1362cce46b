"""Fixtures: the console world (tests/fixtures/console_world.py)."""

from tests.fixtures.console_world import *  # noqa: F403
