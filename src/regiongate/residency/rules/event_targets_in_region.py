"""EventBridge rules, pipes and SNS subscriptions deliver only to targets in the home region and own account."""

from __future__ import annotations

from regiongate.residency.model import (
    NOT_APPLICABLE,
    Detail,
    Resource,
    RuleResult,
    as_list,
    check_in_region,
    render,
    verdict,
)
from regiongate.residency.policy import ResidencyPolicy

# SNS protocols whose endpoint is an ARN we can place; anything else (http, email, sms) leaves AWS.
_ARN_PROTOCOLS = {"sqs", "lambda", "firehose", "application"}


def _subscription(protocol_value, endpoint_value, resource, policy, location) -> Detail | None:
    protocol = render(protocol_value, resource, policy).lower()
    endpoint = render(endpoint_value, resource, policy)
    if protocol in _ARN_PROTOCOLS:
        return check_in_region(endpoint, policy, location=location, what=f"SNS {protocol} subscriber")
    return Detail(location, f"SNS {protocol} subscription sends messages outside AWS to {endpoint}")


def check(resource: Resource, policy: ResidencyPolicy) -> RuleResult:
    props = resource.properties
    details: list[Detail] = []
    if resource.type == "AWS::Events::Rule":
        for index, target in enumerate(as_list(props.get("Targets"))):
            arn = render(target.get("Arn") if isinstance(target, dict) else None, resource, policy)
            problem = check_in_region(arn, policy, location=f"Properties/Targets/{index}/Arn", what="event target")
            if problem:
                details.append(problem)
        return verdict(details)
    if resource.type == "AWS::Pipes::Pipe":
        target = render(props.get("Target"), resource, policy)
        problem = check_in_region(target, policy, location="Properties/Target", what="pipe target")
        return verdict([problem] if problem else [])
    if resource.type == "AWS::SNS::Subscription":
        problem = _subscription(props.get("Protocol"), props.get("Endpoint"), resource, policy, "Properties/Endpoint")
        return verdict([problem] if problem else [])
    if resource.type == "AWS::SNS::Topic":
        for index, sub in enumerate(as_list(props.get("Subscription"))):
            problem = _subscription(
                sub.get("Protocol"), sub.get("Endpoint"), resource, policy, f"Properties/Subscription/{index}/Endpoint"
            )
            if problem:
                details.append(problem)
        return verdict(details)
    return NOT_APPLICABLE
