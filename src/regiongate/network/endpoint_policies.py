"""The policies of a stack's VPC endpoints: each service, only on the stack's own resources where it supports it.

Where a service has no resource-level permissions for an action (``secretsmanager:GetRandomPassword``,
``ecr:GetAuthorizationToken``, ``sts:GetCallerIdentity``, ``cloudwatch:PutMetricData``) the statement names ``*``
and is limited to principals of the stack's own account, as every statement is.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Aws, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs

from regiongate.network.endpoints import ServiceEndpoints, account_statement

ORG_ROLE_PATH = "regiongate/"  # the orgs' Bedrock roles (regiongate.store.provider_credentials.ROLE_PATH)

QUEUE_ACTIONS = (
    "sqs:SendMessage",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
)
SECRET_ACTIONS = (
    "secretsmanager:GetSecretValue",
    "secretsmanager:DescribeSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
)
KEY_ACTIONS = (
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
)
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams")
IMAGE_ACTIONS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability")
BEDROCK_ACTIONS = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")


def limit_to_stack(
    endpoints: ServiceEndpoints,
    *,
    queues: Sequence[sqs.IQueue],
    secrets: Sequence[secretsmanager.ISecret],
    key: kms.IKey,
    log_group_prefix: str,
    repositories: Sequence[ecr.IRepository],
    bedrock_arns: Sequence[str],
    org_bedrock_arns: Sequence[str] = (),
) -> None:
    """Give every endpoint of ``endpoints`` its policy; raise if one is left without (it would allow everything)."""
    stack = Stack.of(endpoints)
    endpoints.allow("sqs", account_statement(QUEUE_ACTIONS, [q.queue_arn for q in queues], "StackQueues"))
    endpoints.allow(
        "secretsmanager", account_statement(SECRET_ACTIONS, [s.secret_arn for s in secrets], "StackSecrets")
    )
    endpoints.allow(
        "secretsmanager", account_statement(["secretsmanager:GetRandomPassword"], ["*"], "GeneratePasswords")
    )
    endpoints.allow("kms", account_statement(KEY_ACTIONS, [key.key_arn], "StackKey"))
    log_groups = stack.format_arn(
        service="logs",
        resource="log-group",
        resource_name=f"{log_group_prefix}/*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    endpoints.allow("logs", account_statement(LOG_ACTIONS, [log_groups], "StackLogGroups"))
    endpoints.allow("sts", account_statement(["sts:GetCallerIdentity"], ["*"], "CallerIdentity"))
    # Orgs' own Bedrock roles (regiongate.store.provider_credentials.ROLE_PATH), assumed by the gateway.
    org_roles = f"arn:{Aws.PARTITION}:iam::*:role/{ORG_ROLE_PATH}*"
    endpoints.allow("sts", account_statement(["sts:AssumeRole"], [org_roles], "OrgBedrockRoles"))
    endpoints.allow("monitoring", account_statement(["cloudwatch:PutMetricData"], ["*"], "StackMetrics"))
    for service in ("ecr.api", "ecr.dkr"):
        endpoints.allow(service, account_statement(["ecr:GetAuthorizationToken"], ["*"], "RegistryToken"))
        if repositories:
            endpoints.allow(
                service, account_statement(IMAGE_ACTIONS, [r.repository_arn for r in repositories], "StackImages")
            )
    if bedrock_arns:
        endpoints.allow("bedrock-runtime", account_statement(BEDROCK_ACTIONS, bedrock_arns, "ConfiguredModels"))
    if org_bedrock_arns:
        # The same models and profiles, called by an org's assumed role (a principal of the org's account).
        endpoints.allow(
            "bedrock-runtime",
            iam.PolicyStatement(
                sid="ConfiguredModelsOfOrgRoles",
                principals=[iam.AnyPrincipal()],
                actions=list(BEDROCK_ACTIONS),
                resources=list(org_bedrock_arns),
                conditions={"ArnLike": {"aws:PrincipalArn": org_roles}},
            ),
        )
    missing = endpoints.unpoliced()
    if missing:
        raise ValueError(
            f"{stack.stack_name}: VPC endpoints without a policy: {', '.join(missing)}; an endpoint without one allows "
            "every action on every resource of its service. Add the stack's resources in "
            "regiongate.network.endpoint_policies."
        )
