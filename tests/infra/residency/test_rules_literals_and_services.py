"""Rules on literals, partitions, ECS, China edge services, Bedrock scope and encryption: failing and passing regiongate.infra."""

from __future__ import annotations

from aws_cdk import ArnFormat, Aws, CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs

from regiongate.residency.rules import (
    bedrock_no_global_profiles,
    bedrock_scoped_to_inference_regions,
    china_no_global_edge,
    ecs_images_from_own_ecr,
    ecs_logs_in_region,
    no_foreign_region_literals,
    partition_literals,
    stores_encrypted_with_stack_key,
)
from tests.fixtures.residency import CN, EU, EU_ACCOUNT, all_compliant_or_na, failing, passing, synth


def _function(stack, environment=None) -> lambda_.Function:
    return lambda_.Function(
        stack,
        "Fn",
        runtime=lambda_.Runtime.PYTHON_3_13,
        handler="index.handle",
        code=lambda_.Code.from_inline("def handle(e, c): pass"),
        environment=environment,
    )


def _bedrock_grant(stack, *resources: str) -> None:
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["bedrock:InvokeModel"], resources=list(resources)))


def _model_arn(stack: Stack, region: str, model: str) -> str:
    return stack.format_arn(
        service="bedrock",
        region=region,
        account="",
        resource="foundation-model",
        resource_name=model,
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )


# --- foreign regions ---


def test_foreign_region_in_environment_and_outside_bedrock_fails():
    def build(stack):
        _function(stack, {"REPORT_BUCKET_REGION": "us-east-1", "BEDROCK_FALLBACK": "eu-west-1"})
        _bedrock_grant(stack, _model_arn(stack, "eu-west-1", "m"))
        role = iam.Role(stack, "Other", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        role.add_to_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[f"arn:aws:sqs:eu-west-1:{EU_ACCOUNT}:q"])
        )

    template = synth(build)
    assert "us-east-1 (a foreign region)" in failing(
        no_foreign_region_literals.check, template, EU, "AWS::Lambda::Function"
    )
    details = failing(no_foreign_region_literals.check, template, EU, "AWS::IAM::Policy")
    assert "outside Bedrock permissions" in details and "arn:aws:sqs:eu-west-1" in details
    assert "bedrock" not in details  # the Bedrock grant in an inference region is allowed


def test_home_region_zones_and_inference_regions_in_bedrock_pass():
    def build(stack):
        _function(stack, {"BEDROCK_REGIONS": "eu-central-1,eu-west-1", "ZONE": "eu-central-1a"})
        _bedrock_grant(stack, _model_arn(stack, "eu-west-1", "m"), _model_arn(stack, "eu-central-1", "m"))

    template = synth(build)
    all_compliant_or_na(no_foreign_region_literals.check, template, EU)
    passing(no_foreign_region_literals.check, template, EU, "AWS::IAM::Policy")


# --- partitions ---


def test_literal_commercial_arn_and_global_host_fail_in_china():
    def build(stack):
        _function(stack, {"QUEUE": "https://sqs.cn-north-1.amazonaws.com/444444444444/q"})
        role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::bucket/*"]))

    template = synth(build, CN)
    assert "ARN of partition aws in a aws-cn stack" in failing(
        partition_literals.check, template, CN, "AWS::IAM::Policy"
    )
    assert "amazonaws.com, not amazonaws.com.cn" in failing(
        partition_literals.check, template, CN, "AWS::Lambda::Function"
    )


def test_partition_tokens_and_service_principals_pass_in_china():
    def build(stack):
        _function(stack, {"QUEUE": f"https://sqs.{Aws.REGION}.{Aws.URL_SUFFIX}/q"})
        role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[
                    stack.format_arn(
                        service="s3",
                        region="",
                        account="",
                        resource="bucket",
                        resource_name="*",
                        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
                    )
                ],
            )
        )

    template = synth(build, CN)
    passing(partition_literals.check, template, CN, "AWS::IAM::Policy")
    passing(partition_literals.check, template, CN, "AWS::IAM::Role")
    passing(partition_literals.check, template, CN, "AWS::Lambda::Function")


def test_china_arn_fails_in_commercial_stack():
    def build(stack):
        CfnResource(
            stack,
            "Queue",
            type="AWS::SQS::Queue",
            properties={
                "KmsMasterKeyId": "arn:aws-cn:kms:cn-north-1:444444444444:key/1234abcd-12ab-34cd-56ef-1234567890ab"
            },
        )

    assert "partition aws-cn" in failing(partition_literals.check, synth(build), EU, "AWS::SQS::Queue")


# --- ECS ---


def _task(stack, image: ecs.ContainerImage, logging: ecs.LogDriver) -> None:
    task = ecs.FargateTaskDefinition(stack, "Task")
    task.add_container("App", image=image, logging=logging, memory_limit_mib=512)


def test_ecs_foreign_awslogs_region_and_public_image_fail():
    def build(stack):
        group = logs.LogGroup.from_log_group_arn(stack, "Far", f"arn:aws:logs:us-east-1:{EU_ACCOUNT}:log-group:far")
        task = ecs.FargateTaskDefinition(stack, "Task")
        task.add_container(
            "App",
            image=ecs.ContainerImage.from_registry("public.ecr.aws/nginx/nginx:latest"),
            memory_limit_mib=512,
            logging=ecs.LogDrivers.aws_logs(stream_prefix="app", log_group=group),
        )
        task.add_container(
            "Sidecar",
            image=ecs.ContainerImage.from_registry("docker.io/library/busybox"),
            memory_limit_mib=128,
            logging=ecs.LogDrivers.splunk(
                url="https://splunk.example.com",
                secret_token=ecs.Secret.from_secrets_manager(secretsmanager.Secret(stack, "Token")),
            ),
        )

    template = synth(build)
    logs_details = failing(ecs_logs_in_region.check, template, EU, "AWS::ECS::TaskDefinition")
    assert "awslogs-region is us-east-1" in logs_details and "log driver splunk" in logs_details
    images = failing(ecs_images_from_own_ecr.check, template, EU, "AWS::ECS::TaskDefinition")
    assert "public.ecr.aws/nginx" in images and "docker.io/library/busybox" in images


def test_ecs_image_from_own_repository_and_home_logs_pass():
    def build(stack):
        repository = ecr.Repository(stack, "Repo")
        _task(
            stack,
            ecs.ContainerImage.from_ecr_repository(repository, "sha256:" + "0" * 64),
            ecs.LogDrivers.aws_logs(stream_prefix="app", log_group=logs.LogGroup(stack, "Logs")),
        )

    template = synth(build)
    passing(ecs_logs_in_region.check, template, EU, "AWS::ECS::TaskDefinition")
    passing(ecs_images_from_own_ecr.check, template, EU, "AWS::ECS::TaskDefinition")


def test_ecs_image_from_ecr_of_another_region_fails():
    def build(stack):
        repository = ecr.Repository.from_repository_arn(
            stack, "Far", f"arn:aws:ecr:us-east-1:{EU_ACCOUNT}:repository/app"
        )
        _task(
            stack,
            ecs.ContainerImage.from_ecr_repository(repository, "latest"),
            ecs.LogDrivers.aws_logs(stream_prefix="app", log_group=logs.LogGroup(stack, "Logs")),
        )

    assert "dkr.ecr.us-east-1" in failing(ecs_images_from_own_ecr.check, synth(build), EU, "AWS::ECS::TaskDefinition")


def test_ecs_image_from_own_repository_by_tag_fails():
    def build(stack):
        _task(
            stack,
            ecs.ContainerImage.from_ecr_repository(ecr.Repository(stack, "Repo"), "1.0.0"),
            ecs.LogDrivers.aws_logs(stream_prefix="app", log_group=logs.LogGroup(stack, "Logs")),
        )

    assert "not pinned by digest" in failing(
        ecs_images_from_own_ecr.check, synth(build), EU, "AWS::ECS::TaskDefinition"
    )


# --- China edge services ---


def test_cloudfront_and_cloudfront_waf_fail_in_china():
    def build(stack):
        CfnResource(
            stack, "Cdn", type="AWS::CloudFront::Distribution", properties={"DistributionConfig": {"Enabled": True}}
        )
        CfnResource(
            stack,
            "Waf",
            type="AWS::WAFv2::WebACL",
            properties={
                "Scope": "CLOUDFRONT",
                "DefaultAction": {"Allow": {}},
                "VisibilityConfig": {
                    "CloudWatchMetricsEnabled": False,
                    "MetricName": "m",
                    "SampledRequestsEnabled": False,
                },
            },
        )
        CfnResource(stack, "Accelerator", type="AWS::GlobalAccelerator::Accelerator", properties={"Name": "a"})

    template = synth(build, CN)
    assert "CloudFront" in failing(china_no_global_edge.check, template, CN, "AWS::CloudFront::Distribution")
    assert "CLOUDFRONT" in failing(china_no_global_edge.check, template, CN, "AWS::WAFv2::WebACL")
    assert "Global Accelerator" in failing(
        china_no_global_edge.check, template, CN, "AWS::GlobalAccelerator::Accelerator"
    )


def test_regional_waf_passes_in_china():
    def build(stack):
        CfnResource(
            stack,
            "Waf",
            type="AWS::WAFv2::WebACL",
            properties={
                "Scope": "REGIONAL",
                "DefaultAction": {"Allow": {}},
                "VisibilityConfig": {
                    "CloudWatchMetricsEnabled": False,
                    "MetricName": "m",
                    "SampledRequestsEnabled": False,
                },
            },
        )

    passing(china_no_global_edge.check, synth(build, CN), CN, "AWS::WAFv2::WebACL")


# --- Bedrock ---


def test_global_inference_profile_fails():
    def build(stack):
        _function(stack, {"BEDROCK_MODEL": "global.anthropic.claude-sonnet-4-5-20250929-v1:0"})
        _bedrock_grant(
            stack,
            f"arn:aws:bedrock:eu-central-1:{EU_ACCOUNT}:inference-profile/global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        )

    template = synth(build)
    assert "global inference profile" in failing(
        bedrock_no_global_profiles.check, template, EU, "AWS::Lambda::Function"
    )
    assert "inference-profile/global." in failing(bedrock_no_global_profiles.check, template, EU, "AWS::IAM::Policy")


def test_geography_profile_passes():
    def build(stack):
        _function(stack, {"BEDROCK_MODEL": "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"})
        _bedrock_grant(
            stack,
            f"arn:aws:bedrock:eu-central-1:{EU_ACCOUNT}:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
        )

    template = synth(build)
    passing(bedrock_no_global_profiles.check, template, EU, "AWS::Lambda::Function")
    passing(bedrock_no_global_profiles.check, template, EU, "AWS::IAM::Policy")


def test_bedrock_any_region_star_resource_and_foreign_region_fail():
    def build(stack):
        _bedrock_grant(stack, "arn:aws:bedrock:*::foundation-model/m", "*", _model_arn(stack, "us-west-2", "m"))

    details = failing(bedrock_scoped_to_inference_regions.check, synth(build), EU, "AWS::IAM::Policy")
    assert "any region" in details and 'Resource "*"' in details and "us-west-2" in details


def test_bedrock_exact_models_in_inference_regions_pass():
    def build(stack):
        _bedrock_grant(stack, _model_arn(stack, "eu-central-1", "m"), _model_arn(stack, "eu-west-1", "m"))
        # Resource "*" is fine for actions that are not Bedrock.
        iam.Role(stack, "Logs", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com")).add_to_policy(
            iam.PolicyStatement(actions=["xray:PutTraceSegments"], resources=["*"])
        )

    template = synth(build)
    passing(bedrock_scoped_to_inference_regions.check, template, EU, "AWS::IAM::Policy")


# --- encryption with the stack's key ---


def test_stores_without_the_stack_key_fail():
    def build(stack):
        s3.Bucket(stack, "Bucket", encryption=s3.BucketEncryption.S3_MANAGED)
        sqs.Queue(stack, "Queue", encryption=sqs.QueueEncryption.SQS_MANAGED)
        logs.LogGroup(stack, "Logs")
        imported = kms.Key.from_key_arn(stack, "Imported", f"arn:aws:kms:eu-central-1:{EU_ACCOUNT}:key/1234")
        secretsmanager.Secret(stack, "Secret", encryption_key=imported)

    template = synth(build)
    assert "AES256" in failing(stores_encrypted_with_stack_key.check, template, EU, "AWS::S3::Bucket")
    assert "no KMS key" in failing(stores_encrypted_with_stack_key.check, template, EU, "AWS::SQS::Queue")
    assert "no KMS key" in failing(stores_encrypted_with_stack_key.check, template, EU, "AWS::Logs::LogGroup")
    assert "not the stack's own key" in failing(
        stores_encrypted_with_stack_key.check, template, EU, "AWS::SecretsManager::Secret"
    )


def test_stores_with_the_stack_key_pass():
    def build(stack):
        key = kms.Key(stack, "Key", removal_policy=RemovalPolicy.DESTROY)
        s3.Bucket(stack, "Bucket", encryption_key=key)
        sqs.Queue(stack, "Queue", encryption_master_key=key, retention_period=Duration.days(4))
        logs.LogGroup(stack, "Logs", encryption_key=key)
        secretsmanager.Secret(stack, "Secret", encryption_key=key)
        ecr.Repository(stack, "Repo", encryption=ecr.RepositoryEncryption.KMS, encryption_key=key)

    template = synth(build)
    for resource_type in (
        "AWS::S3::Bucket",
        "AWS::SQS::Queue",
        "AWS::Logs::LogGroup",
        "AWS::SecretsManager::Secret",
        "AWS::ECR::Repository",
    ):
        passing(stores_encrypted_with_stack_key.check, template, EU, resource_type)
