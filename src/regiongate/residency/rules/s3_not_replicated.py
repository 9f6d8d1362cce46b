"""S3 objects stay in the home region: no bucket replication, no multi-region access points."""

from __future__ import annotations

from regiongate.residency.model import (
    NOT_APPLICABLE,
    Detail,
    Resource,
    RuleResult,
    as_list,
    check_in_region,
    get_path,
    render,
    verdict,
)
from regiongate.residency.policy import ResidencyPolicy


def check(resource: Resource, policy: ResidencyPolicy) -> RuleResult:
    if resource.type in ("AWS::S3::MultiRegionAccessPoint", "AWS::S3::MultiRegionAccessPointPolicy"):
        return verdict([Detail("Type", "a multi-region access point routes requests to buckets in other regions")])
    if resource.type != "AWS::S3::Bucket":
        return NOT_APPLICABLE
    replication = resource.properties.get("ReplicationConfiguration")
    if replication is None:
        return verdict([])
    details = []
    rules = as_list(get_path(replication, "Rules"))
    for index, rule in enumerate(rules):
        destination = render(get_path(rule, "Destination", "Bucket"), resource, policy)
        location = f"Properties/ReplicationConfiguration/Rules/{index}/Destination/Bucket"
        problem = check_in_region(destination, policy, location=location, what="replication destination")
        # Same-region replication to a bucket of this stack still copies the data: say so either way.
        details.append(problem or Detail(location, f"bucket replicates its objects to {destination}"))
    if not rules:
        details.append(Detail("Properties/ReplicationConfiguration", "bucket has a replication configuration"))
    return verdict(details)
