"""KMS keys are single-region: no multi-region keys and no replica keys."""

from __future__ import annotations

from regiongate.residency.model import NOT_APPLICABLE, Detail, Resource, RuleResult, render, verdict
from regiongate.residency.policy import ResidencyPolicy


def check(resource: Resource, policy: ResidencyPolicy) -> RuleResult:
    if resource.type == "AWS::KMS::ReplicaKey":
        primary = render(resource.properties.get("PrimaryKeyArn"), resource, policy)
        return verdict(
            [Detail("Type", f"replica of multi-region key {primary}: the key material is shared across regions")]
        )
    if resource.type != "AWS::KMS::Key":
        return NOT_APPLICABLE
    multi_region = resource.properties.get("MultiRegion")
    if multi_region is True or str(multi_region).lower() == "true":
        return verdict([Detail("Properties/MultiRegion", "multi-region key: can be replicated to other regions")])
    return verdict([])
