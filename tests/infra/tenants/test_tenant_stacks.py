"""The example tenant stacks: their own key, database, secrets and names, nothing shared with the region
stacks, the right region and partition; plus the selection of a single stack in build_app."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from aws_cdk import App, Stack

from regiongate.config import gateway as gateway_config
from regiongate.config import tenants
from regiongate.infra.app import build_app, cdk_json_context

GLOBAL_ENDPOINT = re.compile(r"\.amazonaws\.com(?!\.cn)")


def resources(s, type_name: str) -> dict:
    return {k: v for k, v in s.template_json["Resources"].items() if v["Type"] == type_name}


def only(s, type_name: str) -> tuple[str, dict]:
    found = resources(s, type_name)
    assert len(found) == 1, f"expected one {type_name}, found {sorted(found)}"
    return next(iter(found.items()))


def walk(node, path="") -> list[tuple[str, object]]:
    """Every (path, leaf) of a template fragment."""
    if isinstance(node, dict):
        return [leaf for key, value in node.items() for leaf in walk(value, f"{path}/{key}")]
    if isinstance(node, list):
        return [leaf for i, value in enumerate(node) for leaf in walk(value, f"{path}[{i}]")]
    return [(path, node)]


# --- the stack and its environment ------------------------------------------------------------------------------


def test_stack_is_named_for_the_tenant_in_its_own_environment(each_tenant):
    stack, region = each_tenant.stack, each_tenant.region
    assert stack.stack_name == f"Tenant-{each_tenant.tenant.slug}"
    assert (stack.account, stack.region) == (region.account, region.aws_region)
    assert stack.termination_protection is True
    metadata = each_tenant.template_json["Metadata"]["regiongate"]
    assert metadata["deployment_id"] == f"tenant-{each_tenant.tenant.slug}"
    assert metadata["aws_region"] == region.aws_region and metadata["partition"] == region.partition


def test_keys_carry_the_code_of_the_tenants_geography(each_tenant):
    expected = {"acme": "eu", "pekingbank": "cn"}[each_tenant.tenant.slug]
    functions = resources(each_tenant, "AWS::Lambda::Function")
    assert functions
    for function in functions.values():
        assert function["Properties"]["Environment"]["Variables"]["REGIONGATE_REGION_CODE"] == expected


# --- its own key, database and secrets --------------------------------------------------------------------------


def test_own_kms_key_retained_single_region(each_tenant):
    key_id, key = only(each_tenant, "AWS::KMS::Key")
    assert key["DeletionPolicy"] == "Retain"
    assert key["Properties"].get("MultiRegion", False) is False
    _, alias = only(each_tenant, "AWS::KMS::Alias")
    assert alias["Properties"]["AliasName"] == f"alias/regiongate/tenant-{each_tenant.tenant.slug}"
    assert alias["Properties"]["TargetKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_own_database_encrypted_with_own_key_and_snapshotted_on_delete(each_tenant):
    key_id, _ = only(each_tenant, "AWS::KMS::Key")
    _, db = only(each_tenant, "AWS::RDS::DBInstance")
    props = db["Properties"]
    assert props["DBInstanceIdentifier"] == f"regiongate-tenant-{each_tenant.tenant.slug}-audit"
    assert props["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert props["StorageEncrypted"] is True
    assert props["MultiAZ"] is each_tenant.region.sizing.db_multi_az
    assert db["DeletionPolicy"] == "Snapshot" and db["UpdateReplacePolicy"] == "Snapshot"


def test_own_secrets_named_for_the_tenant_and_encrypted_with_own_key(each_tenant):
    key_id, _ = only(each_tenant, "AWS::KMS::Key")
    secrets = resources(each_tenant, "AWS::SecretsManager::Secret")
    assert len(secrets) == 2
    for secret in secrets.values():
        assert secret["Properties"]["Name"].startswith(f"regiongate/tenant-{each_tenant.tenant.slug}/")
        assert secret["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
        assert "ReplicaRegions" not in secret["Properties"]


def test_log_groups_are_the_tenants_and_retained(each_tenant):
    groups = resources(each_tenant, "AWS::Logs::LogGroup")
    assert groups
    slug = each_tenant.tenant.slug
    for group in groups.values():
        assert group["DeletionPolicy"] == "Retain"
        name = group["Properties"]["LogGroupName"]
        assert f"tenant-{slug}" in name, name


# --- nothing shared with the region stacks ------------------------------------------------------------------------


def test_no_cross_stack_reference(each_tenant, tenant_app):
    leaves = walk(each_tenant.template_json)
    assert not [p for p, _ in leaves if "Fn::ImportValue" in p]
    assert not [name for name, output in each_tenant.template_json.get("Outputs", {}).items() if "Export" in output]
    assert each_tenant.stack.dependencies == []
    # ... and no region stack imports from a tenant either.
    _, stacks = tenant_app
    for name in ("Eu", "Cn"):
        assert stacks[name].dependencies == []


def test_no_name_of_another_deployment(each_tenant):
    text = json.dumps(each_tenant.template_json["Resources"])
    for other in ("eu", "us", "sg", "cn", "tenant-acme", "tenant-pekingbank"):
        if other != each_tenant.region.deployment_id:
            assert f"regiongate/{other}/" not in text and f"regiongate-{other}-" not in text, other


def test_names_only_its_own_region(each_tenant, catalogue):
    text = json.dumps(each_tenant.template_json["Resources"])
    # Bedrock grants may name the tenant's inference regions; nothing else may name another region.
    allowed = set(each_tenant.region.inference_regions)
    others = {r.aws_region for r in catalogue.regions} | {r.aws_region for r in catalogue.single_tenant_regions}
    for region in sorted(others - allowed):
        assert region not in text, f"{each_tenant.stack.stack_name} mentions {region}"


# --- partition -----------------------------------------------------------------------------------------------------


def test_china_tenant_has_no_global_partition_arn(synthesized_tenants):
    text = synthesized_tenants["pekingbank"].text
    assert "arn:aws:" not in text
    assert "arn:aws-cn:" in text
    assert "cn-north-1" in text


def test_china_tenant_names_no_global_endpoint_host(synthesized_tenants):
    leaves = walk(synthesized_tenants["pekingbank"].template_json["Resources"])
    offenders = [
        (p, v)
        for p, v in leaves
        # Service principals look like hosts (CDK renders *.amazonaws.com in China too); endpoints are the rest.
        if isinstance(v, str)
        and GLOBAL_ENDPOINT.search(v)
        and "Principal" not in p.split("/")
        and "kms:ViaService" not in p
    ]
    assert offenders == []


def test_global_tenant_never_mentions_china(synthesized_tenants):
    text = synthesized_tenants["acme"].text
    assert "aws-cn" not in text and "amazonaws.com.cn" not in text and "cn-north-1" not in text


def test_certificate_is_the_tenants(each_tenant):
    listeners = resources(each_tenant, "AWS::ElasticLoadBalancingV2::Listener")
    certificates = [c["CertificateArn"] for l in listeners.values() for c in l["Properties"].get("Certificates", [])]
    # The gateway's listener, and the console's when it is served: both use the tenant's certificate.
    assert len(certificates) == (2 if each_tenant.region.console else 1)
    assert set(certificates) == {each_tenant.region.certificate_arn}


@pytest.mark.parametrize("slug", ["acme", "pekingbank"])
def test_runtime_configuration_layer_is_the_tenants_own(synthesized_tenants, tenant_app, slug):
    synthesized = synthesized_tenants[slug]
    app, _ = tenant_app
    assembly = app.synth()
    layers = {
        k: v for k, v in resources(synthesized, "AWS::Lambda::LayerVersion").items() if k.startswith("RegionConfig")
    }
    (layer,) = layers.values()
    asset_hash = layer["Properties"]["Content"]["S3Key"].removesuffix(".zip")
    document = Path(assembly.directory) / f"asset.{asset_hash}" / "regiongate" / "region.json"
    assert json.loads(document.read_text()) == gateway_config.runtime_document(synthesized.region)


# --- selection in build_app ---------------------------------------------------------------------------------------


def test_selection_constructs_only_the_selected_stack():
    app = App(context={**cdk_json_context(), tenants.SELECTION_CONTEXT: "Tenant-acme"})
    stacks = build_app(app, tenants_dir=tenants.DEFAULT_TENANTS_DIR)
    assert list(stacks) == ["Tenant-acme"]
    assert [c.node.id for c in app.node.children if isinstance(c, Stack)] == ["Tenant-acme"]


def test_without_selection_every_region_and_tenant_is_built(catalogue):
    app = App(context=cdk_json_context())
    stacks = build_app(app, catalogue, tenants_dir=tenants.DEFAULT_TENANTS_DIR)
    expected = [r.stack_name for r in catalogue.regions] + [
        tenants.stack_name(slug) for slug in tenants.tenant_slugs(tenants.DEFAULT_TENANTS_DIR)
    ]
    assert list(stacks) == expected


# Properties that name a resource uniquely within an account and region: two deployments sharing an account
# (a tenant defaults to its geography's region account) must never choose the same one.
PHYSICAL_NAMES = {
    "AWS::ECR::Repository": "RepositoryName",
    "AWS::ECS::Cluster": "ClusterName",
    "AWS::ElasticLoadBalancingV2::LoadBalancer": "Name",
    "AWS::ElasticLoadBalancingV2::TargetGroup": "Name",
    "AWS::IAM::Role": "RoleName",
    "AWS::KMS::Alias": "AliasName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::RDS::DBInstance": "DBInstanceIdentifier",
    "AWS::RDS::DBParameterGroup": "DBParameterGroupName",
    "AWS::RDS::DBSubnetGroup": "DBSubnetGroupName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::SQS::Queue": "QueueName",
}


@pytest.mark.parametrize("slug", ["acme", "pekingbank"])
def test_every_physical_name_is_the_tenants_own(synthesized_tenants, catalogue, slug):
    synthesized = synthesized_tenants[slug]
    clashes = []
    for logical_id, resource in synthesized.template_json["Resources"].items():
        prop = PHYSICAL_NAMES.get(resource["Type"])
        name = resource.get("Properties", {}).get(prop) if prop else None
        if isinstance(name, str) and f"tenant-{slug}" not in name:
            clashes.append((logical_id, name))
    assert clashes == []


# --- `regiongate tenant plan` ---------------------------------------------------------------------------------------


def test_cli_plan_synthesizes_only_the_tenant_and_reports_where_data_lives(capsys, tmp_path):
    from regiongate.cli import main as cli

    code = cli.main(["tenant", "plan", "acme", "--cdk-out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert sorted(p.name for p in tmp_path.glob("*.template.json")) == ["Tenant-acme.template.json"]
    assert "Plan for tenant acme: stack Tenant-acme (aws://111111111111/eu-west-1)" in out
    assert "AWS::RDS::DBInstance" in out and "AWS::KMS::Key" in out
    assert "alias/regiongate/tenant-acme" in out  # the residency report names the tenant's own key
    assert "certificate_arn" in out and "placeholder" in out


@pytest.mark.parametrize(("deployments", "tasks"), [("", 0), ("    deployments: [tenant-pekingbank]\n", 2)])
def test_a_tenant_console_runs_only_once_the_digest_is_in_its_own_repository(
    tmp_path, synthesized_tenants, deployments, tasks
):
    from aws_cdk import App
    from aws_cdk.assertions import Template

    from regiongate.infra.app import cdk_json_context
    from regiongate.infra.region_stack import RegionStack
    from regiongate.mirror.lock import load_lock

    lock_path = tmp_path / "images.lock.yaml"
    lock_path.write_text(
        "version: 1\ntarget_region: cn-north-1\nimages:\n  console:\n    repository: regiongate/console\n"
        f"    source: registry.regiongate.example/console:1.0.0\n    digest: sha256:{'ab' * 32}\n{deployments}"
    )
    region = synthesized_tenants["pekingbank"].region
    stack = RegionStack(
        App(context=cdk_json_context()), region.stack_name, region=region, images_lock=load_lock(lock_path)
    )
    template = Template.from_stack(stack).to_json()
    (service,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::ECS::Service"]
    assert service["DesiredCount"] == tasks
    repositories = [
        r["Properties"]["RepositoryName"] for r in template["Resources"].values() if r["Type"] == "AWS::ECR::Repository"
    ]
    assert "regiongate/tenant-pekingbank/console" in repositories
    warnings = [str(m.data) for m in stack.node.find_child("Console").node.metadata if m.type == "aws:cdk:warning"]
    mirror = "regiongate mirror --source console=registry.regiongate.example/console:1.0.0 --target-region cn-north-1 --deployment tenant-pekingbank"
    assert any(mirror in w for w in warnings) is (tasks == 0)
