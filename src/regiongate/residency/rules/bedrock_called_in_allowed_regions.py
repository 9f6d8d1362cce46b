"""Bedrock is called only in the regions the policy lets the stack call (by default its home region).

A single-tenant stack in eu-west-1 that may invoke an inference profile or a model in eu-central-1 sends its
prompts to another region's endpoint, whatever that region's promise. A foundation-model grant outside the call
regions is a call unless it is a destination of an inference profile the same statement grants in a call region
(using a profile needs the model in every destination; where those may be is the inference-regions rule's job).
"""

from __future__ import annotations

from regiongate.residency.model import (
    Detail,
    Resource,
    RuleResult,
    as_list,
    parse_arn,
    policy_statements,
    render,
    verdict,
)
from regiongate.residency.policy import ResidencyPolicy

_INVOKE_PREFIXES = ("bedrock:invoke", "bedrock:converse", "bedrock:*", "*")
_PROFILE_TYPES = ("inference-profile/", "application-inference-profile/")


def _invokes(statement) -> bool:
    return any(str(a).lower().startswith(_INVOKE_PREFIXES) for a in as_list(statement.get("Action")))


def check(resource: Resource, policy: ResidencyPolicy) -> RuleResult:
    details = []
    allowed = ", ".join(policy.call_regions)
    for path, statement in policy_statements(resource.properties):
        if str(statement.get("Effect")) != "Allow" or not _invokes(statement):
            continue
        listed = isinstance(statement.get("Resource"), list)
        arns = [
            (f"{path}/Resource/{i}" if listed else f"{path}/Resource", parse_arn(render(value, resource, policy)))
            for i, value in enumerate(as_list(statement.get("Resource")))
        ]
        arns = [(location, arn) for location, arn in arns if arn is not None and arn.service == "bedrock"]
        # Models reached through a profile this statement lets the stack call in one of its call regions.
        profiled = {
            arn.resource.split("/", 1)[1].split(".", 1)[-1]
            for _, arn in arns
            if arn.resource.startswith(_PROFILE_TYPES) and arn.region in policy.call_regions
        }
        for location, arn in arns:
            if not arn.region or "*" in arn.region or arn.region in policy.call_regions:
                continue  # any-region grants are the inference-regions rule's finding
            if arn.resource.startswith(_PROFILE_TYPES):
                details.append(
                    Detail(
                        location, f"calls a Bedrock inference profile in {arn.region}; this stack calls only {allowed}"
                    )
                )
            elif arn.resource.startswith("foundation-model/") and arn.resource.split("/", 1)[1] not in profiled:
                details.append(
                    Detail(
                        location,
                        f"calls Bedrock model {arn.resource.split('/', 1)[1]} in {arn.region}, not through a profile "
                        f"called in {allowed}; this stack calls only {allowed}",
                    )
                )
    return verdict(details)
