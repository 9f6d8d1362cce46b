"""DynamoDB tables have no replicas outside the home region (global tables)."""

from __future__ import annotations

from regiongate.residency.model import NOT_APPLICABLE, Detail, Resource, RuleResult, as_list, render, verdict
from regiongate.residency.policy import ResidencyPolicy


def check(resource: Resource, policy: ResidencyPolicy) -> RuleResult:
    if resource.type != "AWS::DynamoDB::GlobalTable":
        return NOT_APPLICABLE
    details = []
    for index, replica in enumerate(as_list(resource.properties.get("Replicas"))):
        region = render(replica.get("Region") if isinstance(replica, dict) else None, resource, policy)
        if region != policy.home_region:
            details.append(Detail(f"Properties/Replicas/{index}/Region", f"global table replica in {region}"))
    return verdict(details)
