"""AWS Backup plans do not copy recovery points to a vault in another region or account."""

from __future__ import annotations

from regiongate.residency.model import (
    NOT_APPLICABLE,
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
    if resource.type != "AWS::Backup::BackupPlan":
        return NOT_APPLICABLE
    details = []
    for r, rule in enumerate(as_list(get_path(resource.properties, "BackupPlan", "BackupPlanRule"))):
        for c, action in enumerate(as_list(get_path(rule, "CopyActions"))):
            vault = render(get_path(action, "DestinationBackupVaultArn"), resource, policy)
            location = f"Properties/BackupPlan/BackupPlanRule/{r}/CopyActions/{c}/DestinationBackupVaultArn"
            problem = check_in_region(vault, policy, location=location, what="backup copy destination")
            if problem:
                details.append(problem)
    return verdict(details)
