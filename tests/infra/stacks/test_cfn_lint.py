"""cfn-lint over every synthesized template, in the stack's own region: zero errors, only accepted warnings."""

from __future__ import annotations

import json

import yaml
from cfnlint.api import ManualArgs, lint

from tests.paths import REPO_ROOT

ACCEPTED_FILE = REPO_ROOT / "cfn-lint-accepted.yaml"


def accepted_codes() -> dict[str, str]:
    return yaml.safe_load(ACCEPTED_FILE.read_text())


def _lint(template_json: dict, region: str):
    return lint(json.dumps(template_json), config=ManualArgs(regions=[region]))


def test_accepted_warnings_all_have_reasons():
    for code, reason in accepted_codes().items():
        assert code.startswith("W"), f"{code}: only warnings may be accepted, never errors"
        assert len(reason) > 40, f"{code}: give the reason"


def test_template_lints_clean_in_its_region(each_stack):
    matches = _lint(each_stack.template_json, each_stack.region.aws_region)
    accepted = accepted_codes()
    problems = [
        f"{m.rule.id} {'/'.join(map(str, m.path))}: {m.message}"
        for m in matches
        if m.rule.id.startswith("E") or m.rule.id not in accepted
    ]
    assert problems == []


def test_linter_knows_cn_north_1_lacks_bedrock():
    """Guards the test above: if cfn-lint stopped knowing China's resource types, clean results would mean nothing."""
    template = {
        "Resources": {
            "Guardrail": {
                "Type": "AWS::Bedrock::Guardrail",
                "Properties": {"Name": "g", "BlockedInputMessaging": "no", "BlockedOutputsMessaging": "no"},
            }
        }
    }
    ids = {m.rule.id for m in _lint(template, "cn-north-1")}
    assert "E3006" in ids
