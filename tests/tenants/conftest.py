"""One synthesized app per session for the tenant stack tests: the two example tenants beside the region
stacks of their geographies, so a reference from a tenant to a region stack would show up as an import."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from regiongate import tenants
from regiongate.config import Catalogue, RegionConfig, load_catalogue
from stacks.app import build_app, cdk_json_context
from stacks.region_stack import RegionStack

EXAMPLE_TENANTS = ("acme", "pekingbank")
# The region stacks of the examples' geographies (EU, CN): built in the same app as the tenants.
NEIGHBOUR_STACKS = ("Eu", "Cn")


@dataclass(frozen=True)
class SynthesizedTenant:
    tenant: tenants.Tenant
    stack: RegionStack
    template: Template
    template_json: dict

    @property
    def region(self) -> RegionConfig:
        return self.tenant.region

    @property
    def text(self) -> str:
        return json.dumps(self.template_json)


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture(scope="session")
def tenant_app(catalogue):
    """The app with the example tenants and their neighbours; returns (app, stacks by name)."""
    names = [*NEIGHBOUR_STACKS, *(tenants.stack_name(slug) for slug in EXAMPLE_TENANTS)]
    app = App(context={**cdk_json_context(), tenants.SELECTION_CONTEXT: ",".join(names)})
    stacks = build_app(app, catalogue, tenants_dir=tenants.DEFAULT_TENANTS_DIR)
    return app, stacks


@pytest.fixture(scope="session")
def synthesized_tenants(tenant_app, catalogue) -> dict[str, SynthesizedTenant]:
    _, stacks = tenant_app
    result = {}
    for slug in EXAMPLE_TENANTS:
        tenant = tenants.load_tenant(tenants.tenant_path(tenants.DEFAULT_TENANTS_DIR, slug), catalogue)
        stack = stacks[tenant.stack_name]
        template = Template.from_stack(stack)
        result[slug] = SynthesizedTenant(tenant, stack, template, template.to_json())
    return result


@pytest.fixture(params=EXAMPLE_TENANTS)
def each_tenant(request, synthesized_tenants) -> SynthesizedTenant:
    return synthesized_tenants[request.param]
