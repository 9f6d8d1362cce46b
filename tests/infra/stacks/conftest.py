"""Fixtures: the synthesized app (tests/fixtures/synth.py)."""

from tests.fixtures.synth import *  # noqa: F403
