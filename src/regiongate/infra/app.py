"""Builds the regiongate CDK app from the region catalogue (used by app.py and by the tests)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from regiongate.config import tenants
from regiongate.config.regions import DEFAULT_CONFIG_PATH, PROJECT_DIR, Catalogue, load_catalogue
from regiongate.infra.acknowledgements import acknowledge_findings
from regiongate.infra.region_stack import RegionStack
from regiongate.infra.residency_acknowledgements import acknowledge_residency_findings
from regiongate.mirror.lock import load_lock
from regiongate.residency import ResidencyChecks, ResidencyPolicy


def build_app(
    app: App, catalogue: Catalogue | None = None, *, tenants_dir: Path | None = None
) -> dict[str, RegionStack]:
    """One stack per region and per tenant file, or only those named with ``-c stacks=Eu,Tenant-acme``.

    Unselected stacks are never constructed (and unselected tenant files never read).
    """
    context = app.node.get_all_context() or {}
    if catalogue is None:
        # REGIONGATE_CONFIG points at another catalogue (a staging copy, or a broken one in tests).
        path = os.environ.get("REGIONGATE_CONFIG") or DEFAULT_CONFIG_PATH
        catalogue = load_catalogue(path, context=_context(app))
    configs = tenants.deployments(
        catalogue, tenants_dir or tenants.tenants_dir(context), tenants.selected_stacks(context)
    )
    # Read once for all stacks that run the console (ECS pulls its image by the digest pinned there).
    images_lock = load_lock() if any(region.console for region in configs) else None
    stacks = {
        region.stack_name: RegionStack(app, region.stack_name, region=region, images_lock=images_lock)
        for region in configs
    }
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    for stack in stacks.values():
        acknowledge_findings(stack)
    Validations.of(app).add_plugins(
        ResidencyChecks({name: ResidencyPolicy.from_region(stack.region_config) for name, stack in stacks.items()})
    )
    for stack in stacks.values():
        acknowledge_residency_findings(stack)
    return stacks


def cdk_json_context() -> dict:
    """The feature flags and context of cdk.json, for apps built outside the CDK CLI (tests, benchmarks)."""
    return json.loads((PROJECT_DIR / "cdk.json").read_text())["context"]


def _context(app: App) -> dict:
    """The ``account.<code>`` overrides given with ``-c``."""
    values = {}
    for key, value in (app.node.get_all_context() or {}).items():
        if key.startswith("account."):
            values[key] = value
    return values
