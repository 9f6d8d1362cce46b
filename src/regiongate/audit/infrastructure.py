"""Audit pipeline: gateway → SQS (KMS, DLQ with alarm) → writer Lambda → audit store, all in region."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from regiongate.shared_constructs import data_kinds
from regiongate.shared_constructs.lambda_defaults import LambdaDefaults

WRITER_TIMEOUT = Duration.seconds(60)


class AuditPipeline(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        lambdas: LambdaDefaults,
        environment: dict[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            data_key_reuse=Duration.hours(1),
            enforce_ssl=True,
            # Six times the writer's timeout, as Lambda's SQS integration recommends.
            visibility_timeout=Duration.seconds(WRITER_TIMEOUT.to_seconds() * 6),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=5),
        )
        for queue in (self.queue, self.dead_letter_queue):
            data_kinds.mark(queue, data_kinds.AUDIT_EVENTS_IN_TRANSIT)
        self.dead_letter_alarm = cloudwatch.Alarm(
            self,
            "DeadLetterAlarm",
            alarm_description="Audit events could not be written to the audit store (see the writer's logs)",
            metric=self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.security_group = ec2.SecurityGroup(
            self,
            "WriterSecurityGroup",
            vpc=lambdas.vpc,
            description="regiongate audit writer",
            allow_all_outbound=False,
        )
        self.writer = lambdas.function(
            self,
            "Writer",
            log_name="audit-writer",
            handler="regiongate.audit.runtime.writer.handle",
            description="Writes audit metadata from the queue into the audit store (batch, idempotent)",
            memory_mb=512,
            timeout=WRITER_TIMEOUT,
            environment={**environment, "AUDIT_QUEUE_URL": self.queue.queue_url},
            security_group=self.security_group,
        )
        self.writer.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=100,
                max_batching_window=Duration.seconds(5),
                report_batch_item_failures=True,
            )
        )
