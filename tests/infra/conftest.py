"""One synthesized app per test session: synthesis dominates test time."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from regiongate.config import RegionConfig, load_catalogue
from stacks.app import build_app, cdk_json_context
from stacks.region_stack import RegionStack

STACK_NAMES = ("Eu", "Us", "Sg", "Cn")


@dataclass(frozen=True)
class SynthesizedStack:
    stack: RegionStack
    region: RegionConfig
    template: Template
    template_json: dict

    @property
    def text(self) -> str:
        return json.dumps(self.template_json)


@pytest.fixture(scope="session")
def synthesized() -> dict[str, SynthesizedStack]:
    app = App(context={**cdk_json_context(), "stacks": ",".join(STACK_NAMES)})
    stacks = build_app(app, load_catalogue())
    result = {}
    for name in STACK_NAMES:
        stack = stacks[name]
        # Template.from_stack raises on unacknowledged cdk-nag findings: that is the nag test's first line.
        template = Template.from_stack(stack)
        result[name] = SynthesizedStack(stack, stack.region_config, template, template.to_json())
    return result


@pytest.fixture(params=STACK_NAMES)
def each_stack(request, synthesized) -> SynthesizedStack:
    return synthesized[request.param]


ASSET_HASH = re.compile(r"[0-9a-f]{64}")


def normalised(template_json: dict) -> dict:
    """The template with asset hashes masked, so snapshots change only when the infrastructure does."""
    return json.loads(ASSET_HASH.sub("<asset-hash>", json.dumps(template_json, sort_keys=True)))
