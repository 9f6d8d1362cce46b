"""Running the rules over a template: pure Python, no CDK (the report uses it without starting jsii)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from regiongate.residency.model import Detail, resources_of
from regiongate.residency.policy import ResidencyPolicy
from regiongate.residency.rules import RULES, Rule

PLUGIN_NAME = "Residency"
PLUGIN_VERSION = "1.0.0"
STACK_RULE_ID = "KnownHomeRegion"
# The pseudo-rule raised once per stack when no home region can be established.
STACK_RULE = Rule(
    STACK_RULE_ID,
    lambda resource, policy: None,  # type: ignore[arg-type,return-value]
    "A stack with no residency policy and no concrete region (an environment-agnostic stack), or whose "
    "policy names another region than the stack's environment.",
    "Residency cannot be proven for a template that could be deployed in any region.",
    "Give the stack env=Environment(account=..., region=...) and a ResidencyPolicy for its name.",
)
ALL_RULE_IDS = tuple(rule.id for rule in RULES) + (STACK_RULE_ID,)
# How an acknowledgement that does not close its finding is recorded: its reason starts with this. Synthesis does not
# fail on it (it is acknowledged), but the report lists it under the open findings ("open-acknowledged"): the
# operator accepted a known gap, nobody fixed it.
STILL_OPEN_PREFIX = "STILL OPEN (acknowledged, not fixed): "


@dataclass(frozen=True)
class Finding:
    rule_id: str
    logical_id: str
    resource_type: str
    details: tuple[Detail, ...]
    construct_path: str | None = None

    @property
    def message(self) -> str:
        return "; ".join(f"{d.location}: {d.message}" for d in self.details)


def evaluate_template(
    template: Mapping[str, Any], policy: ResidencyPolicy, rules: Iterable[Rule] = RULES
) -> list[Finding]:
    """Every rule on every resource of ``template``: the non-compliant results, as findings. Pure."""
    rules = tuple(rules)
    findings: list[Finding] = []
    for resource in resources_of(template):
        for rule in rules:
            try:
                result = rule.check(resource, policy)
            except Exception as exc:  # a rule must never hide a resource: an error is a finding
                findings.append(
                    Finding(
                        rule.id, resource.logical_id, resource.type, (Detail("Properties", f"rule failed: {exc!r}"),)
                    )
                )
                continue
            if result.failed:
                findings.append(
                    Finding(
                        rule.id,
                        resource.logical_id,
                        resource.type,
                        result.details,
                        resource.metadata.get("aws:cdk:path"),
                    )
                )
    return findings
