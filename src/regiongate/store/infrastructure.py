"""The audit store: RDS PostgreSQL holding metadata only, isolated, encrypted, TLS-only, backed up in region."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from constructs import Construct

from regiongate.contract.limits import DATABASE_NAME, DATABASE_PORT
from regiongate.shared_constructs import data_kinds
from regiongate.shared_constructs.log_groups import retention

# A full engine version cfn-lint accepts in eu-central-1, us-east-1, ap-southeast-1 and cn-north-1.
POSTGRES_VERSION = rds.PostgresEngineVersion.VER_16_9


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
            instance_identifier=instance_identifier,
            cloudwatch_logs_exports=["postgresql"],
            removal_policy=RemovalPolicy.SNAPSHOT,
        )
        self.instance.node.add_dependency(self.log_group)
        self.secret = self.instance.secret
        # The generated secret itself (instance.secret is its attachment to the instance).
        self.credentials_secret = self.instance.node.find_child("Secret")
        data_kinds.mark(
            self.instance,
            data_kinds.AUDIT_METADATA,
            data_kinds.GUARDRAIL_VIOLATIONS,
            data_kinds.SPEND_AND_USAGE,
            data_kinds.API_KEY_HASHES,
        )
        data_kinds.mark(self.credentials_secret, data_kinds.DATABASE_CREDENTIALS)
        data_kinds.mark(self.log_group, data_kinds.DATABASE_LOGS)
