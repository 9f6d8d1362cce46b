"""Builds the regiongate CDK app from the region catalogue (used by app.py and by the tests)."""

from __future__ import annotations

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from regiongate.config import DEFAULT_CONFIG_PATH, Catalogue, load_catalogue
from stacks.acknowledgements import acknowledge_findings
from stacks.region_stack import RegionStack


def build_app(app: App, catalogue: Catalogue | None = None) -> dict[str, RegionStack]:
    if catalogue is None:
        catalogue = load_catalogue(DEFAULT_CONFIG_PATH, context=_context(app))
    stacks = {region.stack_name: RegionStack(app, region.stack_name, region=region) for region in catalogue.regions}
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    for stack in stacks.values():
        acknowledge_findings(stack)
    return stacks


def _context(app: App) -> dict:
    """The ``account.<code>`` overrides given with ``-c``."""
    values = {}
    for key, value in (app.node.get_all_context() or {}).items():
        if key.startswith("account."):
            values[key] = value
    return values
