"""The regional console on ECS Fargate: in-region image (by digest), private tasks, own HTTPS ALB.

China must serve it from inside the country (no CloudFront/Cloudflare); other regions opt in with
``console: true`` in regions.yaml.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy, SecretValue
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from regiongate.config.console_oidc import ConsoleOidc
from regiongate.contract.console_oidc import CALLBACK_PATH, OidcSettings
from regiongate.contract.limits import CONSOLE_PORT
from regiongate.network.public_alb import public_https_load_balancer
from regiongate.shared_constructs import data_kinds
from regiongate.shared_constructs.log_groups import encrypted_log_group
from regiongate.shared_constructs.nag import acknowledge
from regiongate.shared_constructs.task_platform import runtime_platform

HEALTH_PATH = "/healthz"
# Where the image carries the RDS CA bundles (console/Dockerfile: COPY src/regiongate/store/rds-ca/ under /app).
IMAGE_CA_DIR = "/app/regiongate/store/rds-ca"
KEEP_IMAGES = 20


class ImageRepository(Construct):
    """One private, in-region ECR repository per image the stack runs (filled by `regiongate mirror`)."""

    def __init__(self, scope: Construct, construct_id: str, *, repository_name: str, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.repository = ecr.Repository(
            self,
            "Repository",
            repository_name=repository_name,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            image_scan_on_push=True,
            encryption=ecr.RepositoryEncryption.KMS,
            encryption_key=key,
            lifecycle_rules=[
                ecr.LifecycleRule(
                    description=f"keep the newest {KEEP_IMAGES} images",
                    max_image_count=KEEP_IMAGES,
                    tag_status=ecr.TagStatus.ANY,
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        data_kinds.mark(self.repository, data_kinds.CONTAINER_IMAGES)


class ConsoleService(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        deployment_id: str,
        vpc: ec2.IVpc,
        key: kms.IKey,
        repository: ecr.IRepository,
        image_digest: str,
        desired_count: int,
        availability_zones: tuple[str, ...],
        certificate_arn: str,
        access_logs: s3.IBucket,
        database_secret: secretsmanager.ISecret,
        environment: Mapping[str, str],
        log_retention_days: int,
        oidc: ConsoleOidc | None = None,
        console_domain: str | None = None,
        # sizing.container_architecture; the image must hold its platform (checked at synth).
        architecture: str = "x86_64",
    ) -> None:
        super().__init__(scope, construct_id)
        environment = dict(environment)
        self.log_group = encrypted_log_group(
            self,
            "Logs",
            name=f"/regiongate/{deployment_id}/console",
            key=key,
            retention_days=log_retention_days,
        )
        data_kinds.mark(self.log_group, data_kinds.CONSOLE_LOGS)
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        # The console reads its database credentials itself, and reads them again when the rotation function has
        # changed the password (values injected by ECS would go stale until the task restarts).
        self.task_role = iam.Role(
            self,
            "TaskRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="regiongate console task: reads the audit store's credentials secret, nothing else",
        )
        database_secret.grant_read(self.task_role)
        self.oidc_client_secret: secretsmanager.ISecret | None = None
        if oidc is not None:
            environment.update(self._single_sign_on(oidc, deployment_id, key, console_domain))
        self.execution_role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="regiongate console task execution: pull from the in-region repository, write logs",
        )
        task = ecs.FargateTaskDefinition(
            self,
            "Task",
            cpu=512,
            memory_limit_mib=1024,
            task_role=self.task_role,
            execution_role=self.execution_role,
            runtime_platform=runtime_platform(architecture),
        )
        task.add_container(
            "Console",
            # By digest, from this stack's own in-region repository: never a tag, never a public registry.
            image=ecs.ContainerImage.from_ecr_repository(repository, image_digest),
            port_mappings=[ecs.PortMapping(container_port=CONSOLE_PORT)],
            # regiongate.contract.environment.console_environment: the region, its document, where the store is.
            environment=dict(environment),
            logging=ecs.LogDrivers.aws_logs(stream_prefix="console", log_group=self.log_group),
            readonly_root_filesystem=True,
            health_check=ecs.HealthCheck(
                command=[
                    "CMD-SHELL",
                    f"python -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{CONSOLE_PORT}{HEALTH_PATH}')\"",
                ],
                interval=Duration.seconds(30),
                timeout=Duration.seconds(5),
                retries=3,
                start_period=Duration.seconds(30),
            ),
        )
        self.security_group = ec2.SecurityGroup(
            self, "TaskSecurityGroup", vpc=vpc, description="regiongate console tasks", allow_all_outbound=False
        )
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=self.cluster,
            task_definition=task,
            desired_count=desired_count,
            min_healthy_percent=100,
            max_healthy_percent=200,
            assign_public_ip=False,
            vpc_subnets=ec2.SubnetSelection(subnet_group_name="private", availability_zones=list(availability_zones)),
            security_groups=[self.security_group],
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            enable_execute_command=False,
        )

        public = public_https_load_balancer(
            self,
            vpc=vpc,
            purpose="console",
            certificate_arn=certificate_arn,
            access_logs=access_logs,
            access_log_prefix="console",
        )
        self.load_balancer = public.load_balancer
        self.alb_security_group = public.security_group
        https = public.https_listener
        self.target_group = https.add_targets(  # its health is alarmed on (regiongate.monitoring)
            "Console",
            port=CONSOLE_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[self.service],
            health_check=elbv2.HealthCheck(path=HEALTH_PATH, healthy_http_codes="200"),
            deregistration_delay=Duration.seconds(30),
        )
        # ALB → tasks only on the console port; tasks → HTTPS (AWS APIs via NAT) is added by the stack.
        self.security_group.add_ingress_rule(
            self.alb_security_group, ec2.Port.tcp(CONSOLE_PORT), "console from its ALB"
        )
        self.alb_security_group.add_egress_rule(self.security_group, ec2.Port.tcp(CONSOLE_PORT), "to console tasks")

        acknowledge(
            task,
            "AwsSolutions-ECS2",
            "The environment holds only non-secret settings (region code, the region document, port, database host "
            "and name, the ARN of the credentials secret); the console reads the credentials from Secrets Manager "
            "itself.",
        )
        acknowledge(
            self.execution_role,
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken has no resource-level permissions; image pulls are limited to this "
            "stack's own repository by the other statements.",
        )

    def _single_sign_on(
        self, oidc: ConsoleOidc, deployment_id: str, key: kms.IKey, console_domain: str | None
    ) -> dict[str, str]:
        """The OIDC client secret (the operator's, or one created here for the operator to fill), readable by the
        task only, and the task's CONSOLE_OIDC_* variables (regiongate.contract.console_oidc)."""
        if oidc.client_secret_arn:
            secret = secretsmanager.Secret.from_secret_complete_arn(self, "OidcClientSecret", oidc.client_secret_arn)
        else:
            # Created with an empty client_secret; the operator sets it once (the console refuses SSO until then).
            # No replica_regions: the secret stays in the region.
            secret = secretsmanager.Secret(
                self,
                "OidcClientSecret",
                secret_name=f"regiongate/{deployment_id}/console-oidc-client",
                description=f"regiongate {deployment_id}: the console's OpenID Connect client secret "
                '(JSON {"client_secret": "..."})',
                encryption_key=key,
                secret_object_value={"client_secret": SecretValue.unsafe_plain_text("")},
                removal_policy=RemovalPolicy.RETAIN,
            )
            data_kinds.mark(secret, data_kinds.CONSOLE_SSO_CLIENT_SECRET)
            acknowledge(
                secret,
                "AwsSolutions-SMG4",
                "An OpenID Connect client secret is issued by the identity provider, which alone can rotate it; "
                "operators rotate it there and put the new value in this secret.",
            )
        secret.grant_read(self.task_role)
        self.oidc_client_secret = secret
        assert console_domain is not None  # the parser requires console_domain wherever the console is served
        return OidcSettings(
            issuer=oidc.issuer,
            client_id=oidc.client_id,
            redirect_uri=f"https://{console_domain}{CALLBACK_PATH}",
            mapping=oidc.mapping,
            client_secret_arn=secret.secret_arn,
        ).environment()
