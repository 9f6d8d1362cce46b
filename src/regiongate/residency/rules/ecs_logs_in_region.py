"""ECS containers log to CloudWatch Logs in the home region only (awslogs-region), never to an outside log driver."""

from __future__ import annotations

from regiongate.residency.model import NOT_APPLICABLE, Detail, Resource, RuleResult, as_list, get_path, render, verdict
from regiongate.residency.policy import ResidencyPolicy

_REGION_OPTIONS = ("awslogs-region", "region")


def check(resource: Resource, policy: ResidencyPolicy) -> RuleResult:
    if resource.type != "AWS::ECS::TaskDefinition":
        return NOT_APPLICABLE
    details = []
    for index, container in enumerate(as_list(resource.properties.get("ContainerDefinitions"))):
        log = get_path(container, "LogConfiguration")
        if log is None:
            continue
        base = f"Properties/ContainerDefinitions/{index}/LogConfiguration"
        driver = render(get_path(log, "LogDriver"), resource, policy)
        options = get_path(log, "Options") or {}
        if driver == "awslogs":
            region = render(options.get("awslogs-region"), resource, policy) if "awslogs-region" in options else None
            if region != policy.home_region:
                details.append(
                    Detail(f"{base}/Options/awslogs-region", f"awslogs-region is {region}, not {policy.home_region}")
                )
        elif driver == "awsfirelens":
            for option in _REGION_OPTIONS:
                if option in options and render(options[option], resource, policy) != policy.home_region:
                    details.append(
                        Detail(
                            f"{base}/Options/{option}",
                            f"FireLens output region {render(options[option], resource, policy)}",
                        )
                    )
        else:
            details.append(
                Detail(f"{base}/LogDriver", f"log driver {driver} ships container logs outside CloudWatch Logs")
            )
    return verdict(details)
