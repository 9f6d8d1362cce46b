"""The stack's own customer-managed KMS key: every store of data in the region is encrypted with it."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


class RegionKey(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, deployment_id: str) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/regiongate/{deployment_id}",
            description=f"regiongate {deployment_id}: encrypts every store of data in this region",
            enable_key_rotation=True,
            rotation_period=Duration.days(365),
            # Single-region on purpose: a multi-region key could be replicated out of the region.
            multi_region=False,
            removal_policy=RemovalPolicy.RETAIN,
            pending_window=Duration.days(30),
        )
        # CloudWatch Logs encrypts our log groups with this key: only log groups of this account and region.
        # The regional principal's host ends in the partition's URL suffix (amazonaws.com.cn in China).
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsOfThisRegion",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.{stack.url_suffix}")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
