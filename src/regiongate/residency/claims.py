"""Sentences about a stack's residency, each computed from its template: where its resources are, what encrypts them.

A sentence states a property only when the template shows it, and otherwise names the resources it fails on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from regiongate.residency.engine import evaluate_template
from regiongate.residency.inventory import describe_key
from regiongate.residency.model import Compliance, get_path, resources_of
from regiongate.residency.policy import ResidencyPolicy
from regiongate.residency.rules import RULES
from regiongate.residency.rules import stores_encrypted_with_stack_key as encryption_rule

ENCRYPTION_RULE_ID = next(rule.id for rule in RULES if rule.check is encryption_rule.check)
# Every other rule finds data that is kept or sent outside the home region, account or partition.
REGION_RULES = tuple(rule for rule in RULES if rule.id != ENCRYPTION_RULE_ID)


@dataclass(frozen=True)
class Counterexample:
    """A resource a claim does not hold for, and why."""

    logical_id: str
    resource_type: str
    why: str

    def __str__(self) -> str:
        return f"{self.logical_id} ({self.resource_type}: {self.why})"


def outside_region(template: Mapping[str, Any], policy: ResidencyPolicy) -> list[Counterexample]:
    """Resources a region rule finds keeping or sending data outside the policy's home region (or account)."""
    rules_of: dict[tuple[str, str], list[str]] = {}
    for finding in evaluate_template(template, policy, REGION_RULES):
        rules_of.setdefault((finding.logical_id, finding.resource_type), []).append(finding.rule_id)
    return [Counterexample(lid, rtype, ", ".join(sorted(rules))) for (lid, rtype), rules in rules_of.items()]


def region_sentence(template: Mapping[str, Any], policy: ResidencyPolicy, deployed_region: str) -> str:
    """``N resources, every one in <region>``, or what stops that from being true."""
    count = len(template.get("Resources") or {})
    resources = f"{count} resource{'' if count == 1 else 's'}"
    if deployed_region != policy.home_region:
        return f"{resources}, deployed to {deployed_region}, not the home region {policy.home_region}"
    outside = outside_region(template, policy)
    if not outside:
        return f"{resources}, every one in {deployed_region}"
    names = "; ".join(str(e) for e in outside)
    return f"{resources} in {deployed_region}, of which {len(outside)} keep or send data elsewhere: {names}"


def not_encrypted_with_stack_key(
    template: Mapping[str, Any], policy: ResidencyPolicy
) -> tuple[int, list[Counterexample]]:
    """(number of data stores, those not encrypted with a KMS key of the same template)."""
    stores, failing = 0, []
    for resource in resources_of(template):
        result = encryption_rule.check(resource, policy)
        if result.compliance is Compliance.NOT_APPLICABLE:
            continue
        stores += 1
        if result.failed:
            failing.append(Counterexample(resource.logical_id, resource.type, describe_key(resource)))
    return stores, failing


def stack_key_names(template: Mapping[str, Any]) -> list[str]:
    """The aliases (or logical ids, without an alias) of the KMS keys the template defines."""
    resources = template.get("Resources") or {}
    names = []
    for logical_id, body in resources.items():
        if body.get("Type") != "AWS::KMS::Key":
            continue
        aliases = [
            alias
            for other in resources.values()
            if other.get("Type") == "AWS::KMS::Alias"
            and get_path(other, "Properties", "TargetKeyId")
            in ({"Ref": logical_id}, {"Fn::GetAtt": [logical_id, "Arn"]})
            and isinstance(alias := get_path(other, "Properties", "AliasName"), str)
        ]
        names.append(", ".join(aliases) or logical_id)
    return names


def encryption_sentence(template: Mapping[str, Any], policy: ResidencyPolicy) -> str:
    """``every one of the N data stores encrypted with the stack's own KMS key (<alias>)``, or which are not."""
    stores, failing = not_encrypted_with_stack_key(template, policy)
    keys = stack_key_names(template)
    own_key = f"the stack's own KMS key ({'; '.join(keys)})" if keys else "a KMS key of the stack (it defines none)"
    if stores == 0:
        return "no data stores"
    if not failing:
        return f"every one of the {stores} data store{'' if stores == 1 else 's'} encrypted with {own_key}"
    names = "; ".join(str(e) for e in failing)
    return f"{stores - len(failing)} of the {stores} data stores encrypted with {own_key}; not: {names}"
