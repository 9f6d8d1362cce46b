"""Targeted assertions for every property the region stacks issue promises, on every region stack."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aws_cdk.assertions import Match

from regiongate.infra import assets
from regiongate.store.infrastructure import POSTGRES_VERSION


def resources(s, type_name: str) -> dict:
    return {k: v for k, v in s.template_json["Resources"].items() if v["Type"] == type_name}


def only(s, type_name: str) -> dict:
    found = resources(s, type_name)
    assert len(found) == 1, f"expected one {type_name}, found {sorted(found)}"
    return next(iter(found.values()))


def own_key_ref(s) -> dict:
    (key_id,) = resources(s, "AWS::KMS::Key")
    return {"Fn::GetAtt": [key_id, "Arn"]}


def own_key_id(s) -> str:
    (key_id,) = resources(s, "AWS::KMS::Key")
    return key_id


def test_stack_environment_matches_catalogue(each_stack):
    stack, region = each_stack.stack, each_stack.region
    assert stack.stack_name == region.stack_name
    assert stack.region == region.aws_region
    assert stack.account == region.account
    assert stack.availability_zones == list(region.availability_zones)


# --- Keys ---------------------------------------------------------------------------------------


def test_one_customer_managed_key_with_rotation_single_region(each_stack):
    key = only(each_stack, "AWS::KMS::Key")
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["Properties"].get("MultiRegion", False) is False
    assert key["DeletionPolicy"] == "Retain"
    assert resources(each_stack, "AWS::KMS::ReplicaKey") == {}


def test_logs_may_use_the_key_only_for_this_region(each_stack):
    key = only(each_stack, "AWS::KMS::Key")
    (statement,) = [
        s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid") == "AllowCloudWatchLogsOfThisRegion"
    ]
    region = each_stack.region
    condition = statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert condition == f"arn:{region.partition}:logs:{region.aws_region}:{region.account}:log-group:*"


# --- Network ------------------------------------------------------------------------------------


def test_vpc_spans_exactly_the_configured_zones_with_three_tiers(each_stack):
    subnets = resources(each_stack, "AWS::EC2::Subnet")
    zones = {s["Properties"]["AvailabilityZone"] for s in subnets.values()}
    assert zones == set(each_stack.region.availability_zones)
    tiers = {}
    for s in subnets.values():
        tag = {t["Key"]: t["Value"] for t in s["Properties"]["Tags"]}["aws-cdk:subnet-type"]
        tiers[tag] = tiers.get(tag, 0) + 1
    n = len(each_stack.region.availability_zones)
    assert tiers == {"Public": n, "Private": n, "Isolated": n}


def test_flow_logs_go_to_an_encrypted_in_region_log_group_with_retention(each_stack):
    flow_log = only(each_stack, "AWS::EC2::FlowLog")
    assert flow_log["Properties"]["TrafficType"] == "ALL"
    assert flow_log["Properties"]["LogDestinationType"] == "cloud-watch-logs"
    group_id = flow_log["Properties"]["LogGroupName"]["Ref"]
    group = each_stack.template_json["Resources"][group_id]
    assert group["Properties"]["KmsKeyId"] == own_key_ref(each_stack)
    assert group["Properties"]["RetentionInDays"] == each_stack.region.sizing.log_retention_days


# --- Secrets ------------------------------------------------------------------------------------


def test_every_secret_uses_the_stack_key_and_is_never_replicated(each_stack):
    secrets = resources(each_stack, "AWS::SecretsManager::Secret")
    assert len(secrets) == 2  # provider credentials + generated database credentials
    for secret in secrets.values():
        assert secret["Properties"]["KmsKeyId"] == own_key_ref(each_stack)
        assert "ReplicaRegions" not in secret["Properties"]


def test_database_credentials_are_generated_in_region(each_stack):
    generated = [
        s
        for s in resources(each_stack, "AWS::SecretsManager::Secret").values()
        if "GenerateSecretString" in s["Properties"]
    ]
    assert len(generated) == 1
    assert generated[0]["Properties"]["Name"] == f"regiongate/{each_stack.region.deployment_id}/audit-store-admin"


# --- Audit store --------------------------------------------------------------------------------


def test_audit_store_is_isolated_encrypted_and_protected(each_stack):
    sizing = each_stack.region.sizing
    each_stack.template.has_resource(
        "AWS::RDS::DBInstance",
        {
            "DeletionPolicy": "Snapshot",
            "Properties": Match.object_like(
                {
                    "Engine": "postgres",
                    "EngineVersion": POSTGRES_VERSION.postgres_full_version,
                    "DBInstanceClass": sizing.db_instance_class,
                    "MultiAZ": sizing.db_multi_az,
                    "StorageEncrypted": True,
                    "KmsKeyId": own_key_ref(each_stack),
                    "PubliclyAccessible": False,
                    "DeletionProtection": True,
                    "EnableIAMDatabaseAuthentication": True,
                    "BackupRetentionPeriod": sizing.db_backup_retention_days,
                }
            ),
        },
    )
    db = only(each_stack, "AWS::RDS::DBInstance")["Properties"]
    for forbidden in ("SourceRegion", "SourceDBInstanceIdentifier", "AutomaticBackupReplicationRegion"):
        assert forbidden not in db


def test_engine_version_is_a_full_version():
    major, minor = POSTGRES_VERSION.postgres_full_version.split(".")
    assert major.isdigit() and minor.isdigit()


def test_audit_store_subnets_are_the_isolated_ones(each_stack):
    group = only(each_stack, "AWS::RDS::DBSubnetGroup")
    subnet_ids = {ref["Ref"] for ref in group["Properties"]["SubnetIds"]}
    subnets = each_stack.template_json["Resources"]
    for subnet_id in subnet_ids:
        tags = {t["Key"]: t["Value"] for t in subnets[subnet_id]["Properties"]["Tags"]}
        assert tags["aws-cdk:subnet-type"] == "Isolated"
    assert len(subnet_ids) == len(each_stack.region.availability_zones)


def test_tls_is_forced_through_the_parameter_group(each_stack):
    params = only(each_stack, "AWS::RDS::DBParameterGroup")["Properties"]["Parameters"]
    assert params["rds.force_ssl"] == "1"
    assert params["log_statement"] == "none"


def test_database_logs_are_encrypted_and_kept_for_the_retention(each_stack):
    group_name = f"/aws/rds/instance/regiongate-{each_stack.region.deployment_id}-audit/postgresql"
    each_stack.template.has_resource_properties(
        "AWS::Logs::LogGroup",
        {
            "LogGroupName": group_name,
            "KmsKeyId": own_key_ref(each_stack),
            "RetentionInDays": each_stack.region.sizing.log_retention_days,
        },
    )


def test_database_accepts_connections_only_from_the_functions_and_console(each_stack):
    rules = resources(each_stack, "AWS::EC2::SecurityGroupIngress")
    db_rules = [r for r in rules.values() if r["Properties"].get("FromPort") == 5432]
    # gateway, audit writer, secret rotation (+ console)
    assert len(db_rules) == 3 + (1 if each_stack.region.console else 0)
    assert all("SourceSecurityGroupId" in r["Properties"] and "CidrIp" not in r["Properties"] for r in db_rules)


# --- Rotation of the database secret ------------------------------------------------------------


def database_secret_id(s) -> str:
    (secret_id,) = [
        k for k, v in resources(s, "AWS::SecretsManager::Secret").items() if "GenerateSecretString" in v["Properties"]
    ]
    return secret_id


def rotation_function_id(s) -> str:
    (function_id,) = [
        k for k, f in functions(s).items() if f["Properties"]["Handler"] == "regiongate.rotation.runtime.handler.handle"
    ]
    return function_id


def test_database_secret_rotates_every_30_days_with_our_own_function(each_stack):
    schedule = only(each_stack, "AWS::SecretsManager::RotationSchedule")
    function_id = rotation_function_id(each_stack)
    assert schedule["Properties"] == {
        "SecretId": {"Ref": database_secret_id(each_stack)},
        "RotationLambdaARN": {"Fn::GetAtt": [function_id, "Arn"]},
        "RotationRules": {"ScheduleExpression": "rate(30 days)"},
    }
    # The first rotation runs at once: after the secret is attached to the instance and the network is open.
    depends_on = schedule["DependsOn"]
    (attachment_id,) = resources(each_stack, "AWS::SecretsManager::SecretTargetAttachment")
    assert attachment_id in depends_on
    assert any(d.startswith("AuditStoreSecurityGroupfrom") and "Rotation" in d for d in depends_on)


def test_only_secrets_manager_may_invoke_the_rotation_function_for_this_secret(each_stack):
    function_arn = {"Fn::GetAtt": [rotation_function_id(each_stack), "Arn"]}
    permissions = [
        p["Properties"]
        for p in resources(each_stack, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == function_arn
    ]
    # For this one secret in this account (no confused deputy: another account's secret cannot use it).
    assert permissions == [
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": function_arn,
            "Principal": "secretsmanager.amazonaws.com",
            "SourceAccount": {"Ref": "AWS::AccountId"},
            "SourceArn": {"Ref": database_secret_id(each_stack)},
        }
    ]


def test_no_serverless_application_repository_anywhere(each_stack):
    template = each_stack.template_json
    assert "Transform" not in template
    assert resources(each_stack, "AWS::Serverless::Application") == {}
    assert not [r for r in template["Resources"].values() if r["Type"].startswith("AWS::Serverless::")]
    assert "serverlessrepo" not in each_stack.text
    assert "HostedRotationLambda" not in each_stack.text


def test_rotation_function_may_rotate_exactly_the_database_secret(each_stack):
    function = functions(each_stack)[rotation_function_id(each_stack)]
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [
        statement
        for policy in resources(each_stack, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert sorted(statements, key=lambda s: str(s["Action"])) == [
        {
            "Action": [
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetSecretValue",
                "secretsmanager:PutSecretValue",
                "secretsmanager:UpdateSecretVersionStage",
            ],
            "Effect": "Allow",
            "Resource": {"Ref": database_secret_id(each_stack)},
        },
        {"Action": "secretsmanager:GetRandomPassword", "Effect": "Allow", "Resource": "*"},
    ]
    # Its own execution policy: its own log group and VPC networking only (lambda_factory.execution_role).
    role = each_stack.template_json["Resources"][role_id]["Properties"]
    (execution,) = role["Policies"]
    assert {s["Sid"] for s in execution["PolicyDocument"]["Statement"]} == {"WriteOwnLogGroup", "VpcNetworking"}
    # The stack key, only through Secrets Manager in this region.
    key = only(each_stack, "AWS::KMS::Key")
    (grant,) = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s["Principal"] == {"AWS": {"Fn::GetAtt": [role_id, "Arn"]}}
    ]
    assert grant["Condition"] == {
        "StringEquals": {"kms:ViaService": f"secretsmanager.{each_stack.region.aws_region}.amazonaws.com"}
    }
    assert sorted(grant["Action"]) == ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]


def test_rotation_function_reaches_only_the_database_and_the_vpc_endpoints(each_stack):
    function = functions(each_stack)[rotation_function_id(each_stack)]
    (group_ref,) = function["Properties"]["VpcConfig"]["SecurityGroupIds"]
    group_id = group_ref["Fn::GetAtt"][0]
    group = each_stack.template_json["Resources"][group_id]["Properties"]
    # No CIDR egress at all: Secrets Manager is reached through its VPC endpoint (tests/infra/stacks/test_network_paths.py).
    assert "SecurityGroupEgress" not in group
    groups = resources(each_stack, "AWS::EC2::SecurityGroup")
    (db_group_id,) = [k for k in groups if k.startswith("AuditStoreSecurityGroup")]
    (endpoints_group_id,) = [k for k in groups if k.startswith("NetworkEndpointsSecurityGroup")]
    own = {"Fn::GetAtt": [group_id, "GroupId"]}
    db = {"Fn::GetAtt": [db_group_id, "GroupId"]}
    endpoints = {"Fn::GetAtt": [endpoints_group_id, "GroupId"]}
    egress = [
        r["Properties"]
        for r in resources(each_stack, "AWS::EC2::SecurityGroupEgress").values()
        if r["Properties"]["GroupId"] == own
    ]
    assert sorted((str(e["DestinationSecurityGroupId"]), e["FromPort"], e["ToPort"]) for e in egress) == sorted(
        [(str(db), 5432, 5432), (str(endpoints), 443, 443)]
    )
    ingress = [r["Properties"] for r in resources(each_stack, "AWS::EC2::SecurityGroupIngress").values()]
    assert sorted(
        (str(i["GroupId"]), i["FromPort"]) for i in ingress if i.get("SourceSecurityGroupId") == own
    ) == sorted([(str(db), 5432), (str(endpoints), 443)])
    assert not [i for i in ingress if i["GroupId"] == own]


# --- Audit pipeline -----------------------------------------------------------------------------


def test_audit_queue_and_dead_letter_queue_use_the_stack_key_and_tls(each_stack):
    queues = resources(each_stack, "AWS::SQS::Queue")
    assert len(queues) == 2
    for queue in queues.values():
        assert queue["Properties"]["KmsMasterKeyId"] == own_key_ref(each_stack)
    main = [q for q in queues.values() if "RedrivePolicy" in q["Properties"]]
    assert len(main) == 1
    assert main[0]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 5
    policies = resources(each_stack, "AWS::SQS::QueuePolicy")
    assert len(policies) == 2
    for policy in policies.values():
        (deny,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_dead_letter_queue_has_an_alarm(each_stack):
    dlq_alarms = [
        a["Properties"]
        for a in resources(each_stack, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "AWS/SQS"
    ]
    assert len(dlq_alarms) == 1  # the other alarms are the stack's monitoring (tests/infra/stacks/test_operations.py)
    alarm = dlq_alarms[0]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Threshold"] == 0
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    dlq_id = [k for k, q in resources(each_stack, "AWS::SQS::Queue").items() if "RedrivePolicy" not in q["Properties"]][
        0
    ]
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}]


def test_writer_consumes_the_queue_in_batches_with_partial_failures(each_stack):
    mapping = only(each_stack, "AWS::Lambda::EventSourceMapping")["Properties"]
    assert mapping["BatchSize"] == 100
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


# --- Functions ----------------------------------------------------------------------------------


def functions(s) -> dict:
    return resources(s, "AWS::Lambda::Function")


def test_three_functions_on_the_shared_runtime_in_private_subnets(each_stack):
    fns = functions(each_stack)
    assert len(fns) == 3
    assert {f["Properties"]["Handler"] for f in fns.values()} == {
        "regiongate.gateway.runtime.handler.handle",
        "regiongate.audit.runtime.writer.handle",
        "regiongate.rotation.runtime.handler.handle",
    }
    for fn in fns.values():
        props = fn["Properties"]
        assert props["Runtime"] == "python3.13"
        assert props["Architectures"] == [each_stack.region.sizing.lambda_architecture]
        assert props["KmsKeyArn"] == own_key_ref(each_stack)
        assert len(props["VpcConfig"]["SubnetIds"]) == len(each_stack.region.availability_zones)
        assert props["LoggingConfig"]["LogFormat"] == "JSON"


def test_function_code_is_the_runtime_part_of_the_package_staged_under_the_assembly_without_bundling(each_stack):
    from aws_cdk import Stage

    code = each_stack.stack.lambdas.code
    staged = Path(code.path)
    assert staged == assets.build_dir(Stage.of(each_stack.stack).outdir) / "functions"
    assert code.is_inline is False
    modules = sorted(str(f.relative_to(staged)) for f in staged.rglob("*.py"))
    assert "regiongate/gateway/runtime/handler.py" in modules and "regiongate/store/migrate.py" in modules
    assert not [
        m
        for m in modules
        if m.endswith("infrastructure.py")
        or m.startswith(("regiongate/infra/", "regiongate/config/", "regiongate/cli/"))
    ]
    for module in modules:  # the functions never carry construct code or the synth-time configuration
        text = (staged / module).read_text()
        assert not re.search(
            r"^\s*(from|import) (aws_cdk|constructs|cdk_nag|yaml|regiongate\.(config|infra|cli))\b", text, re.M
        ), module
    for fn in functions(each_stack).values():
        assert set(fn["Properties"]["Code"]) == {"S3Bucket", "S3Key"}
        assert len(fn["Properties"]["Layers"]) == 2  # dependencies (of its architecture) + region configuration


def test_environment_carries_no_secret_values(each_stack):
    for fn in functions(each_stack).values():
        env = fn["Properties"]["Environment"]["Variables"]
        for name, value in env.items():
            assert not any(word in name.upper() for word in ("PASSWORD", "TOKEN", "API_KEY")), name
            if isinstance(value, str):
                assert "sk-" not in value and "password" not in value.lower()


def test_gateway_sizing_comes_from_the_catalogue(each_stack):
    (gateway,) = [
        f
        for f in functions(each_stack).values()
        if f["Properties"]["Handler"] == "regiongate.gateway.runtime.handler.handle"
    ]
    sizing = each_stack.region.sizing
    assert gateway["Properties"]["MemorySize"] == sizing.lambda_memory_mb
    assert gateway["Properties"]["ReservedConcurrentExecutions"] == sizing.reserved_concurrency


def test_every_log_group_is_encrypted_with_the_stack_key_and_has_retention(each_stack):
    groups = resources(each_stack, "AWS::Logs::LogGroup")
    # flow logs, DNS queries, gateway, audit writer, secret rotation, database (+ console)
    assert len(groups) == 6 + (1 if each_stack.region.console else 0)
    for group in groups.values():
        assert group["Properties"]["KmsKeyId"] == own_key_ref(each_stack)
        assert group["Properties"]["RetentionInDays"] == each_stack.region.sizing.log_retention_days


def test_function_roles_use_no_managed_policies_and_no_bedrock_wildcards(each_stack):
    for role in resources(each_stack, "AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]
    assert ":bedrock:*:" not in each_stack.text
    assert '"bedrock:*"' not in each_stack.text


# --- Load balancer ------------------------------------------------------------------------------


def gateway_resource(s, type_name: str) -> dict:
    (found,) = [r for k, r in resources(s, type_name).items() if k.startswith("Gateway")]
    return found


def test_alb_is_internet_facing_drops_invalid_headers_and_logs_in_region(each_stack):
    alb = gateway_resource(each_stack, "AWS::ElasticLoadBalancingV2::LoadBalancer")["Properties"]
    assert alb["Scheme"] == "internet-facing"
    attributes = {a["Key"]: a["Value"] for a in alb["LoadBalancerAttributes"]}
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["access_logs.s3.enabled"] == "true"
    (bucket_id,) = resources(each_stack, "AWS::S3::Bucket")
    assert attributes["access_logs.s3.bucket"] == {"Ref": bucket_id}


def test_https_listener_uses_the_region_certificate_and_a_modern_policy(each_stack):
    each_stack.template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "Port": 443,
            "Protocol": "HTTPS",
            "Certificates": [{"CertificateArn": each_stack.region.certificate_arn}],
            "SslPolicy": Match.string_like_regexp(r"^ELBSecurityPolicy-TLS13-"),
            "DefaultActions": [Match.object_like({"Type": "forward"})],
        },
    )


def test_http_redirects_to_https(each_stack):
    each_stack.template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "Port": 80,
            "Protocol": "HTTP",
            "DefaultActions": [
                {"Type": "redirect", "RedirectConfig": {"Port": "443", "Protocol": "HTTPS", "StatusCode": "HTTP_301"}}
            ],
        },
    )


def test_access_log_bucket_is_private_tls_only_and_expires(each_stack):
    bucket = only(each_stack, "AWS::S3::Bucket")["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == 90
    # Versioned: a deleted or overwritten log stays until it would have expired anyway.
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 90}
    assert "ReplicationConfiguration" not in bucket
    policy = only(each_stack, "AWS::S3::BucketPolicy")["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}} for s in policy
    )


def test_target_is_the_gateway_function(each_stack):
    group = gateway_resource(each_stack, "AWS::ElasticLoadBalancingV2::TargetGroup")["Properties"]
    assert group["TargetType"] == "lambda"
    assert group["HealthCheckPath"] == "/health"


# --- Outputs and tags ---------------------------------------------------------------------------


def test_outputs_name_the_api_endpoint(each_stack):
    outputs = each_stack.template_json["Outputs"]
    endpoint = [o for k, o in outputs.items() if k.startswith("GatewayApiEndpoint")]
    assert endpoint and endpoint[0]["Value"] == f"https://{each_stack.region.api_domain}/v1"


@pytest.mark.parametrize(
    "type_name",
    [
        "AWS::KMS::Key",
        "AWS::EC2::VPC",
        "AWS::RDS::DBInstance",
        "AWS::SQS::Queue",
        "AWS::Lambda::Function",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::S3::Bucket",
        "AWS::SecretsManager::Secret",
        "AWS::Logs::LogGroup",
    ],
)
def test_tagged_with_geography_region_code_and_stack(each_stack, type_name):
    region = each_stack.region
    for resource in resources(each_stack, type_name).values():
        tags = {t["Key"]: t["Value"] for t in resource["Properties"]["Tags"]}
        assert tags["regiongate:geography"] == region.geography
        assert tags["regiongate:region-code"] == region.code
        assert tags["regiongate:stack"] == region.stack_name


def test_stateful_resources_declare_the_data_they_hold(each_stack):
    stateful = (
        "AWS::RDS::DBInstance",
        "AWS::SQS::Queue",
        "AWS::SecretsManager::Secret",
        "AWS::Logs::LogGroup",
        "AWS::S3::Bucket",
    )
    for type_name in stateful:
        for logical_id, resource in resources(each_stack, type_name).items():
            assert resource.get("Metadata", {}).get("regiongate:data"), (
                f"{logical_id} ({type_name}) declares no data kind"
            )


def test_gateway_may_invoke_exactly_the_configured_models_in_their_regions(each_stack):
    from regiongate.config import gateway as gateway_config

    region = each_stack.region
    expected = {
        f"arn:{region.partition}:bedrock:{g.aws_region}:{region.account if g.account_scoped else ''}:{g.resource_type}/{g.resource_id}"
        for g in gateway_config.bedrock_grants(region)
    }
    granted = set()
    for policy in resources(each_stack, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(a.startswith("bedrock:") for a in actions):
                assert sorted(actions) == ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
                granted |= set(
                    statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                )
    assert granted == expected
    for arn in granted:
        assert arn.split(":")[3] in region.inference_regions
    if region.partition == "aws-cn":
        assert granted == set()  # no Bedrock in China
    else:
        assert granted, "the shipped catalogue configures Bedrock models in every global region"
