"""gateway.runtime: container, per stack of the session's app (the shipped tenants/acme.yaml uses it): the ECS
Fargate service, its task definition, the IP target group behind the gateway's own ALB, autoscaling, the image
by digest from the stack's own repository, the ALB idle timeout and deregistration delay that let a stream of
the longest allowed generation finish, no public IP, two zones. Lambda stacks keep their function target."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template

from regiongate.config import gateway as gateway_config
from regiongate.config import tenants
from regiongate.config.gateway_runtime import CONTAINER, LAMBDA
from regiongate.config.regions import load_catalogue
from regiongate.contract.document import RuntimeConfig
from regiongate.contract.limits import GATEWAY_PORT
from regiongate.gateway.container_infrastructure import COMMAND, MAX_TASKS, MIN_TASKS
from regiongate.infra.app import cdk_json_context
from regiongate.infra.region_stack import RegionStack
from regiongate.mirror.lock import LockError, load_lock
from tests.fixtures.synth import SYNTHESIZED_STACKS, synthesized_stack

_DEPLOYMENTS = {
    region.stack_name: region
    for region in tenants.deployments(load_catalogue(), tenants.DEFAULT_TENANTS_DIR, SYNTHESIZED_STACKS)
}
CONTAINER_STACKS = sorted(n for n, r in _DEPLOYMENTS.items() if gateway_config.deployment_runtime(r).container)
LAMBDA_STACKS = sorted(n for n in _DEPLOYMENTS if n not in CONTAINER_STACKS)
GATEWAY_HANDLER = "regiongate.gateway.runtime.handler.handle"


def test_the_shipped_examples_show_both_runtimes():
    assert "Tenant-acme" in CONTAINER_STACKS
    assert {"Eu", "Us", "Sg", "Cn", "Tenant-pekingbank"} <= set(LAMBDA_STACKS)
    assert gateway_config.deployment_runtime(_DEPLOYMENTS["Tenant-acme"]).runtime == CONTAINER
    assert gateway_config.deployment_runtime(_DEPLOYMENTS["Eu"]).runtime == LAMBDA


@pytest.fixture(params=CONTAINER_STACKS)
def container_stack(request, synthesized_app):
    return synthesized_stack(synthesized_app, request.param)


@pytest.fixture(params=LAMBDA_STACKS)
def lambda_stack(request, synthesized_app):
    return synthesized_stack(synthesized_app, request.param)


def resources(s, type_name: str) -> dict:
    return {k: v for k, v in s.template_json["Resources"].items() if v["Type"] == type_name}


def gateway_task(s) -> tuple[str, dict]:
    tasks = {
        k: r["Properties"]
        for k, r in resources(s, "AWS::ECS::TaskDefinition").items()
        if r["Properties"]["ContainerDefinitions"][0]["Name"] == "Gateway"
    }
    assert len(tasks) == 1, sorted(tasks)
    return next(iter(tasks.items()))


def gateway_service(s) -> tuple[str, dict]:
    task_id, _ = gateway_task(s)
    services = {
        k: r["Properties"]
        for k, r in resources(s, "AWS::ECS::Service").items()
        if r["Properties"]["TaskDefinition"] == {"Ref": task_id}
    }
    assert len(services) == 1, sorted(services)
    return next(iter(services.items()))


def gateway_target_group(s) -> tuple[str, dict]:
    _, service = gateway_service(s)
    (binding,) = service["LoadBalancers"]
    group_id = binding["TargetGroupArn"]["Ref"]
    return group_id, s.template_json["Resources"][group_id]["Properties"]


def gateway_load_balancer(s) -> dict:
    group_id, _ = gateway_target_group(s)
    for listener in resources(s, "AWS::ElasticLoadBalancingV2::Listener").values():
        actions = listener["Properties"]["DefaultActions"]
        if any(a.get("TargetGroupArn") == {"Ref": group_id} for a in actions):
            assert listener["Properties"]["Protocol"] == "HTTPS" and listener["Properties"]["Port"] == 443
            return s.template_json["Resources"][listener["Properties"]["LoadBalancerArn"]["Ref"]]["Properties"]
    raise AssertionError("no HTTPS listener forwards to the gateway's target group")


def attribute(properties: dict, key: str, name: str) -> str:
    return {a["Key"]: a["Value"] for a in properties[key]}[name]


def own_key_ref(s) -> dict:
    (key_id,) = resources(s, "AWS::KMS::Key")
    return {"Fn::GetAtt": [key_id, "Arn"]}


# --- the Lambda stacks stay as they were ---------------------------------------------------------------------


def test_lambda_stacks_forward_to_the_function_and_run_no_gateway_service(lambda_stack):
    handlers = [r["Properties"].get("Handler") for r in resources(lambda_stack, "AWS::Lambda::Function").values()]
    assert handlers.count(GATEWAY_HANDLER) == 1
    groups = [g["Properties"] for g in resources(lambda_stack, "AWS::ElasticLoadBalancingV2::TargetGroup").values()]
    assert [g["TargetType"] for g in groups].count("lambda") == 1
    for task in resources(lambda_stack, "AWS::ECS::TaskDefinition").values():
        assert task["Properties"]["ContainerDefinitions"][0]["Name"] != "Gateway"
    assert not any(
        r["Properties"]["RepositoryName"].endswith("/gateway")
        for r in resources(lambda_stack, "AWS::ECR::Repository").values()
    )


# --- the container stacks ------------------------------------------------------------------------------------


def test_no_gateway_function_where_the_container_serves(container_stack):
    handlers = [r["Properties"].get("Handler") for r in resources(container_stack, "AWS::Lambda::Function").values()]
    assert GATEWAY_HANDLER not in handlers
    groups = [g["Properties"] for g in resources(container_stack, "AWS::ElasticLoadBalancingV2::TargetGroup").values()]
    assert "lambda" not in [g["TargetType"] for g in groups]


def test_service_runs_private_fargate_tasks_in_two_zones_with_rollback(container_stack):
    _, service = gateway_service(container_stack)
    assert service["LaunchType"] == "FARGATE"
    network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    zones = set()
    for ref in network["Subnets"]:
        subnet = container_stack.template_json["Resources"][ref["Ref"]]["Properties"]
        tags = {t["Key"]: t["Value"] for t in subnet["Tags"]}
        # The private group: behind the NAT, or isolated where the stack's VPC endpoints are all it needs.
        assert tags["aws-cdk:subnet-name"] == "private" and tags["aws-cdk:subnet-type"] in ("Private", "Isolated")
        assert subnet["MapPublicIpOnLaunch"] is False
        zones.add(subnet["AvailabilityZone"])
    assert len(zones) == 2 and zones <= set(container_stack.region.availability_zones)
    deployment = service["DeploymentConfiguration"]
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert deployment["MinimumHealthyPercent"] == 100
    assert service["EnableExecuteCommand"] is False


def test_example_image_deploys_the_service_without_tasks_and_says_how_to_fix_it(container_stack):
    _, service = gateway_service(container_stack)
    assert service["DesiredCount"] == 0  # images.lock.yaml ships an example gateway image
    (target,) = resources(container_stack, "AWS::ApplicationAutoScaling::ScalableTarget").values()
    assert (target["Properties"]["MinCapacity"], target["Properties"]["MaxCapacity"]) == (0, 0)
    node = container_stack.stack.node.find_child("GatewayService").node
    warnings = [str(m.data) for m in node.metadata if m.type == "aws:cdk:warning"]
    assert any("example gateway image" in w and "regiongate mirror" in w for w in warnings), warnings


def test_image_is_pulled_by_digest_from_the_stacks_own_repository(container_stack):
    _, task = gateway_task(container_stack)
    (container,) = task["ContainerDefinitions"]
    parts = container["Image"]["Fn::Join"][1]
    assert parts[-1] == f"@{load_lock().digest_for('gateway')}"
    repositories = {
        k: r["Properties"]
        for k, r in resources(container_stack, "AWS::ECR::Repository").items()
        if r["Properties"]["RepositoryName"].endswith("/gateway")
    }
    ((repo_id, repo),) = repositories.items()
    assert repo["RepositoryName"] == load_lock().repository_for(
        "gateway", tenants.image_deployment(container_stack.region)
    )
    assert repo["ImageTagMutability"] == "IMMUTABLE"
    assert repo["EncryptionConfiguration"] == {"EncryptionType": "KMS", "KmsKey": own_key_ref(container_stack)}
    assert {"Ref": repo_id} in parts
    assert {"Ref": "AWS::URLSuffix"} in parts


def test_task_definition_runs_the_entry_point_read_only_with_a_health_check(container_stack):
    _, task = gateway_task(container_stack)
    assert task["RequiresCompatibilities"] == ["FARGATE"] and task["NetworkMode"] == "awsvpc"
    (container,) = task["ContainerDefinitions"]
    assert container["Command"] == list(COMMAND)
    assert container["PortMappings"] == [{"ContainerPort": GATEWAY_PORT, "Protocol": "tcp"}]
    assert container["ReadonlyRootFilesystem"] is True
    assert container["StopTimeout"] == 120  # Fargate's most: SIGTERM, then the drain, then SIGKILL
    check = container["HealthCheck"]["Command"]
    assert check[0] == "CMD-SHELL" and f"127.0.0.1:{GATEWAY_PORT}/health" in check[1]


def test_task_environment_is_the_contract_with_the_document_and_no_secret_values(container_stack):
    _, task = gateway_task(container_stack)
    (container,) = task["ContainerDefinitions"]
    assert "Secrets" not in container
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert "REGIONGATE_CONFIG_PATH" not in environment  # no layer in a task: the document itself is set
    document = RuntimeConfig.from_json(environment["REGIONGATE_REGION_DOCUMENT"], "task")
    assert document == gateway_config.runtime_config(container_stack.region)
    assert document.max_generation_seconds == container_stack.region.gateway.max_generation_seconds
    assert environment["GATEWAY_PORT"] == str(GATEWAY_PORT)
    assert environment["REGIONGATE_REGION_CODE"] == container_stack.region.code
    (queue_id,) = [
        k
        for k, r in resources(container_stack, "AWS::SQS::Queue").items()
        if "RedrivePolicy" in r["Properties"]  # the audit queue (its dead-letter queue has none)
    ]
    assert environment["AUDIT_QUEUE_URL"] == {"Ref": queue_id}
    assert not any("PASSWORD" in name or "USERNAME" in name for name in environment)


def test_task_logs_stay_in_region_encrypted_with_the_stack_key(container_stack):
    _, task = gateway_task(container_stack)
    (container,) = task["ContainerDefinitions"]
    options = container["LogConfiguration"]["Options"]
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert options["awslogs-region"] == container_stack.region.aws_region
    group = container_stack.template_json["Resources"][options["awslogs-group"]["Ref"]]["Properties"]
    assert group["KmsKeyId"] == own_key_ref(container_stack)
    assert group["LogGroupName"] == f"/regiongate/{container_stack.region.deployment_id}/gateway-tasks"


def test_alb_forwards_to_an_ip_target_group_that_drains_the_longest_generation(container_stack):
    limit = container_stack.region.gateway.max_generation_seconds
    _, group = gateway_target_group(container_stack)
    assert group["TargetType"] == "ip"
    assert (group["Port"], group["Protocol"]) == (GATEWAY_PORT, "HTTP")
    assert group["HealthCheckPath"] == "/health"
    delay = int(attribute(group, "TargetGroupAttributes", "deregistration_delay.timeout_seconds"))
    assert limit < delay <= 3600
    load_balancer = gateway_load_balancer(container_stack)
    idle = int(attribute(load_balancer, "LoadBalancerAttributes", "idle_timeout.timeout_seconds"))
    assert idle > limit  # a stream of the longest generation is never cut by the ALB
    assert load_balancer["Scheme"] == "internet-facing"


def test_tasks_accept_only_the_albs_traffic_on_the_gateway_port(container_stack):
    _, service = gateway_service(container_stack)
    (task_group,) = service["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]
    group_id = task_group["Fn::GetAtt"][0]
    ingress = [
        r["Properties"]
        for r in resources(container_stack, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
    ]
    inline = container_stack.template_json["Resources"][group_id]["Properties"].get("SecurityGroupIngress", [])
    assert inline == []
    assert [(i["FromPort"], i["ToPort"]) for i in ingress] == [(GATEWAY_PORT, GATEWAY_PORT)]
    (alb_group,) = [
        k
        for k, r in resources(container_stack, "AWS::EC2::SecurityGroup").items()
        if r["Properties"]["GroupDescription"] == "regiongate gateway API ALB"
    ]
    assert ingress[0]["SourceSecurityGroupId"] == {"Fn::GetAtt": [alb_group, "GroupId"]}


def test_autoscaling_tracks_cpu_and_requests_per_target(container_stack):
    service_id, _ = gateway_service(container_stack)
    group_id, _ = gateway_target_group(container_stack)
    ((target_id, target),) = resources(container_stack, "AWS::ApplicationAutoScaling::ScalableTarget").items()
    assert target["Properties"]["ScalableDimension"] == "ecs:service:DesiredCount"
    assert service_id in json.dumps(target["Properties"]["ResourceId"])
    policies = {
        p["Properties"]["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"][
            "PredefinedMetricType"
        ]: p["Properties"]
        for p in resources(container_stack, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
    }
    assert set(policies) == {"ECSServiceAverageCPUUtilization", "ALBRequestCountPerTarget"}
    for policy in policies.values():
        assert policy["PolicyType"] == "TargetTrackingScaling"
        assert policy["ScalingTargetId"] == {"Ref": target_id}
    label = policies["ALBRequestCountPerTarget"]["TargetTrackingScalingPolicyConfiguration"][
        "PredefinedMetricSpecification"
    ]["ResourceLabel"]
    assert group_id in json.dumps(label)  # requests per target of the gateway's own target group


def _role_statements(s, role_id: str) -> list[dict]:
    statements = []
    for policy in resources(s, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def test_task_role_sends_audit_events_reads_its_two_secrets_and_invokes_only_the_configured_models(container_stack):
    _, task = gateway_task(container_stack)
    role_id = task["TaskRoleArn"]["Fn::GetAtt"][0]
    statements = _role_statements(container_stack, role_id)
    actions = {a for st in statements for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}
    assert actions <= {
        "sqs:SendMessage",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
        "kms:Decrypt",
        "kms:GenerateDataKey",  # SQS's producer actions, under the queue's encryption context only
        "bedrock:InvokeModel",
        "bedrock:InvokeModelWithResponseStream",
        "sts:AssumeRole",  # orgs' own Bedrock roles: exactly tests/infra/stacks/test_org_credential_roles.py
    }
    assert {"sqs:SendMessage", "secretsmanager:GetSecretValue"} <= actions
    for statement in statements:
        assert statement["Effect"] == "Allow"
        if statement.get("Sid") == "AssumeOrgBedrockRoles":  # any org's account, under /regiongate/ only
            continue
        assert statement["Resource"] != "*" and "*" not in json.dumps(statement["Resource"]).replace("/*", "")
    secrets = {
        json.dumps(resource, sort_keys=True)
        for st in statements
        if "secretsmanager:GetSecretValue" in json.dumps(st["Action"])
        for resource in (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]])
    }
    provider = container_stack.stack.secrets.provider_credentials.secret_arn
    database = container_stack.stack.audit_store.secret.secret_arn
    resolve = Stack.of(container_stack.stack).resolve
    # The provider credentials and the database credentials, nothing else.
    assert secrets == {json.dumps(resolve(provider), sort_keys=True), json.dumps(resolve(database), sort_keys=True)}
    # Bedrock exactly as the Lambda's grants (regiongate.config.gateway.bedrock_grants), each in its own region.
    grants = gateway_config.bedrock_grants(container_stack.region)
    bedrock = [st for st in statements if "bedrock:InvokeModel" in json.dumps(st["Action"])]
    if not grants:
        assert bedrock == []
        return
    (statement,) = bedrock
    resolved = Stack.of(container_stack.stack).resolve(container_stack.stack.gateway.bedrock_arns)
    expected = resolved if len(resolved) > 1 else resolved[0]
    assert statement["Resource"] == expected
    text = json.dumps(statement["Resource"])
    assert all(f":bedrock:{g.aws_region}:" in text and g.resource_id in text for g in grants)


# --- the lock: mirrored, and refused -------------------------------------------------------------------------


def _acme_with_lock(tmp_path, lock_text: str) -> RegionStack:
    path = tmp_path / "images.lock.yaml"
    path.write_text(lock_text)
    app = App(context=cdk_json_context())
    return RegionStack(app, "Tenant-acme", region=_DEPLOYMENTS["Tenant-acme"], images_lock=load_lock(path))


def test_mirrored_image_runs_at_least_two_tasks_and_scales(tmp_path):
    stack = _acme_with_lock(
        tmp_path,
        "version: 1\ntarget_region: eu-west-1\nimages:\n  gateway:\n    repository: regiongate/gateway\n"
        "    source: registry.regiongate.example/gateway:1.0.0\n    tag: 1.0.0\n"
        f"    digest: sha256:{'cd' * 32}\n    deployments: [tenant-acme]\n",
    )
    template = Template.from_stack(stack).to_json()
    (service,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::ECS::Service"]
    assert service["DesiredCount"] == MIN_TASKS >= 2
    (target,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"
    ]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (MIN_TASKS, MAX_TASKS)
    (task,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    assert task["ContainerDefinitions"][0]["Image"]["Fn::Join"][1][-1] == f"@sha256:{'cd' * 32}"
    warnings = [m for m in stack.node.find_child("GatewayService").node.metadata if m.type == "aws:cdk:warning"]
    assert warnings == []


def test_synth_refuses_a_gateway_image_that_is_not_in_the_lock_with_the_command_that_fixes_it(tmp_path):
    with pytest.raises(LockError, match=r"regiongate mirror --source gateway=") as refused:
        _acme_with_lock(
            tmp_path,
            "version: 1\ntarget_region: eu-west-1\nimages:\n  console:\n    repository: regiongate/console\n"
            f"    source: registry.regiongate.example/console:1.0.0\n    digest: sha256:{'ab' * 32}\n",
        )
    assert "gateway" in str(refused.value)


# --- the residency pack and report cover the service -----------------------------------------------------------


def test_the_residency_pack_checks_the_gateway_task_image_and_logs(container_stack):
    from regiongate.residency import ResidencyPolicy
    from regiongate.residency.model import Compliance, Resource
    from regiongate.residency.rules import ecs_images_from_own_ecr, ecs_logs_in_region

    task_id, task = gateway_task(container_stack)
    resource = Resource(task_id, "AWS::ECS::TaskDefinition", task, {}, container_stack.template_json)
    policy = ResidencyPolicy.from_region(container_stack.region)
    for rule in (ecs_images_from_own_ecr, ecs_logs_in_region):
        result = rule.check(resource, policy)
        assert result.compliance is Compliance.COMPLIANT, (rule.__name__, result.details)


def test_the_report_draws_the_gateway_service_with_its_models_and_audit_path(container_stack):
    from regiongate.residency.inventory import request_flow

    flow = request_flow(container_stack.template_json, container_stack.region.aws_region)
    labels = [[n.label for n in chain] for chain in flow.chains]
    assert ["Client", "Application Load Balancer", "Gateway (ECS)", "Amazon Bedrock"] in labels
    assert ["Gateway (ECS)", "Queue (SQS)", "Writer (Lambda)", "Audit store (RDS)"] in labels
    (bedrock,) = [chain[-1] for chain in flow.chains if chain[-1].label == "Amazon Bedrock"]
    assert bedrock.found and bedrock.detail == ", ".join(
        sorted({g.aws_region for g in gateway_config.bedrock_grants(container_stack.region)})
    )
    if not container_stack.region.console:
        assert not any("Console (ECS)" in chain for chain in labels)  # the gateway service is not taken for one
