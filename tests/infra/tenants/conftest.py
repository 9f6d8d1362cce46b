"""Fixtures: the synthesized tenant app (tests/fixtures/tenant_synth.py)."""

from tests.fixtures.tenant_synth import *  # noqa: F403
