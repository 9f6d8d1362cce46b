"""The stack's own customer-managed KMS key: every store of data in the region is encrypted with it."""

from __future__ import annotations

from aws_cdk import ArnFormat, Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from regiongate.shared_constructs.nag import acknowledge
from regiongate.shared_constructs.region_key_statements import (
    ASSUME_SID,
    CREDENTIAL_CONTEXT_KEYS,
    OPEN_SID,
    ORG_ROLE_PATH,
    SEAL_SID,
)


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


def grant_org_credentials(key: kms.IKey, grantee: iam.IGrantable, *, region_code: str, seal: bool) -> None:
    """``seal`` (the console): kms:GenerateDataKey; else (the gateway): kms:Decrypt. Either only on the stack key
    and only with an org credential's encryption context of this region, so neither grant opens anything else."""
    action = "kms:GenerateDataKey" if seal else "kms:Decrypt"
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            sid=SEAL_SID if seal else OPEN_SID,
            actions=[action],
            resources=[key.key_arn],
            conditions={
                "StringEquals": {"kms:EncryptionContext:region": region_code},
                "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": list(CREDENTIAL_CONTEXT_KEYS)},
                "Null": {"kms:EncryptionContext:org": "false", "kms:EncryptionContext:provider": "false"},
            },
        )
    )


def grant_assume_org_roles(grantee: iam.IGrantable) -> None:
    """sts:AssumeRole on the orgs' Bedrock roles: roles under /regiongate/ in any account of the stack's partition
    (each org's trust policy requires the gateway's ExternalId ``regiongate:<region>:<org>``)."""
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            sid=ASSUME_SID,
            actions=["sts:AssumeRole"],
            resources=[f"arn:{Aws.PARTITION}:iam::*:role/{ORG_ROLE_PATH}*"],
        )
    )
    if isinstance(grantee.grant_principal, Construct):
        acknowledge(
            grantee.grant_principal,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::*:role/{ORG_ROLE_PATH}*]",
            "Orgs' own Bedrock roles live in the orgs' accounts, named when an org admin adds one: only roles under "
            f"/{ORG_ROLE_PATH}, and each role's trust policy requires the gateway's ExternalId regiongate:<region>:<org>.",
        )
