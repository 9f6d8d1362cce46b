"""The gateway: a Python Lambda in private subnets behind an internet-facing HTTPS ALB, and the region-scoped
secret of its providers' credentials (encrypted with the stack key, never replicated).

With ``gateway.runtime: container`` the same ALB forwards to the ECS Fargate service of
:mod:`regiongate.gateway.container_infrastructure` instead, and no gateway function is created."""

from __future__ import annotations

from aws_cdk import ArnFormat, CfnOutput, Duration, RemovalPolicy, SecretValue, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_elasticloadbalancingv2_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from regiongate.config.gateway import BedrockGrant
from regiongate.config.gateway_runtime import GatewayRuntime
from regiongate.contract.limits import GATEWAY_TIMEOUT_SECONDS
from regiongate.network.public_alb import public_https_load_balancer
from regiongate.shared_constructs import data_kinds
from regiongate.shared_constructs.invoke_permissions import confine_service_invocations
from regiongate.shared_constructs.lambda_defaults import LambdaDefaults

GATEWAY_TIMEOUT = Duration.seconds(GATEWAY_TIMEOUT_SECONDS)  # the upstream deadline stays below it
ACCESS_LOG_EXPIRY = Duration.days(90)


class Gateway(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        lambdas: LambdaDefaults,
        environment: dict[str, str],
        memory_mb: int,
        reserved_concurrency: int,
        certificate_arn: str,
        bedrock_grants: tuple[BedrockGrant, ...],
        runtime: GatewayRuntime = GatewayRuntime(),
    ) -> None:
        super().__init__(scope, construct_id)
        vpc = lambdas.vpc
        self.runtime = runtime
        self.bedrock_arns = bedrock_arns(Stack.of(self), bedrock_grants)
        # The same models and profiles in any account: what an org's own Bedrock role invokes (in its account).
        self.org_bedrock_arns = bedrock_arns(Stack.of(self), bedrock_grants, any_account=True)
        # Built first in both runtimes: the Lambda's code, logs and ALB stay as they were when runtime is lambda.
        self.access_logs = self._access_logs()
        if runtime.container:
            self.function: lambda_.Function | None = None
            public = public_https_load_balancer(
                self,
                vpc=vpc,
                purpose="gateway API",
                certificate_arn=certificate_arn,
                access_logs=self.access_logs,
                access_log_prefix="gateway",
                # Above the longest generation: a stream is never cut by the ALB while the upstream still answers.
                idle_timeout=Duration.seconds(runtime.drain_seconds),
            )
            self.load_balancer = public.load_balancer
            self.alb_security_group = public.security_group
            self.https_listener = public.https_listener  # the container service adds its target group
            return
        self.security_group = ec2.SecurityGroup(
            self, "FunctionSecurityGroup", vpc=vpc, description="regiongate gateway function", allow_all_outbound=False
        )
        self.function = lambdas.function(
            self,
            "Function",
            log_name="gateway",
            handler="regiongate.gateway.runtime.handler.handle",
            description="regiongate OpenAI-compatible gateway (content is processed in memory, never stored)",
            memory_mb=memory_mb,
            timeout=GATEWAY_TIMEOUT,
            environment=environment,
            security_group=self.security_group,
            reserved_concurrency=reserved_concurrency,
        )
        statement = bedrock_statement(self.bedrock_arns)
        if statement is not None:
            self.function.add_to_role_policy(statement)
        public = public_https_load_balancer(
            self,
            vpc=vpc,
            purpose="gateway API",
            certificate_arn=certificate_arn,
            access_logs=self.access_logs,
            access_log_prefix="gateway",
            idle_timeout=GATEWAY_TIMEOUT,
        )
        self.load_balancer = public.load_balancer
        self.alb_security_group = public.security_group
        self.https_listener = public.https_listener
        public.https_listener.add_targets(
            "Gateway",
            targets=[targets.LambdaTarget(self.function)],
            health_check=elbv2.HealthCheck(enabled=True, path="/health", interval=Duration.seconds(60)),
        )
        # Only this account's target groups in this region may invoke the gateway (a pattern: the target group's
        # own ARN would be a cycle, since the target group waits for the permission before registering).
        stack = Stack.of(self)
        confine_service_invocations(
            self.function,
            principal="elasticloadbalancing.amazonaws.com",
            source_arn=stack.format_arn(
                service="elasticloadbalancing",
                resource="targetgroup",
                resource_name="*",
                arn_format=ArnFormat.SLASH_RESOURCE_NAME,
            ),
        )

    def _access_logs(self) -> s3.Bucket:
        # ALB access logs support only SSE-S3 (not KMS); the bucket stays in region and expires its objects.
        access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            # Versioned, so that a deleted or overwritten log is kept until it would have expired anyway.
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=ACCESS_LOG_EXPIRY,
                    noncurrent_version_expiration=ACCESS_LOG_EXPIRY,
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        data_kinds.mark(access_logs, data_kinds.LOAD_BALANCER_ACCESS_LOGS)
        return access_logs

    def add_outputs(self, api_domain: str) -> None:
        CfnOutput(self, "ApiEndpoint", value=f"https://{api_domain}/v1", description="OpenAI-compatible base URL")
        CfnOutput(
            self,
            "LoadBalancerDnsName",
            value=self.load_balancer.load_balancer_dns_name,
            description=f"Point {api_domain} (CNAME or alias) at this name",
        )


def bedrock_arns(stack: Stack, grants: tuple[BedrockGrant, ...], *, any_account: bool = False) -> list[str]:
    """The ARNs of exactly the configured models and inference profiles, each in its own region (an inference
    profile in the stack's account, or with ``any_account`` in any account)."""
    return sorted(
        {
            stack.format_arn(
                service="bedrock",
                region=grant.aws_region,
                account=("*" if any_account else None) if grant.account_scoped else "",
                resource=grant.resource_type,
                resource_name=grant.resource_id,
                arn_format=ArnFormat.SLASH_RESOURCE_NAME,
            )
            for grant in grants
        }
    )


def bedrock_statement(arns: list[str]) -> iam.PolicyStatement | None:
    """What the gateway (function or task role) may invoke: the configured ARNs, never bedrock:*."""
    if not arns:
        return None
    return iam.PolicyStatement(
        sid="InvokeConfiguredModelsInRegion",
        actions=["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
        resources=arns,
    )


class ProviderSecrets(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, deployment_id: str, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        # Created empty; operators put the provider credentials in after deploy (README: "Provider credentials").
        # No replica_regions, ever: a replica would copy the credentials out of the region.
        self.provider_credentials = secretsmanager.Secret(
            self,
            "ProviderCredentials",
            secret_name=f"regiongate/{deployment_id}/provider-credentials",
            description=f"regiongate {deployment_id}: API credentials of the region's LLM providers (JSON by provider name)",
            encryption_key=key,
            secret_string_value=SecretValue.unsafe_plain_text("{}"),
            removal_policy=RemovalPolicy.RETAIN,
        )
        data_kinds.mark(self.provider_credentials, data_kinds.PROVIDER_CREDENTIALS)
