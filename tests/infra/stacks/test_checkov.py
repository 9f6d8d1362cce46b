"""checkov (its own venv, `make test` installs it) over every synthesized template: only accepted findings.

Each accepted finding in checkov-accepted.yaml names its check, the resources it concerns (CloudFormation type and
the logical id without CDK's hash suffix) and the reason; an acceptance no template needs any more fails too.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.fixtures.synth import SYNTHESIZED_STACKS
from tests.paths import REPO_ROOT

ACCEPTED_FILE = REPO_ROOT / "checkov-accepted.yaml"
DEFAULT_BINARY = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
# `make test` sets it: there, a missing checkov is a failure, not a skip.
BINARY_VARIABLE = "REGIONGATE_CHECKOV"
HASH_SUFFIX = re.compile(r"[0-9A-F]{8}$")


def accepted_findings() -> dict[str, dict]:
    return yaml.safe_load(ACCEPTED_FILE.read_text())


def checkov_binary() -> Path:
    required = os.environ.get(BINARY_VARIABLE)
    binary = Path(required) if required else DEFAULT_BINARY
    if not binary.is_file():
        if required:
            pytest.fail(f"{BINARY_VARIABLE}={required} does not exist: run `make test` (it installs checkov)")
        pytest.skip(
            f"checkov is not installed at {binary}: `make test` installs checkov==3.3.30 into .venv-checkov "
            "(python3 -m venv .venv-checkov && .venv-checkov/bin/pip install checkov==3.3.30)"
        )
    return binary


def resource_name(resource: str) -> str:
    """``AWS::IAM::Role.GatewayFunctionRoleF39DEA61`` -> ``AWS::IAM::Role.GatewayFunctionRole``."""
    kind, _, logical_id = resource.rpartition(".")
    return f"{kind}.{HASH_SUFFIX.sub('', logical_id)}"


def run_checkov(templates: list[Path]) -> list[dict]:
    command = [str(checkov_binary()), "--framework", "cloudformation", "--skip-download", "--quiet", "--compact"]
    for template in templates:
        command += ["--file", str(template)]
    result = subprocess.run(command + ["--output", "json"], capture_output=True, text=True, check=False)
    # 0: nothing failed; 1: some checks failed. Anything else is checkov itself failing.
    assert result.returncode in (0, 1), f"checkov exited {result.returncode}: {result.stderr[-2000:]}"
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert reports and all(r.get("check_type") == "cloudformation" for r in reports), result.stdout[:500]
    assert sum(r["summary"]["passed"] for r in reports) > 0, "checkov passed nothing: did it read the templates?"
    return [failed for report in reports for failed in report["results"]["failed_checks"]]


def test_every_acceptance_names_resources_and_a_reason():
    for check_id, entry in accepted_findings().items():
        assert re.fullmatch(r"CKV2?_AWS_\d+", check_id), check_id
        assert entry["resources"], f"{check_id}: name the resources it concerns"
        for resource in entry["resources"]:
            assert re.fullmatch(r"AWS::\w+::\w+\.[A-Za-z0-9]+", resource), f"{check_id}: {resource!r}"
        assert len(entry["reason"]) > 60, f"{check_id}: give the reason"


def test_templates_have_only_accepted_checkov_findings(synthesized_app):
    templates = [synthesized_app.outdir / f"{name}.template.json" for name in SYNTHESIZED_STACKS]
    failed = run_checkov(templates)
    accepted = accepted_findings()
    used: set[tuple[str, str]] = set()
    problems = []
    for finding in failed:
        name = resource_name(finding["resource"])
        if name in accepted.get(finding["check_id"], {}).get("resources", ()):
            used.add((finding["check_id"], name))
            continue
        problems.append(
            f"{Path(finding['file_path']).name}: {finding['check_id']} {finding['resource']}: {finding['check_name']}"
        )
    assert problems == []
    stale = [
        f"{check_id} {resource}"
        for check_id, entry in accepted.items()
        for resource in entry["resources"]
        if (check_id, resource) not in used
    ]
    assert stale == [], "accepted in checkov-accepted.yaml but no longer found: remove them"
