"""CloudWatch cross-account observability (OAM) does not share this stack's telemetry with another account or region."""

from __future__ import annotations

import json

from regiongate.residency.model import NOT_APPLICABLE, Detail, Resource, RuleResult, check_in_region, render, verdict
from regiongate.residency.policy import ResidencyPolicy


def check(resource: Resource, policy: ResidencyPolicy) -> RuleResult:
    if resource.type == "AWS::Oam::Link":
        sink = render(resource.properties.get("SinkIdentifier"), resource, policy)
        problem = check_in_region(sink, policy, location="Properties/SinkIdentifier", what="observability sink")
        # A sink of this very stack would be pointless; any other sink belongs to a monitoring account.
        return verdict([problem or Detail("Properties/SinkIdentifier", f"telemetry is shared with sink {sink}")])
    if resource.type == "AWS::Oam::Sink":
        document = json.dumps(resource.properties.get("Policy", {}))
        return (
            verdict([Detail("Type", "an OAM sink receives telemetry from other accounts")])
            if document not in ("{}", "null")
            else verdict([])
        )
    return NOT_APPLICABLE
