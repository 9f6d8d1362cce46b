"""RDS keeps data and backups in the home region: no cross-region replicas, backup replication or global clusters."""

from __future__ import annotations

from regiongate.residency.model import (
    NOT_APPLICABLE,
    Detail,
    Resource,
    RuleResult,
    check_in_region,
    parse_arn,
    render,
    verdict,
)
from regiongate.residency.policy import ResidencyPolicy

_TYPES = ("AWS::RDS::DBInstance", "AWS::RDS::DBCluster", "AWS::RDS::GlobalCluster")


def check(resource: Resource, policy: ResidencyPolicy) -> RuleResult:
    if resource.type not in _TYPES:
        return NOT_APPLICABLE
    props = resource.properties
    details: list[Detail] = []
    if resource.type == "AWS::RDS::GlobalCluster":
        details.append(Detail("Type", "a global cluster replicates the database to other regions"))
    for name in ("SourceRegion", "AutomaticBackupReplicationRegion"):
        if props.get(name) is not None:
            region = render(props[name], resource, policy)
            if name == "AutomaticBackupReplicationRegion" or region != policy.home_region:
                details.append(Detail(f"Properties/{name}", f"{name} is {region}: data crosses to another region"))
    if props.get("AutomaticBackupReplicationKmsKeyId") is not None:
        details.append(
            Detail(
                "Properties/AutomaticBackupReplicationKmsKeyId", "automated backups are replicated to another region"
            )
        )
    if props.get("GlobalClusterIdentifier") is not None:
        details.append(Detail("Properties/GlobalClusterIdentifier", "member of a global (multi-region) cluster"))
    for name in ("SourceDBInstanceIdentifier", "SourceDBClusterIdentifier", "ReplicationSourceIdentifier"):
        if props.get(name) is None:
            continue
        source = render(props[name], resource, policy)
        # A plain identifier names a source in the same region; an ARN may name another region or account.
        if parse_arn(source) is not None:
            problem = check_in_region(source, policy, location=f"Properties/{name}", what=f"{name}")
            if problem:
                details.append(problem)
    return verdict(details)
