"""ARNs and endpoints belong to the stack's partition: no arn:aws: in China, no arn:aws-cn: elsewhere, no global hosts in China."""

from __future__ import annotations

import re

from regiongate.residency.model import Detail, Resource, RuleResult, verdict, walk_rendered_strings
from regiongate.residency.policy import ResidencyPolicy

_ARN_PARTITION = re.compile(r"arn:(aws(?:-[a-z]+)*):")
# A host under amazonaws.com that is not amazonaws.com.cn (the China suffix).
_GLOBAL_HOST = re.compile(r"amazonaws\.com(?!\.cn)")
# Service principals and service names legitimately end in amazonaws.com in every partition (CDK renders them
# so in China too): principal blocks, CloudTrail event sources and the service-name condition keys.
_PRINCIPAL_KEYS = frozenset(
    {
        "Principal",
        "NotPrincipal",
        "EventPattern",
        "kms:ViaService",
        "aws:PrincipalServiceName",
        "aws:SourceService",
        "iam:PassedToService",
        "iam:AWSServiceName",
    }
)


def _is_principal_property(resource: Resource, location: str) -> bool:
    return resource.type == "AWS::Lambda::Permission" and location == "Properties/Principal"


def check(resource: Resource, policy: ResidencyPolicy) -> RuleResult:
    details = []
    for location, text in walk_rendered_strings(resource.properties, resource, policy, skip_keys=_PRINCIPAL_KEYS):
        for partition in _ARN_PARTITION.findall(text):
            if partition != policy.partition:
                details.append(
                    Detail(location, f"ARN of partition {partition} in a {policy.partition} stack: {text[:120]!r}")
                )
        if policy.partition == "aws-cn" and not _is_principal_property(resource, location):
            if _GLOBAL_HOST.search(text):
                details.append(
                    Detail(location, f"endpoint host ends in amazonaws.com, not amazonaws.com.cn: {text[:120]!r}")
                )
    return verdict(details)
