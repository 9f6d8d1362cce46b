"""CloudWatch Logs are not streamed out: subscription filters, destinations and deliveries stay in region and account."""

from __future__ import annotations

from regiongate.residency.model import NOT_APPLICABLE, Resource, RuleResult, check_in_region, render, verdict
from regiongate.residency.policy import ResidencyPolicy

# Resource type -> the property naming where the logs go.
_DESTINATIONS = {
    "AWS::Logs::SubscriptionFilter": "DestinationArn",
    "AWS::Logs::Destination": "TargetArn",
    "AWS::Logs::DeliveryDestination": "DestinationResourceArn",
}


def check(resource: Resource, policy: ResidencyPolicy) -> RuleResult:
    if resource.type == "AWS::Logs::AccountPolicy":
        kind = str(resource.properties.get("PolicyType", ""))
        if kind == "SUBSCRIPTION_FILTER_POLICY":
            document = str(resource.properties.get("PolicyDocument", ""))
            arns = [part for part in document.replace('"', " ").split() if part.startswith("arn:")]
            details = [
                problem
                for arn in arns
                if (
                    problem := check_in_region(
                        arn, policy, location="Properties/PolicyDocument", what="account-wide subscription destination"
                    )
                )
            ]
            return verdict(details)
        return NOT_APPLICABLE
    prop = _DESTINATIONS.get(resource.type)
    if prop is None:
        return NOT_APPLICABLE
    value = resource.properties.get(prop)
    if value is None:
        return verdict([])
    target = render(value, resource, policy)
    problem = check_in_region(target, policy, location=f"Properties/{prop}", what="log destination")
    return verdict([problem] if problem else [])
