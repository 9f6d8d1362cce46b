"""Bedrock permissions name exact resources in allowed inference regions: no bedrock:*:… ARNs, no Resource "*".

A foundation model the operator opted into a wider, named processing area (``ResidencyPolicy.widened_models``)
may be granted in that area's regions too; every other model only in ``inference_regions``.
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

_INVOKE_PREFIXES = ("bedrock:invoke", "bedrock:converse", "bedrock:*", "*", "bedrock:apply")


def _grants_bedrock(statement) -> bool:
    actions = [str(a).lower() for a in as_list(statement.get("Action"))]
    return any(a.startswith(_INVOKE_PREFIXES) for a in actions)


def _allowed(arn_resource: str, policy: ResidencyPolicy) -> tuple[str, ...]:
    if arn_resource.startswith("foundation-model/"):
        return policy.processing_regions_of(arn_resource.split("/", 1)[1])
    return policy.inference_regions


def check(resource: Resource, policy: ResidencyPolicy) -> RuleResult:
    details = []
    for path, statement in policy_statements(resource.properties):
        if str(statement.get("Effect")) != "Allow":
            continue
        actions = [str(a).lower() for a in as_list(statement.get("Action"))]
        resources = as_list(statement.get("Resource"))
        for index, value in enumerate(resources):
            text = render(value, resource, policy)
            location = f"{path}/Resource/{index}" if isinstance(statement.get("Resource"), list) else f"{path}/Resource"
            arn = parse_arn(text)
            if arn is not None and arn.service == "bedrock":
                if "*" in arn.region or not arn.region:
                    details.append(Detail(location, f"Bedrock resource in any region: {text!r}"))
                elif arn.region not in _allowed(arn.resource, policy):
                    details.append(
                        Detail(location, f"Bedrock resource in {arn.region}, not an inference region of this stack")
                    )
            elif (
                text == "*" and _grants_bedrock(statement) and any(a.startswith("bedrock") or a == "*" for a in actions)
            ):
                details.append(Detail(location, 'Bedrock invocation allowed on Resource "*" (every region)'))
    return verdict(details)
