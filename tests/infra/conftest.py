"""Fixtures of the infra tests: the one synthesized app of the session and the views the tests take of it.

Registered here, once for tests/infra, so that stacks/, tenants/ and residency/ share one session fixture
(a fixture imported into two conftest files would be two fixtures, synthesized twice).
"""

import pytest

from tests.fixtures.synth import SYNTH_GROUP, each_stack, synthesized, synthesized_app
from tests.fixtures.tenant_synth import catalogue, each_tenant, synthesized_tenants, tenant_app

__all__ = [
    "catalogue",
    "each_stack",
    "each_tenant",
    "synthesized",
    "synthesized_app",
    "synthesized_tenants",
    "tenant_app",
]


@pytest.hookimpl(tryfirst=True)  # before xdist's loadgroup reads the marks
def pytest_collection_modifyitems(items):
    """Every test that uses the synthesized app, directly or through another fixture, joins one xdist group:
    one worker synthesizes, and the tests that build small apps of their own run beside it on the others."""
    for item in items:
        if "synthesized_app" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group(SYNTH_GROUP))
