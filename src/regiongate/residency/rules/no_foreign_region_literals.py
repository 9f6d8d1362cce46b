"""No literal AWS region other than the home region, except allowed inference regions in Bedrock ARNs, Bedrock
runtime host names (a DNS allow-list entry for an inference region) and settings."""

from __future__ import annotations

import re

from regiongate.residency.model import Detail, Resource, RuleResult, regions_in, verdict, walk_rendered_strings
from regiongate.residency.policy import ResidencyPolicy

_BEDROCK_ARN = re.compile(r"^arn:[a-z-]+:bedrock:")
_BEDROCK_RUNTIME_HOST = re.compile(r"^bedrock-runtime(?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?$")
# Lambda environment variables that carry the gateway's inference settings (model ids, regions).
_INFERENCE_SETTING = re.compile(r"BEDROCK|INFERENCE|MODEL", re.IGNORECASE)


def _inference_context(location: str, text: str, resource: Resource) -> bool:
    if _BEDROCK_ARN.match(text) or _BEDROCK_RUNTIME_HOST.match(text):
        return True
    if resource.type == "AWS::Lambda::Function" and location.startswith("Properties/Environment/Variables/"):
        name = location.split("/")[3]
        return bool(_INFERENCE_SETTING.search(name))
    return False


def check(resource: Resource, policy: ResidencyPolicy) -> RuleResult:
    details = []
    for location, text in walk_rendered_strings(resource.properties, resource, policy):
        for region in regions_in(text):
            if region == policy.home_region:
                continue
            if region in policy.inference_regions and _inference_context(location, text, resource):
                continue
            where = (
                "an allowed inference region, but outside Bedrock permissions/settings"
                if region in policy.inference_regions
                else "a foreign region"
            )
            details.append(Detail(location, f"{region} ({where}) in {text[:120]!r}"))
    return verdict(details)
