"""The in-country console, its image repository and the China-specific guarantees."""

from __future__ import annotations

import copy

import pytest
import yaml
from aws_cdk import App
from aws_cdk.assertions import Match, Template

from regiongate.config.regions import DEFAULT_CONFIG_PATH, ConfigError, parse_catalogue
from regiongate.console.infrastructure import CONSOLE_PORT
from regiongate.infra.app import cdk_json_context
from regiongate.infra.region_stack import RegionStack
from regiongate.mirror.lock import load_lock
from tests.infra.stacks.test_region_stacks import only, own_key_ref, resources


@pytest.fixture(scope="module")
def cn(synthesized):
    return synthesized["Cn"]


def test_console_only_where_configured(synthesized):
    for name in ("Eu", "Us", "Sg"):
        assert resources(synthesized[name], "AWS::ECS::Service") == {}
        assert resources(synthesized[name], "AWS::ECR::Repository") == {}
    assert len(resources(synthesized["Cn"], "AWS::ECS::Service")) == 1


def test_mirror_repository_is_private_immutable_scanned_encrypted_and_pruned(cn):
    repo = only(cn, "AWS::ECR::Repository")["Properties"]
    assert repo["RepositoryName"] == "regiongate/console"
    assert repo["ImageTagMutability"] == "IMMUTABLE"
    assert repo["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert repo["EncryptionConfiguration"] == {"EncryptionType": "KMS", "KmsKey": own_key_ref(cn)}
    assert (
        "maxImageCount" in repo["LifecyclePolicy"]["LifecyclePolicyText"]
        or "imageCountMoreThan" in repo["LifecyclePolicy"]["LifecyclePolicyText"]
    )
    assert resources(cn, "AWS::ECR::ReplicationConfiguration") == {}


def test_every_image_comes_from_the_in_country_repository_by_digest(cn):
    (repo_id,) = resources(cn, "AWS::ECR::Repository")
    digest = load_lock().digest_for("console")
    for task in resources(cn, "AWS::ECS::TaskDefinition").values():
        for container in task["Properties"]["ContainerDefinitions"]:
            parts = container["Image"]["Fn::Join"][1]
            assert parts[-1] == f"@{digest}"
            assert {"Ref": repo_id} in parts
            assert {"Ref": "AWS::URLSuffix"} in parts  # amazonaws.com.cn in China, never a global host


def test_console_logs_stay_in_region_encrypted(cn):
    (task,) = resources(cn, "AWS::ECS::TaskDefinition").values()
    (container,) = task["Properties"]["ContainerDefinitions"]
    options = container["LogConfiguration"]["Options"]
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert options["awslogs-region"] == "cn-north-1"
    group = cn.template_json["Resources"][options["awslogs-group"]["Ref"]]["Properties"]
    assert group["KmsKeyId"] == own_key_ref(cn)
    assert group["LogGroupName"] == "/regiongate/cn/console"


def test_console_reads_its_database_secret_itself_and_no_password_is_in_the_task(cn):
    (task,) = resources(cn, "AWS::ECS::TaskDefinition").values()
    (container,) = task["Properties"]["ContainerDefinitions"]
    assert "Secrets" not in container  # injected values would go stale after a rotation
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    (secret_id,) = [
        k for k, r in resources(cn, "AWS::SecretsManager::Secret").items() if "GenerateSecretString" in r["Properties"]
    ]
    attachments = {
        k
        for k, r in resources(cn, "AWS::SecretsManager::SecretTargetAttachment").items()
        if r["Properties"]["SecretId"] == {"Ref": secret_id}
    }
    assert environment["DB_SECRET_ARN"]["Ref"] in {secret_id} | attachments  # a Ref to either is the secret's ARN
    assert not any("PASSWORD" in name or "USERNAME" in name for name in environment)
    assert container["ReadonlyRootFilesystem"] is True
    assert container["HealthCheck"]["Command"][0] == "CMD-SHELL"


@pytest.fixture(scope="module")
def cn_mirrored(tmp_path_factory, synthesized):
    """The Cn stack once the console image has really been mirrored (a lock entry that is not an example)."""
    lock_path = tmp_path_factory.mktemp("lock") / "images.lock.yaml"
    lock_path.write_text(
        "version: 1\ntarget_region: cn-north-1\nimages:\n  console:\n    repository: regiongate/console\n"
        "    source: registry.regiongate.example/console:1.0.0\n    tag: 1.0.0\n"
        f"    digest: sha256:{'ab' * 32}\n"
    )
    app = App(context=cdk_json_context())
    stack = RegionStack(app, "Cn", region=synthesized["Cn"].region, images_lock=load_lock(lock_path))
    return Template.from_stack(stack).to_json()


def test_example_image_deploys_the_service_without_tasks_and_warns(cn):
    service = only(cn, "AWS::ECS::Service")["Properties"]
    assert service["DesiredCount"] == 0
    warnings = [m for m in cn.stack.node.find_child("Console").node.metadata if m.type == "aws:cdk:warning"]
    assert any("regiongate mirror" in str(w.data) for w in warnings)


def test_mirrored_image_runs_two_tasks_by_its_digest(cn_mirrored):
    (service,) = [r["Properties"] for r in cn_mirrored["Resources"].values() if r["Type"] == "AWS::ECS::Service"]
    assert service["DesiredCount"] == 2
    (task,) = [r["Properties"] for r in cn_mirrored["Resources"].values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    assert task["ContainerDefinitions"][0]["Image"]["Fn::Join"][1][-1] == f"@sha256:{'ab' * 32}"


def test_fargate_service_runs_private_tasks_in_the_fargate_zones(cn):
    service = only(cn, "AWS::ECS::Service")["Properties"]
    assert service["LaunchType"] == "FARGATE"
    network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    zones = set()
    for ref in network["Subnets"]:
        subnet = cn.template_json["Resources"][ref["Ref"]]["Properties"]
        tags = {t["Key"]: t["Value"] for t in subnet["Tags"]}
        assert tags["aws-cdk:subnet-type"] == "Private"
        zones.add(subnet["AvailabilityZone"])
    assert zones == set(cn.region.console_availability_zones)
    assert len(zones) == 2
    breaker = service["DeploymentConfiguration"]["DeploymentCircuitBreaker"]
    assert breaker == {"Enable": True, "Rollback": True}


def test_console_alb_serves_https_at_the_console_certificate(cn):
    listeners = [l["Properties"] for l in resources(cn, "AWS::ElasticLoadBalancingV2::Listener").values()]
    https = [l for l in listeners if l["Protocol"] == "HTTPS"]
    assert len(https) == 2  # gateway and console, each its own ALB
    assert {l["Certificates"][0]["CertificateArn"] for l in https} == {
        cn.region.certificate_arn,
        cn.region.console_certificate_arn,
    }
    groups = [g["Properties"] for g in resources(cn, "AWS::ElasticLoadBalancingV2::TargetGroup").values()]
    (console_group,) = [g for g in groups if g.get("TargetType") == "ip"]
    assert console_group["Port"] == CONSOLE_PORT
    assert console_group["HealthCheckPath"] == "/healthz"


def test_task_role_reads_only_the_database_secret_and_the_execution_role_none(cn):
    roles = resources(cn, "AWS::IAM::Role")
    (task_role_id,) = [k for k in roles if k.startswith("ConsoleTaskRole")]
    (execution_role_id,) = [k for k in roles if k.startswith("ConsoleExecutionRole")]
    attached = {
        ref["Ref"]: p["Properties"]
        for p in resources(cn, "AWS::IAM::Policy").values()
        for ref in p["Properties"]["Roles"]
    }
    (secret_id,) = [
        k for k, r in resources(cn, "AWS::SecretsManager::Secret").items() if "GenerateSecretString" in r["Properties"]
    ]
    task_statements = attached[task_role_id]["PolicyDocument"]["Statement"]
    (key_id,) = resources(cn, "AWS::KMS::Key")
    assert [s["Resource"] for s in task_statements] == [{"Ref": secret_id}, {"Fn::GetAtt": [key_id, "Arn"]}]
    assert set(task_statements[0]["Action"]) == {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
    # Orgs' own provider keys (#16): the console seals them (a data key per secret) and can never open one.
    assert task_statements[1]["Action"] == "kms:GenerateDataKey"
    assert task_statements[1]["Condition"] == {
        "StringEquals": {"kms:EncryptionContext:region": "cn"},
        "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["org", "region", "provider"]},
        "Null": {"kms:EncryptionContext:org": "false", "kms:EncryptionContext:provider": "false"},
    }
    execution_actions = {
        a
        for s in attached[execution_role_id]["PolicyDocument"]["Statement"]
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    assert not any(a.startswith("secretsmanager:") for a in execution_actions)


def test_no_cloudfront_accelerator_or_global_waf_in_china(cn):
    for type_name in ("AWS::CloudFront::Distribution", "AWS::GlobalAccelerator::Accelerator"):
        assert resources(cn, type_name) == {}
    for acl in resources(cn, "AWS::WAFv2::WebACL").values():
        assert acl["Properties"]["Scope"] != "CLOUDFRONT"
    assert not [
        t for t in {r["Type"] for r in cn.template_json["Resources"].values()} if t.startswith("AWS::Bedrock::")
    ]


def test_another_region_opts_into_the_console_with_its_certificate():
    data = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    data = copy.deepcopy(data)
    data["regions"]["eu"]["console"] = True
    # The API certificate names eu.api.… only: the console needs one for its own domain.
    with pytest.raises(ConfigError, match=r"regions\.eu\.console_certificate_arn: is required: .*eu\.app\.regiongate"):
        parse_catalogue(data)
    certificate = data["regions"]["eu"]["certificate_arn"].replace("-000000000001", "-000000000011")
    data["regions"]["eu"]["console_certificate_arn"] = certificate
    eu = parse_catalogue(data).region("eu")
    assert eu.console_certificate_arn == certificate
    app = App(context=cdk_json_context())
    stack = RegionStack(app, "EuWithConsole", region=eu, images_lock=load_lock())
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::ECS::Service", 1)
    template.has_resource_properties("AWS::ECR::Repository", {"RepositoryName": "regiongate/console"})
    template.has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {
            "ContainerDefinitions": Match.array_with(
                [
                    Match.object_like(
                        {
                            "LogConfiguration": Match.object_like(
                                {"Options": Match.object_like({"awslogs-region": "eu-central-1"})}
                            )
                        }
                    )
                ]
            )
        },
    )


def test_optional_hosted_zone_aliases_only_to_this_stacks_load_balancers():
    data = copy.deepcopy(yaml.safe_load(DEFAULT_CONFIG_PATH.read_text()))
    data["regions"]["cn"]["hosted_zone"] = "regiongate.example"
    cn = parse_catalogue(data).region("cn")
    app = App(context=cdk_json_context())
    stack = RegionStack(app, "CnWithDns", region=cn, images_lock=load_lock())
    template = Template.from_stack(stack).to_json()
    zones = [r for r in template["Resources"].values() if r["Type"] == "AWS::Route53::HostedZone"]
    assert [z["Properties"]["Name"] for z in zones] == ["regiongate.example."]
    records = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Route53::RecordSet"]
    assert {r["Name"] for r in records} == {"cn-platform.regiongate.example.", "cn.regiongate.example."}
    albs = {k for k, r in template["Resources"].items() if r["Type"] == "AWS::ElasticLoadBalancingV2::LoadBalancer"}
    for record in records:
        target = record["AliasTarget"]["DNSName"]["Fn::Join"][1][1]["Fn::GetAtt"][0]
        assert target in albs
