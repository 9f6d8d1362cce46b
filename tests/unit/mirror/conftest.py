"""Fixtures: no credentials, loopback only (tests/fixtures/mirror_registries.py)."""

from tests.fixtures.mirror_registries import *  # noqa: F403
from tests.fixtures.mirror_registries import _loopback_only, _no_aws_credentials, _registry_binary  # noqa: F401
