"""Fixtures: the region catalogue (tests/fixtures/tenant_synth.py)."""

from tests.fixtures.tenant_synth import catalogue  # noqa: F401
