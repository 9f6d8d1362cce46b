"""``ResidencyChecks``: the residency rules as a CDK policy-validation plugin (the cdk-nag 3 model).

Register it on the app; it runs during synthesis on the written templates, and any unacknowledged finding
fails synthesis (``cdk synth``, ``app.synth()``, ``Template.from_stack``) exactly like a cdk-nag pack::

    Validations.of(app).add_plugins(ResidencyChecks({"Eu": ResidencyPolicy.from_region(eu_config)}))

Findings and acknowledgements go into ``cdk.out/validation-report.json`` under the plugin name
``Residency``. Acknowledge a finding on the construct it concerns, with a reason::

    acknowledge(bucket, "StoresEncryptedWithStackKey", "ALB access logs support only SSE-S3")

which is ``Validations.of(bucket).acknowledge(Acknowledgment(id="Residency::StoresEncryptedWithStackKey", ...))``:
CDK itself matches it against the finding's construct path (or any parent) and lists it as suppressed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    Acknowledgment,
    IPolicyValidationContext,
    IPolicyValidationPlugin,
    PolicyValidationPluginReport,
    PolicyViolatingResource,
    PolicyViolation,
    Stack,
    Validations,
)
from constructs import IConstruct

from regiongate.residency.engine import (
    ALL_RULE_IDS,
    PLUGIN_NAME,
    PLUGIN_VERSION,
    STACK_RULE,
    STILL_OPEN_PREFIX,
    Finding,
    evaluate_template,
)
from regiongate.residency.policy import ResidencyPolicy
from regiongate.residency.rules import RULES_BY_ID, Rule

__all__ = ["ALL_RULE_IDS", "PLUGIN_NAME", "Finding", "ResidencyChecks", "acknowledge", "evaluate_template"]


def acknowledge(construct: IConstruct, rule_id: str, reason: str, *, still_open: bool = False) -> None:
    """Acknowledge one residency rule on ``construct`` (and everything below it), with a specific reason.

    ``still_open``: the operator accepts a gap nobody fixed (an unverified database connection): synthesis does not
    fail, but the report lists the finding as open (``open-acknowledged``), with this reason."""
    if rule_id not in ALL_RULE_IDS:
        raise ValueError(f"{rule_id!r} is not a residency rule; valid: {', '.join(ALL_RULE_IDS)}")
    if len(reason.strip()) < 20:
        raise ValueError("an acknowledgement needs a specific reason (at least a sentence), not a placeholder")
    if reason.startswith(STILL_OPEN_PREFIX):
        raise ValueError("say still_open=True instead of writing the prefix into the reason")
    recorded = f"{STILL_OPEN_PREFIX}{reason}" if still_open else reason
    Validations.of(construct).acknowledge(Acknowledgment(id=f"{PLUGIN_NAME}::{rule_id}", reason=recorded))


@jsii.implements(IPolicyValidationPlugin)
class ResidencyChecks:
    """Policy-validation plugin: every rule, on every stack, against that stack's :class:`ResidencyPolicy`.

    ``policies`` maps a stack name (``Stack.stack_name``) to its policy. A stack without an entry gets
    :meth:`ResidencyPolicy.strict` for its environment's region (everything, inference too, in that region);
    an environment-agnostic stack without an entry is a ``KnownHomeRegion`` finding.
    """

    def __init__(self, policies: Mapping[str, ResidencyPolicy] | None = None) -> None:
        self._policies = dict(policies or {})
        self.last_duration_seconds: float | None = None

    @property
    def name(self) -> str:
        return PLUGIN_NAME

    @property
    def version(self) -> str:
        return PLUGIN_VERSION

    @property
    def rule_ids(self) -> list[str]:
        return list(ALL_RULE_IDS)

    def validate(self, context: IPolicyValidationContext) -> PolicyValidationPluginReport:
        started = time.perf_counter()
        violations: dict[str, dict[str, Any]] = {}

        def add(rule: Rule, description: str, resource: PolicyViolatingResource) -> None:
            entry = violations.setdefault(rule.id, {"rule": rule, "descriptions": [], "resources": []})
            entry["descriptions"].append(description)
            entry["resources"].append(resource)

        for stack_info in context.stack_templates:
            template_path = stack_info.template_path
            stack_name = _stack_name(context.app_construct, stack_info.stack_construct_path)
            policy = self._policies.get(stack_name)
            region = stack_info.region
            if policy is None and region:
                policy = ResidencyPolicy.strict(region, stack_info.account_id)
            if policy is None or (region and policy.home_region != region):
                problem = (
                    f"stack {stack_name} has no region and no residency policy"
                    if policy is None
                    else f"stack {stack_name} is deployed to {region} but its policy's home region is {policy.home_region}"
                )
                add(
                    STACK_RULE,
                    problem,
                    PolicyViolatingResource(locations=["Stack"], construct_path=stack_info.stack_construct_path),
                )
                continue
            template = json.loads(Path(template_path).read_text())
            for finding in evaluate_template(template, policy):
                add(
                    RULES_BY_ID[finding.rule_id],
                    f"{stack_name}/{finding.logical_id}: {finding.message}",
                    PolicyViolatingResource(
                        locations=[d.location for d in finding.details] or ["Properties"],
                        resource_logical_id=finding.logical_id,
                        template_path=template_path,
                        construct_path=finding.construct_path,
                    ),
                )

        report_violations = [
            PolicyViolation(
                rule_name=rule_id,
                description="Found: "
                + " | ".join(entry["descriptions"])
                + f". The rule forbids: {entry['rule'].forbids} Why: {entry['rule'].why}",
                fix=entry["rule"].fix,
                severity=entry["rule"].severity,
                violating_resources=entry["resources"],
            )
            for rule_id, entry in violations.items()
        ]
        self.last_duration_seconds = time.perf_counter() - started
        return PolicyValidationPluginReport(success=not report_violations, violations=report_violations)


def _stack_name(app: IConstruct, construct_path: str) -> str:
    """The CloudFormation stack name of the stack at ``construct_path`` (its last path segment if not found)."""
    node: IConstruct | None = app
    for segment in construct_path.split("/"):
        node = node.node.try_find_child(segment) if node is not None else None
    if node is not None and Stack.is_stack(node):
        return node.stack_name
    return construct_path.rsplit("/", 1)[-1]
