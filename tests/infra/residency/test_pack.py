"""The pack as a CDK validation plugin: unacknowledged findings fail synthesis, acknowledgements are recorded."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Environment, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from regiongate.residency import RULES, ResidencyChecks, ResidencyPolicy, acknowledge
from regiongate.residency.pack import ALL_RULE_IDS, PLUGIN_NAME
from tests.fixtures.residency import EU, EU_ACCOUNT
from tests.paths import REPO_ROOT

REASON = "ALB access logs support only SSE-S3; this bucket holds nothing else."


def _app(tmp_path, policies=None, region="eu-central-1", name="Tiny"):
    app = App(outdir=str(tmp_path / "cdk.out"))
    stack = Stack(app, name, env=Environment(account=EU_ACCOUNT, region=region))
    Validations.of(app).add_plugins(ResidencyChecks(policies if policies is not None else {name: EU}))
    return app, stack


def _report(tmp_path) -> dict:
    document = json.loads((tmp_path / "cdk.out" / "validation-report.json").read_text())
    return next(p for p in document["pluginReports"] if p["pluginName"] == PLUGIN_NAME)


def test_unacknowledged_finding_fails_template_from_stack(tmp_path):
    app, stack = _app(tmp_path)
    s3.Bucket(stack, "Logs", encryption=s3.BucketEncryption.S3_MANAGED)
    with pytest.raises(RuntimeError, match="Acknowledge with 'Residency::StoresEncryptedWithStackKey'"):
        Template.from_stack(stack)
    report = _report(tmp_path)
    assert report["conclusion"] == "failure"
    (violation,) = report["violations"]
    assert violation["ruleName"] == "StoresEncryptedWithStackKey"
    assert violation["violatingConstructs"][0]["constructPath"] == "Tiny/Logs/Resource"
    assert "AES256" in violation["description"]


def test_acknowledged_finding_passes_and_is_reported_with_its_reason(tmp_path):
    app, stack = _app(tmp_path)
    bucket = s3.Bucket(stack, "Logs", encryption=s3.BucketEncryption.S3_MANAGED)
    acknowledge(bucket, "StoresEncryptedWithStackKey", REASON)
    Template.from_stack(stack)  # does not raise
    report = _report(tmp_path)
    assert report["conclusion"] == "success" and report["violations"] == []
    (suppressed,) = report["suppressedViolations"]
    assert suppressed["reason"] == REASON
    assert suppressed["acknowledgedAt"] == "Tiny/Logs"
    assert suppressed["acknowledgedId"] == "Residency::StoresEncryptedWithStackKey"


def test_an_acknowledgement_covers_only_its_construct(tmp_path):
    app, stack = _app(tmp_path)
    acknowledged = s3.Bucket(stack, "Acknowledged", encryption=s3.BucketEncryption.S3_MANAGED)
    s3.Bucket(stack, "Other", encryption=s3.BucketEncryption.S3_MANAGED)
    acknowledge(acknowledged, "StoresEncryptedWithStackKey", REASON)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        Template.from_stack(stack)
    paths = [c["constructPath"] for v in _report(tmp_path)["violations"] for c in v["violatingConstructs"]]
    assert paths == ["Tiny/Other/Resource"]


def test_compliant_stack_synthesizes(tmp_path):
    app, stack = _app(tmp_path)
    s3.Bucket(stack, "Data", encryption_key=kms.Key(stack, "Key"))
    Template.from_stack(stack)
    assert _report_or_none(tmp_path) in (None, "success")


def _report_or_none(tmp_path):
    path = tmp_path / "cdk.out" / "validation-report.json"
    if not path.exists():
        return None
    reports = [p for p in json.loads(path.read_text())["pluginReports"] if p["pluginName"] == PLUGIN_NAME]
    return reports[0]["conclusion"] if reports else None


def test_policy_is_looked_up_by_stack_name(tmp_path):
    # A tenant stack in eu-west-1 may call Bedrock in eu-central-1 because its policy says so …
    tenant = ResidencyPolicy(
        "eu-west-1", "EU", "aws", ("eu-west-1", "eu-central-1"), EU_ACCOUNT, call_regions=("eu-west-1", "eu-central-1")
    )
    app, stack = _app(tmp_path, {"Tenant-acme": tenant}, region="eu-west-1", name="Tenant-acme")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["bedrock:InvokeModel"], resources=["arn:aws:bedrock:eu-central-1::foundation-model/m"]
        )
    )
    Template.from_stack(stack)


def test_stack_without_policy_gets_the_strict_policy_of_its_region(tmp_path):
    # … while a stack nobody described may use only its own region.
    app, stack = _app(tmp_path, {}, region="eu-west-1", name="Unknown")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["bedrock:InvokeModel"], resources=["arn:aws:bedrock:eu-central-1::foundation-model/m"]
        )
    )
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        Template.from_stack(stack)
    rules = {v["ruleName"] for v in _report(tmp_path)["violations"]}
    assert {"BedrockScopedToInferenceRegions", "NoForeignRegionLiterals"} <= rules


def test_policy_for_another_region_is_a_finding(tmp_path):
    app, stack = _app(tmp_path, {"Tiny": EU}, region="eu-west-1")
    s3.Bucket(stack, "Data", encryption_key=kms.Key(stack, "Key"))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        Template.from_stack(stack)
    (violation,) = _report(tmp_path)["violations"]
    assert violation["ruleName"] == "KnownHomeRegion"
    assert "eu-west-1" in violation["description"] and "eu-central-1" in violation["description"]


def test_environment_agnostic_stack_without_policy_is_a_finding(tmp_path):
    app = App(outdir=str(tmp_path / "cdk.out"))
    stack = Stack(app, "Anywhere")
    s3.Bucket(stack, "Data", encryption_key=kms.Key(stack, "Key"))
    Validations.of(app).add_plugins(ResidencyChecks({}))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        Template.from_stack(stack)
    assert [v["ruleName"] for v in _report(tmp_path)["violations"]] == ["KnownHomeRegion"]


def test_acknowledge_refuses_unknown_rules_and_placeholder_reasons(tmp_path):
    app, stack = _app(tmp_path)
    bucket = s3.Bucket(stack, "B")
    with pytest.raises(ValueError, match="not a residency rule"):
        acknowledge(bucket, "S3Replication", REASON)
    with pytest.raises(ValueError, match="specific reason"):
        acknowledge(bucket, "StoresEncryptedWithStackKey", "ok")


def test_plugin_declares_every_rule():
    plugin = ResidencyChecks({})
    assert plugin.name == "Residency"
    assert set(plugin.rule_ids) == set(ALL_RULE_IDS) == {r.id for r in RULES} | {"KnownHomeRegion"}
    assert len(RULES) == 22


def test_rules_md_has_one_row_per_rule_with_its_module():

    text = (REPO_ROOT / "RULES.md").read_text()
    rule_table = text.split("## Acknowledged on")[0]
    rows = [line for line in rule_table.splitlines() if line.startswith("| `")]
    assert len(rows) == len(ALL_RULE_IDS)
    for rule_id in ALL_RULE_IDS:
        (row,) = [line for line in rows if line.startswith(f"| `{rule_id}` |")]
        assert row.count(" | ") >= 4, f"{rule_id}: the row needs what it forbids, why and how to fix"
    for rule in RULES:
        module = rule.check.__module__.rsplit(".", 1)[1]
        assert f"rules/{module}.py" in text
