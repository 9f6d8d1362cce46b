"""Helpers for the residency tests: tiny stacks synthesized without the plugin, then checked rule by rule."""

from __future__ import annotations

from typing import Callable

from aws_cdk import App, Environment, Stack
from aws_cdk.assertions import Template

from regiongate.residency.model import Compliance, Resource, RuleResult, resources_of
from regiongate.residency.policy import ResidencyPolicy

EU_ACCOUNT = "111111111111"
CN_ACCOUNT = "444444444444"

EU = ResidencyPolicy(
    home_region="eu-central-1",
    geography="EU",
    partition="aws",
    inference_regions=("eu-central-1", "eu-west-1"),
    account=EU_ACCOUNT,
)
CN = ResidencyPolicy(home_region="cn-north-1", geography="CN", partition="aws-cn", inference_regions=("cn-north-1",), account=CN_ACCOUNT)


def synth(build: Callable[[Stack], None], policy: ResidencyPolicy = EU) -> dict:
    """The template of a one-stack app built by ``build`` in the policy's account and region (no plugin)."""
    app = App()
    stack = Stack(app, "Tiny", env=Environment(account=policy.account, region=policy.home_region))
    build(stack)
    return Template.from_stack(stack).to_json()


def results(check, template: dict, policy: ResidencyPolicy, resource_type: str) -> list[RuleResult]:
    """The rule's result for every resource of ``resource_type`` in ``template`` (at least one must exist)."""
    found = [r for r in resources_of(template) if r.type == resource_type]
    assert found, f"the test stack has no {resource_type}"
    return [check(resource, policy) for resource in found]


def failing(check, template: dict, policy: ResidencyPolicy, resource_type: str) -> str:
    """Assert the rule fails on some resource of the type; return its details as one string to assert on."""
    outcomes = results(check, template, policy, resource_type)
    failed = [r for r in outcomes if r.compliance is Compliance.NON_COMPLIANT]
    assert failed, f"expected a finding on {resource_type}, got {[r.compliance for r in outcomes]}"
    assert all(r.details for r in failed), "a finding must say where and why"
    return " | ".join(f"{d.location}: {d.message}" for r in failed for d in r.details)


def passing(check, template: dict, policy: ResidencyPolicy, resource_type: str) -> None:
    outcomes = results(check, template, policy, resource_type)
    assert all(r.compliance is Compliance.COMPLIANT for r in outcomes), [(r.compliance, r.details) for r in outcomes]


def all_compliant_or_na(check, template: dict, policy: ResidencyPolicy) -> None:
    bad = [(r.logical_id, check(r, policy).details) for r in resources_of(template) if check(r, policy).failed]
    assert not bad, bad


__all__ = ["CN", "EU", "Resource", "failing", "passing", "results", "synth", "all_compliant_or_na"]
