"""ECR registries do not replicate images to another region or account."""

from __future__ import annotations

from regiongate.residency.model import NOT_APPLICABLE, Detail, Resource, RuleResult, as_list, get_path, render, verdict
from regiongate.residency.policy import ResidencyPolicy


def check(resource: Resource, policy: ResidencyPolicy) -> RuleResult:
    if resource.type != "AWS::ECR::ReplicationConfiguration":
        return NOT_APPLICABLE
    details = []
    rules = as_list(get_path(resource.properties, "ReplicationConfiguration", "Rules"))
    for r, rule in enumerate(rules):
        for d, destination in enumerate(as_list(get_path(rule, "Destinations"))):
            region = render(get_path(destination, "Region"), resource, policy)
            registry = render(get_path(destination, "RegistryId"), resource, policy)
            location = f"Properties/ReplicationConfiguration/Rules/{r}/Destinations/{d}"
            own_account = policy.account or "\u27e8own-account\u27e9"
            if region != policy.home_region:
                details.append(Detail(location, f"images replicated to region {region}"))
            elif registry not in (own_account, "\u27e8own-account\u27e9"):
                details.append(Detail(location, f"images replicated to registry (account) {registry}"))
    return verdict(details)
