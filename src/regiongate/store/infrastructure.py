"""The audit store: RDS PostgreSQL holding metadata only, isolated, encrypted, TLS-only, backed up in region."""

from __future__ import annotations

from aws_cdk import ArnFormat, CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from constructs import Construct

from regiongate.contract.limits import DATABASE_NAME, DATABASE_PORT
from regiongate.shared_constructs import data_kinds
from regiongate.shared_constructs.log_groups import retention
from regiongate.shared_constructs.nag import acknowledge

# A full engine version cfn-lint accepts in eu-central-1, us-east-1, ap-southeast-1 and cn-north-1.
POSTGRES_VERSION = rds.PostgresEngineVersion.VER_16_9
# Enhanced monitoring: OS metrics every minute, written by RDS to the region's RDSOSMetrics log group.
MONITORING_INTERVAL = Duration.seconds(60)
OS_METRICS_LOG_GROUP = "RDSOSMetrics"


def enhanced_monitoring_role(scope: Construct, construct_id: str) -> iam.Role:
    """What AmazonRDSEnhancedMonitoringRole grants, limited to the RDSOSMetrics log group of this region and account."""
    stack = Stack.of(scope)

    def log_group(name: str) -> str:
        return stack.format_arn(
            service="logs", resource="log-group", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
        )

    streams = log_group(f"{OS_METRICS_LOG_GROUP}:log-stream:*")
    role = iam.Role(
        scope,
        construct_id,
        assumed_by=iam.ServicePrincipal("monitoring.rds.amazonaws.com"),
        description="regiongate audit store enhanced monitoring: OS metrics to this region's RDSOSMetrics log group",
        inline_policies={
            "OsMetrics": iam.PolicyDocument(
                statements=[
                    iam.PolicyStatement(
                        sid="OsMetricsLogGroup",
                        actions=["logs:CreateLogGroup", "logs:PutRetentionPolicy"],
                        resources=[log_group(OS_METRICS_LOG_GROUP)],
                    ),
                    iam.PolicyStatement(
                        sid="OsMetricsLogStreams",
                        actions=[
                            "logs:CreateLogStream",
                            "logs:PutLogEvents",
                            "logs:DescribeLogStreams",
                            "logs:GetLogEvents",
                        ],
                        resources=[streams],
                    ),
                ]
            )
        },
    )
    acknowledge(
        role,
        f"AwsSolutions-IAM5[Resource::{stack.resolve(streams)}]",
        "RDS names the enhanced-monitoring log streams after the instance's resource id, known only after "
        "creation; the wildcard is limited to the RDSOSMetrics log group of this region and account.",
    )
    return role


class AuditStore(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        deployment_id: str,
        vpc: ec2.IVpc,
        key: kms.IKey,
        instance_class: str,
        multi_az: bool,
        allocated_storage_gb: int,
        backup_retention_days: int,
        log_retention_days: int,
        memory_content: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        engine = rds.DatabaseInstanceEngine.postgres(version=POSTGRES_VERSION)
        parameters = rds.ParameterGroup(
            self,
            "Parameters",
            engine=engine,
            description="regiongate audit store: TLS only, no statement text in logs",
            parameters={
                "rds.force_ssl": "1",
                "ssl_min_protocol_version": "TLSv1.2",
                # Statements are never logged: parameters could carry identifiers we promise not to keep.
                "log_statement": "none",
                "log_min_duration_statement": "-1",
            },
        )
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, description="regiongate audit store", allow_all_outbound=False
        )
        instance_identifier = f"regiongate-{deployment_id}-audit"
        # RDS exports its logs into this group; created here first so it has the stack key and a retention
        # (left to RDS it would be unencrypted and kept forever).
        self.log_group = logs.LogGroup(
            self,
            "PostgresqlLogs",
            log_group_name=f"/aws/rds/instance/{instance_identifier}/postgresql",
            encryption_key=key,
            retention=retention(log_retention_days),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.instance = rds.DatabaseInstance(
            self,
            "Database",
            engine=engine,
            instance_type=ec2.InstanceType(instance_class.removeprefix("db.")),
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[self.security_group],
            port=DATABASE_PORT,
            database_name=DATABASE_NAME,
            # Generated in region by Secrets Manager, encrypted with the stack key, never replicated.
            credentials=rds.Credentials.from_generated_secret(
                "regiongate_admin",
                secret_name=f"regiongate/{deployment_id}/audit-store-admin",
                encryption_key=key,
            ),
            parameter_group=parameters,
            storage_encrypted=True,
            storage_encryption_key=key,
            allocated_storage=allocated_storage_gb,
            max_allocated_storage=allocated_storage_gb * 4,
            storage_type=rds.StorageType.GP3,
            multi_az=multi_az,
            publicly_accessible=False,
            iam_authentication=True,
            deletion_protection=True,
            backup_retention=Duration.days(backup_retention_days),
            copy_tags_to_snapshot=True,
            auto_minor_version_upgrade=True,
            enable_performance_insights=False,
            monitoring_interval=MONITORING_INTERVAL,
            monitoring_role=enhanced_monitoring_role(self, "MonitoringRole"),
            instance_identifier=instance_identifier,
            cloudwatch_logs_exports=["postgresql"],
            removal_policy=RemovalPolicy.SNAPSHOT,
        )
        self.instance.node.add_dependency(self.log_group)
        self.secret = self.instance.secret
        # The generated secret itself (instance.secret is its attachment to the instance).
        self.credentials_secret = self.instance.node.find_child("Secret")
        # CDK attaches a resource policy denying secretsmanager:DeleteSecret (the instance keeps a final snapshot
        # whose credentials are these); deleting the stack must therefore keep the secret too, not fail on it.
        credentials_resource = self.credentials_secret.node.default_child
        if not isinstance(credentials_resource, CfnResource):
            raise TypeError(f"{self.credentials_secret.node.path} has no CloudFormation resource to retain")
        credentials_resource.apply_removal_policy(RemovalPolicy.RETAIN)
        data_kinds.mark(
            self.instance,
            data_kinds.AUDIT_METADATA,
            data_kinds.GUARDRAIL_VIOLATIONS,
            data_kinds.SPEND_AND_USAGE,
            data_kinds.ORG_PROVIDER_CREDENTIALS,  # sealed under the stack key (store.provider_credentials)
            data_kinds.API_KEY_HASHES,
            # Memory-as-a-Service facts and embeddings (migration 0006): only where the region offers memory to
            # its orgs. pgvector ships with RDS for PostgreSQL and the default rds.allowed_extensions ('*') allows
            # it; the migrations run as the master user (rds_superuser), who may CREATE EXTENSION vector.
            *((data_kinds.MEMORY_CONTENT,) if memory_content else ()),
        )
        data_kinds.mark(self.credentials_secret, data_kinds.DATABASE_CREDENTIALS)
        data_kinds.mark(self.log_group, data_kinds.DATABASE_LOGS)
