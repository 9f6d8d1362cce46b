"""No global cross-region inference profiles (global.*): they may route a prompt to any commercial region."""

from __future__ import annotations

import re

from regiongate.residency.model import Detail, Resource, RuleResult, verdict, walk_rendered_strings
from regiongate.residency.policy import ResidencyPolicy

# "global.anthropic.claude-…" as a model id, or ".../inference-profile/global.…" in an ARN.
_GLOBAL_PROFILE = re.compile(r"(?:^|[/\s\"',=])global\.[a-z0-9-]+\.[a-z0-9]")


def check(resource: Resource, policy: ResidencyPolicy) -> RuleResult:
    details = [
        Detail(location, f"global inference profile {text[:120]!r}")
        for location, text in walk_rendered_strings(resource.properties, resource, policy)
        if _GLOBAL_PROFILE.search(text)
    ]
    return verdict(details)
