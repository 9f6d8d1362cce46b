"""The gateway: a Python Lambda in private subnets behind an internet-facing HTTPS ALB."""

from __future__ import annotations

from aws_cdk import ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_elasticloadbalancingv2_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from regiongate.gateway_config import BedrockGrant
from stacks.components.lambda_factory import LambdaDefaults

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
            handler="llm_gateway.handler.handle",
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
            lifecycle_rules=[s3.LifecycleRule(expiration=ACCESS_LOG_EXPIRY, abort_incomplete_multipart_upload_after=Duration.days(1))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.alb_security_group = ec2.SecurityGroup(
            self, "LoadBalancerSecurityGroup", vpc=vpc, description="regiongate gateway ALB", allow_all_outbound=False
        )
        self.alb_security_group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS from clients")
        self.alb_security_group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(80), "HTTP, redirected to HTTPS")
        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=vpc,
            internet_facing=True,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            security_group=self.alb_security_group,
            drop_invalid_header_fields=True,
            idle_timeout=GATEWAY_TIMEOUT,
        )
        self.load_balancer.log_access_logs(self.access_logs, prefix="gateway")
        https = self.load_balancer.add_listener(
            "Https",
            port=443,
            protocol=elbv2.ApplicationProtocol.HTTPS,
            certificates=[elbv2.ListenerCertificate.from_arn(certificate_arn)],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            open=False,
        )
        https.add_targets(
            "Gateway",
            targets=[targets.LambdaTarget(self.function)],
            health_check=elbv2.HealthCheck(enabled=True, path="/health", interval=Duration.seconds(60)),
        )
        self.load_balancer.add_redirect(source_port=80, target_port=443, open=False)

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
