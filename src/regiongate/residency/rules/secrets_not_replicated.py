"""Secrets Manager secrets have no replicas: a replica copies the secret value into another region."""

from __future__ import annotations

from regiongate.residency.model import NOT_APPLICABLE, Detail, Resource, RuleResult, as_list, render, verdict
from regiongate.residency.policy import ResidencyPolicy


def check(resource: Resource, policy: ResidencyPolicy) -> RuleResult:
    if resource.type != "AWS::SecretsManager::Secret":
        return NOT_APPLICABLE
    details = []
    for index, replica in enumerate(as_list(resource.properties.get("ReplicaRegions"))):
        region = render(replica.get("Region") if isinstance(replica, dict) else replica, resource, policy)
        details.append(Detail(f"Properties/ReplicaRegions/{index}", f"secret replicated to {region}"))
    return verdict(details)
