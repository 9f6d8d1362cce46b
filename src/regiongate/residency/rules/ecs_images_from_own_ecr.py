"""Container images come only from an ECR repository of the stack's own account and region, pinned by digest (a tag
can be moved to other content after review; a digest is the content that was mirrored)."""

from __future__ import annotations

import re

from regiongate.residency.model import NOT_APPLICABLE, Detail, Resource, RuleResult, as_list, render, verdict
from regiongate.residency.policy import ResidencyPolicy


def check(resource: Resource, policy: ResidencyPolicy) -> RuleResult:
    if resource.type != "AWS::ECS::TaskDefinition":
        return NOT_APPLICABLE
    account = re.escape(policy.account or "\u27e8own-account\u27e9")
    own_registry = re.compile(
        rf"^(?:{account}|\u27e8own-account\u27e9)\.dkr\.ecr\.{re.escape(policy.home_region)}\.{re.escape(policy.url_suffix)}/"
    )
    by_digest = re.compile(r"@sha256:[0-9a-f]{64}$")
    details = []
    for index, container in enumerate(as_list(resource.properties.get("ContainerDefinitions"))):
        image = render(container.get("Image") if isinstance(container, dict) else None, resource, policy)
        if not own_registry.match(image):
            details.append(
                Detail(
                    f"Properties/ContainerDefinitions/{index}/Image",
                    f"image {image!r} is not in this stack's ECR registry "
                    f"({policy.account or '<account>'}.dkr.ecr.{policy.home_region}.{policy.url_suffix})",
                )
            )
        elif not by_digest.search(image):
            details.append(
                Detail(
                    f"Properties/ContainerDefinitions/{index}/Image",
                    f"image {image!r} is not pinned by digest (@sha256:…): pull the digest images.lock.yaml records",
                )
            )
    return verdict(details)
