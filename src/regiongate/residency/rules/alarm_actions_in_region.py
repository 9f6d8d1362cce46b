"""CloudWatch alarms notify only an SNS topic of the same stack (its own region, account and partition), and
the subscriptions of such a topic deliver only in region (or by e-mail, which the rule accepts: see below)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from regiongate.residency.model import (
    NOT_APPLICABLE,
    Detail,
    Resource,
    RuleResult,
    as_list,
    check_in_region,
    parse_arn,
    render,
    verdict,
)
from regiongate.residency.policy import ResidencyPolicy

_ALARMS = ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")
_ACTIONS = ("AlarmActions", "OKActions", "InsufficientDataActions")
# SNS protocols whose endpoint is an ARN we can place.
_ARN_PROTOCOLS = {"sqs", "lambda", "firehose", "application"}
# An alarm e-mail leaves AWS, but says only which alarm changed state (name, metric, threshold): accepted, and
# the one exception the stack's alarm path has (docs/operations.md).
_EMAIL = {"email", "email-json"}


def _referenced(value: Any) -> str | None:
    """The logical id a ``Ref`` or ``Fn::GetAtt`` names, else None."""
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref" and isinstance(argument, str):
            return argument
        if function == "Fn::GetAtt":
            return argument.split(".", 1)[0] if isinstance(argument, str) else argument[0]
    return None


def _own_topic(value: Any, resource: Resource) -> bool:
    target = _referenced(value)
    return target is not None and resource.type_of(target) == "AWS::SNS::Topic"


def _action_problem(value: Any, resource: Resource, policy: ResidencyPolicy, location: str) -> Detail | None:
    if _own_topic(value, resource):
        return None
    rendered = render(value, resource, policy)
    arn = parse_arn(rendered)
    if arn is None or arn.service != "sns":
        return Detail(location, f"alarm action {rendered!r} is not an SNS topic of this stack")
    return check_in_region(rendered, policy, location=location, what="alarm action")


def _alarm_topics(resource: Resource) -> Iterator[str]:
    for body in (resource.template.get("Resources") or {}).values():
        if body.get("Type") in _ALARMS:
            for name in _ACTIONS:
                for action in as_list((body.get("Properties") or {}).get(name)):
                    target = _referenced(action)
                    if target is not None:
                        yield target


def check(resource: Resource, policy: ResidencyPolicy) -> RuleResult:
    props = resource.properties
    if resource.type in _ALARMS:
        details = []
        for name in _ACTIONS:
            for index, action in enumerate(as_list(props.get(name))):
                problem = _action_problem(action, resource, policy, f"Properties/{name}/{index}")
                if problem:
                    details.append(problem)
        return verdict(details)
    if resource.type == "AWS::SNS::Subscription":
        topic = _referenced(props.get("TopicArn"))
        if topic is None or topic not in set(_alarm_topics(resource)):
            return NOT_APPLICABLE  # not an alarm topic's subscription (EventTargetsInRegion covers every one)
        protocol = render(props.get("Protocol"), resource, policy).lower()
        endpoint = render(props.get("Endpoint"), resource, policy)
        if protocol in _EMAIL:
            return verdict([])
        if protocol in _ARN_PROTOCOLS:
            problem = check_in_region(
                endpoint, policy, location="Properties/Endpoint", what=f"alarm topic {protocol} subscriber"
            )
            return verdict([problem] if problem else [])
        return verdict(
            [
                Detail(
                    "Properties/Endpoint", f"alarm topic {protocol} subscription sends alarms outside AWS to {endpoint}"
                )
            ]
        )
    return NOT_APPLICABLE
