"""The gateway: a Python Lambda in private subnets behind an internet-facing HTTPS ALB, and the region-scoped
secret of its providers' credentials (encrypted with the stack key, never replicated)."""

from __future__ import annotations

from aws_cdk import ArnFormat, CfnOutput, Duration, RemovalPolicy, SecretValue, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_elasticloadbalancingv2_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from regiongate.config.gateway import BedrockGrant
from regiongate.network.public_alb import public_https_load_balancer
from regiongate.shared_constructs import data_kinds
from regiongate.shared_constructs.lambda_defaults import LambdaDefaults

GATEWAY_TIMEOUT = Duration.seconds(120)
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
    ) -> None:
        super().__init__(scope, construct_id)
        vpc = lambdas.vpc
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
        self._grant_bedrock(bedrock_grants)

        # ALB access logs support only SSE-S3 (not KMS); the bucket stays in region and expires its objects.
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=False,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(expiration=ACCESS_LOG_EXPIRY, abort_incomplete_multipart_upload_after=Duration.days(1))
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        data_kinds.mark(self.access_logs, data_kinds.LOAD_BALANCER_ACCESS_LOGS)
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
        public.https_listener.add_targets(
            "Gateway",
            targets=[targets.LambdaTarget(self.function)],
            health_check=elbv2.HealthCheck(enabled=True, path="/health", interval=Duration.seconds(60)),
        )

    def _grant_bedrock(self, grants: tuple[BedrockGrant, ...]) -> None:
        """Exactly the configured models and inference profiles, each in its own region: never bedrock:*."""
        if not grants:
            return
        stack = Stack.of(self)
        arns = sorted(
            {
                stack.format_arn(
                    service="bedrock",
                    region=grant.aws_region,
                    account=None if grant.account_scoped else "",
                    resource=grant.resource_type,
                    resource_name=grant.resource_id,
                    arn_format=ArnFormat.SLASH_RESOURCE_NAME,
                )
                for grant in grants
            }
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="InvokeConfiguredModelsInRegion",
                actions=["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
                resources=arns,
            )
        )

    def add_outputs(self, api_domain: str) -> None:
        CfnOutput(self, "ApiEndpoint", value=f"https://{api_domain}/v1", description="OpenAI-compatible base URL")
        CfnOutput(
            self,
            "LoadBalancerDnsName",
            value=self.load_balancer.load_balancer_dns_name,
            description=f"Point {api_domain} (CNAME or alias) at this name",
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
