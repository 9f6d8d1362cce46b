"""`regiongate tenant plan`: every sentence about where data lives is computed from the synthesized template.

The small cases write a cloud assembly by hand (no synthesis); the last one plans the example tenant acme.
"""

from __future__ import annotations

import json

import pytest

from regiongate.cli.commands.tenant import describe_stack
from regiongate.config import tenants

KEY = {"Type": "AWS::KMS::Key", "Properties": {}}
ALIAS = {
    "Type": "AWS::KMS::Alias",
    "Properties": {"AliasName": "alias/regiongate/tenant-acme", "TargetKeyId": {"Fn::GetAtt": ["Key", "Arn"]}},
}
QUEUE = {
    "Type": "AWS::SQS::Queue",
    "Properties": {"KmsMasterKeyId": {"Fn::GetAtt": ["Key", "Arn"]}},
    "Metadata": {"regiongate:data": ["audit-events-in-transit"]},
}
SSE_S3_BUCKET = {
    "Type": "AWS::S3::Bucket",
    "Properties": {
        "BucketEncryption": {
            "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        }
    },
}
REPLICATED_SECRET = {
    "Type": "AWS::SecretsManager::Secret",
    "Properties": {"KmsKeyId": {"Ref": "Key"}, "ReplicaRegions": [{"Region": "us-east-1"}]},
}


@pytest.fixture
def acme(catalogue) -> tenants.Tenant:
    return tenants.load_tenant(tenants.tenant_path(tenants.DEFAULT_TENANTS_DIR, "acme"), catalogue)


def plan(tmp_path, tenant: tenants.Tenant, resources: dict, region: str | None = None, **options) -> str:
    """describe_stack of a cloud assembly holding only ``resources``, deployed to ``region`` (the tenant's)."""
    environment = f"aws://{tenant.region.account}/{region or tenant.region.aws_region}"
    template_file = f"{tenant.stack_name}.template.json"
    (tmp_path / template_file).write_text(json.dumps({"Resources": resources}))
    manifest = {
        "artifacts": {
            tenant.stack_name: {
                "type": "aws:cloudformation:stack",
                "environment": environment,
                "properties": {"templateFile": template_file},
            }
        }
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return describe_stack(tmp_path, tenant, **options)


def test_region_and_encryption_claims_when_they_hold(tmp_path, acme):
    out = plan(tmp_path, acme, {"Key": KEY, "KeyAlias": ALIAS, "Queue": QUEUE})
    assert "Resources (3 resources, every one in eu-west-1):" in out
    assert (
        "Encryption: every one of the 1 data store encrypted with the stack's own KMS key "
        "(alias/regiongate/tenant-acme)." in out
    )


def test_resources_that_do_not_hold_are_named_instead_of_the_claims(tmp_path, acme):
    out = plan(
        tmp_path,
        acme,
        {"Key": KEY, "KeyAlias": ALIAS, "Queue": QUEUE, "Logs": SSE_S3_BUCKET, "Secret": REPLICATED_SECRET},
    )
    assert "every one in" not in out and "every one of the" not in out
    assert (
        "Resources (5 resources in eu-west-1, of which 1 keep or send data elsewhere: Secret (AWS::SecretsManager"
        in out
    )
    assert "SecretsNotReplicated" in out
    assert (
        "Encryption: 2 of the 3 data stores encrypted with the stack's own KMS key (alias/regiongate/tenant-acme); "
        "not: Logs (AWS::S3::Bucket: SSE-S3 (AES256, key managed by Amazon S3))." in out
    )


def test_a_stack_deployed_outside_the_tenants_region_is_said(tmp_path, acme):
    out = plan(tmp_path, acme, {"Key": KEY, "KeyAlias": ALIAS, "Queue": QUEUE}, region="us-east-1")
    assert "Resources (3 resources, deployed to us-east-1, not the home region eu-west-1):" in out
    assert "every one in" not in out


def test_data_kinds_are_read_from_the_metadata_and_content_is_not_claimed(tmp_path, acme):
    out = plan(tmp_path, acme, {"Key": KEY, "KeyAlias": ALIAS, "Queue": QUEUE}, data_kinds=True)
    kinds = out.split("Where each kind of data lives (from the regiongate:data metadata of the template):")[1]
    assert "audit-events-in-transit      AWS::SQS::Queue Queue" in kinds
    assert "prompt-and-response-content  no resource is marked as holding it" in kinds
    assert "encrypted with the tenant's own KMS key" not in out and "processed in memory" not in out


def test_plan_of_acme_names_the_access_log_bucket_not_encrypted_with_the_tenants_key(capsys, tmp_path):
    from regiongate.cli import main as cli

    code = cli.main(["tenant", "plan", "acme", "--cdk-out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "resources, every one in eu-west-1):" in out
    encryption = next(line for line in out.splitlines() if line.startswith("Encryption: "))
    assert "encrypted with the stack's own KMS key (alias/regiongate/tenant-acme); not: GatewayAccessLogs" in encryption
    assert "SSE-S3" in encryption
