"""China stacks use no global edge service: no CloudFront, no Global Accelerator, no WAF with CLOUDFRONT scope."""

from __future__ import annotations

from regiongate.residency.model import NOT_APPLICABLE, Detail, Resource, RuleResult, render, verdict
from regiongate.residency.policy import ResidencyPolicy

_WAF_V2 = ("AWS::WAFv2::WebACL", "AWS::WAFv2::IPSet", "AWS::WAFv2::RuleGroup", "AWS::WAFv2::RegexPatternSet")


def check(resource: Resource, policy: ResidencyPolicy) -> RuleResult:
    if policy.partition != "aws-cn":
        return NOT_APPLICABLE
    if resource.type.startswith("AWS::CloudFront::"):
        return verdict([Detail("Type", f"{resource.type}: CloudFront serves from edge locations outside the region")])
    if resource.type.startswith("AWS::GlobalAccelerator::"):
        return verdict([Detail("Type", f"{resource.type}: Global Accelerator routes through global edge locations")])
    if resource.type.startswith("AWS::WAF::"):
        return verdict([Detail("Type", f"{resource.type}: classic global WAF is for CloudFront")])
    if resource.type in _WAF_V2:
        scope = render(resource.properties.get("Scope"), resource, policy)
        return verdict([Detail("Properties/Scope", "WAF scope CLOUDFRONT")] if scope == "CLOUDFRONT" else [])
    return NOT_APPLICABLE
