"""Rules against copies of stored data outside the home region: one failing and one passing stack each."""

from __future__ import annotations

from aws_cdk import CfnResource, Duration
from aws_cdk import aws_backup as backup
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_logs_destinations as log_destinations
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs

from regiongate.residency.model import Compliance, resources_of
from regiongate.residency.rules import (
    backup_copies_in_region,
    dynamodb_not_global,
    ecr_not_replicated,
    event_targets_in_region,
    kms_single_region,
    logs_stay_in_region,
    observability_not_shared,
    rds_not_replicated,
    s3_not_replicated,
    secrets_not_replicated,
)
from tests.fixtures.residency import EU, EU_ACCOUNT, failing, passing, synth

US_QUEUE = f"arn:aws:sqs:us-east-1:{EU_ACCOUNT}:elsewhere"


def _function(stack) -> lambda_.Function:
    return lambda_.Function(
        stack,
        "Fn",
        runtime=lambda_.Runtime.PYTHON_3_13,
        handler="index.handle",
        code=lambda_.Code.from_inline("def handle(e, c): pass"),
    )


# --- Secrets Manager ---


def test_secret_with_replica_region_fails():
    template = synth(
        lambda s: secretsmanager.Secret(s, "S", replica_regions=[secretsmanager.ReplicaRegion(region="us-east-1")])
    )
    assert "replicated to us-east-1" in failing(
        secrets_not_replicated.check, template, EU, "AWS::SecretsManager::Secret"
    )


def test_secret_without_replicas_passes():
    template = synth(lambda s: secretsmanager.Secret(s, "S"))
    passing(secrets_not_replicated.check, template, EU, "AWS::SecretsManager::Secret")


# --- RDS ---


def test_rds_backup_replication_and_foreign_replica_source_fail():
    def build(stack):
        CfnResource(
            stack,
            "Db",
            type="AWS::RDS::DBInstance",
            properties={
                "DBInstanceClass": "db.t4g.medium",
                "AutomaticBackupReplicationRegion": "eu-west-1",
            },
        )
        CfnResource(
            stack,
            "Replica",
            type="AWS::RDS::DBInstance",
            properties={
                "DBInstanceClass": "db.t4g.medium",
                "SourceDBInstanceIdentifier": f"arn:aws:rds:us-east-1:{EU_ACCOUNT}:db:primary",
                "SourceRegion": "us-east-1",
            },
        )

    details = failing(rds_not_replicated.check, synth(build), EU, "AWS::RDS::DBInstance")
    assert "AutomaticBackupReplicationRegion is eu-west-1" in details
    assert "SourceRegion is us-east-1" in details
    assert "is in region us-east-1" in details


def test_rds_global_cluster_fails_and_in_region_replica_passes():
    def build(stack):
        CfnResource(stack, "Global", type="AWS::RDS::GlobalCluster", properties={"Engine": "aurora-postgresql"})
        CfnResource(
            stack,
            "Replica",
            type="AWS::RDS::DBInstance",
            properties={
                "DBInstanceClass": "db.t4g.medium",
                "SourceDBInstanceIdentifier": "primary-in-same-region",
            },
        )

    template = synth(build)
    assert "global cluster" in failing(rds_not_replicated.check, template, EU, "AWS::RDS::GlobalCluster")
    passing(rds_not_replicated.check, template, EU, "AWS::RDS::DBInstance")


# --- S3 ---


def test_bucket_replication_and_multi_region_access_point_fail():
    def build(stack):
        CfnResource(
            stack,
            "Bucket",
            type="AWS::S3::Bucket",
            properties={
                "ReplicationConfiguration": {
                    "Role": f"arn:aws:iam::{EU_ACCOUNT}:role/replication",
                    "Rules": [{"Status": "Enabled", "Destination": {"Bucket": "arn:aws:s3:::bucket-in-virginia"}}],
                }
            },
        )
        CfnResource(stack, "Mrap", type="AWS::S3::MultiRegionAccessPoint", properties={"Regions": [{"Bucket": "b"}]})

    template = synth(build)
    assert "bucket-in-virginia" in failing(s3_not_replicated.check, template, EU, "AWS::S3::Bucket")
    assert "multi-region access point" in failing(
        s3_not_replicated.check, template, EU, "AWS::S3::MultiRegionAccessPoint"
    )


def test_bucket_without_replication_passes():
    template = synth(lambda s: s3.Bucket(s, "Bucket", versioned=True))
    passing(s3_not_replicated.check, template, EU, "AWS::S3::Bucket")


# --- DynamoDB ---


def test_global_table_with_foreign_replica_fails():
    def build(stack):
        dynamodb.TableV2(
            stack,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            replicas=[dynamodb.ReplicaTableProps(region="us-east-1")],
        )

    assert "replica in us-east-1" in failing(dynamodb_not_global.check, synth(build), EU, "AWS::DynamoDB::GlobalTable")


def test_global_table_with_home_replica_only_passes():
    def build(stack):
        dynamodb.TableV2(
            stack, "Table", partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING)
        )

    passing(dynamodb_not_global.check, synth(build), EU, "AWS::DynamoDB::GlobalTable")


# --- KMS ---


def test_multi_region_key_fails():
    template = synth(lambda s: kms.Key(s, "Key", multi_region=True))
    assert "multi-region key" in failing(kms_single_region.check, template, EU, "AWS::KMS::Key")


def test_single_region_key_passes():
    template = synth(lambda s: kms.Key(s, "Key", multi_region=False))
    passing(kms_single_region.check, template, EU, "AWS::KMS::Key")


# --- ECR ---


def test_ecr_replication_to_another_region_fails():
    def build(stack):
        ecr.CfnReplicationConfiguration(
            stack,
            "Replication",
            replication_configuration={
                "rules": [{"destinations": [{"region": "us-west-2", "registryId": EU_ACCOUNT}]}]
            },
        )

    assert "replicated to region us-west-2" in failing(
        ecr_not_replicated.check, synth(build), EU, "AWS::ECR::ReplicationConfiguration"
    )


def test_ecr_replication_to_same_region_and_account_passes():
    def build(stack):
        ecr.CfnReplicationConfiguration(
            stack,
            "Replication",
            replication_configuration={
                "rules": [{"destinations": [{"region": "eu-central-1", "registryId": EU_ACCOUNT}]}]
            },
        )

    passing(ecr_not_replicated.check, synth(build), EU, "AWS::ECR::ReplicationConfiguration")


# --- Backup ---


def _plan(stack, destination: backup.IBackupVault) -> None:
    plan = backup.BackupPlan(stack, "Plan", backup_vault=backup.BackupVault(stack, "Vault"))
    plan.add_rule(
        backup.BackupPlanRule(
            rule_name="daily",
            copy_actions=[
                backup.BackupPlanCopyActionProps(destination_backup_vault=destination, move_to_cold_storage_after=None)
            ],
            delete_after=Duration.days(30),
        )
    )


def test_backup_copy_to_another_region_fails():
    def build(stack):
        _plan(
            stack,
            backup.BackupVault.from_backup_vault_arn(
                stack, "Far", f"arn:aws:backup:eu-west-2:{EU_ACCOUNT}:backup-vault:far"
            ),
        )

    assert "eu-west-2" in failing(backup_copies_in_region.check, synth(build), EU, "AWS::Backup::BackupPlan")


def test_backup_copy_to_own_vault_passes():
    template = synth(lambda s: _plan(s, backup.BackupVault(s, "Near")))
    passing(backup_copies_in_region.check, template, EU, "AWS::Backup::BackupPlan")


# --- Logs ---


def test_subscription_filter_to_another_region_fails():
    def build(stack):
        group = logs.LogGroup(stack, "Logs")
        logs.CfnSubscriptionFilter(
            stack,
            "Out",
            log_group_name=group.log_group_name,
            filter_pattern="",
            destination_arn="arn:aws:logs:us-east-1:999999999999:destination:central",
        )

    details = failing(logs_stay_in_region.check, synth(build), EU, "AWS::Logs::SubscriptionFilter")
    assert "us-east-1" in details


def test_subscription_filter_to_own_function_passes():
    def build(stack):
        group = logs.LogGroup(stack, "Logs")
        group.add_subscription_filter(
            "In",
            destination=log_destinations.LambdaDestination(_function(stack)),
            filter_pattern=logs.FilterPattern.all_events(),
        )

    passing(logs_stay_in_region.check, synth(build), EU, "AWS::Logs::SubscriptionFilter")


# --- OAM ---


def test_oam_link_to_monitoring_account_fails():
    def build(stack):
        CfnResource(
            stack,
            "Link",
            type="AWS::Oam::Link",
            properties={
                "ResourceTypes": ["AWS::Logs::LogGroup"],
                "SinkIdentifier": "arn:aws:oam:eu-central-1:999999999999:sink/central",
            },
        )

    assert "account 999999999999" in failing(observability_not_shared.check, synth(build), EU, "AWS::Oam::Link")


def test_oam_sink_without_policy_passes():
    template = synth(lambda s: CfnResource(s, "Sink", type="AWS::Oam::Sink", properties={"Name": "local"}))
    passing(observability_not_shared.check, template, EU, "AWS::Oam::Sink")


# --- EventBridge and SNS ---


def test_event_rule_targeting_foreign_bus_and_sns_email_fail():
    def build(stack):
        rule = events.Rule(stack, "Rule", schedule=events.Schedule.rate(Duration.hours(1)))
        rule.add_target(
            targets.EventBus(
                events.EventBus.from_event_bus_arn(
                    stack, "Far", f"arn:aws:events:us-east-1:{EU_ACCOUNT}:event-bus/central"
                )
            )
        )
        topic = sns.Topic(stack, "Topic")
        sns.Subscription(
            stack, "Mail", topic=topic, protocol=sns.SubscriptionProtocol.EMAIL, endpoint="ops@example.com"
        )
        sns.Subscription(stack, "FarQueue", topic=topic, protocol=sns.SubscriptionProtocol.SQS, endpoint=US_QUEUE)

    template = synth(build)
    assert "us-east-1" in failing(event_targets_in_region.check, template, EU, "AWS::Events::Rule")
    details = failing(event_targets_in_region.check, template, EU, "AWS::SNS::Subscription")
    assert "email subscription" in details and "us-east-1" in details


def test_event_rule_and_sns_to_own_resources_pass():
    def build(stack):
        queue = sqs.Queue(stack, "Queue")
        rule = events.Rule(stack, "Rule", schedule=events.Schedule.rate(Duration.hours(1)))
        rule.add_target(targets.SqsQueue(queue))
        rule.add_target(targets.LambdaFunction(_function(stack)))
        topic = sns.Topic(stack, "Topic")
        sns.Subscription(stack, "Sub", topic=topic, protocol=sns.SubscriptionProtocol.SQS, endpoint=queue.queue_arn)

    template = synth(build)
    passing(event_targets_in_region.check, template, EU, "AWS::Events::Rule")
    passing(event_targets_in_region.check, template, EU, "AWS::SNS::Subscription")


def test_rds_cluster_pass_for_plain_encrypted_cluster():
    # Guards against the RDS rule flagging ordinary clusters (no SourceRegion, no global cluster).
    def build(stack):
        CfnResource(stack, "Cluster", type="AWS::RDS::DBCluster", properties={"Engine": "aurora-postgresql"})

    passing(rds_not_replicated.check, synth(build), EU, "AWS::RDS::DBCluster")


def test_rules_ignore_unrelated_resources():
    template = synth(lambda s: sqs.Queue(s, "Queue"))
    for check in (secrets_not_replicated.check, rds_not_replicated.check, kms_single_region.check):
        assert {check(r, EU).compliance for r in resources_of(template)} == {Compliance.NOT_APPLICABLE}
