"""One place for the defaults every regiongate Lambda function shares."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from regiongate.shared_constructs import data_kinds
from regiongate.shared_constructs.log_groups import encrypted_log_group
from regiongate.shared_constructs.nag import acknowledge

# Newest Python runtime available in every region we ship (China lags the commercial regions).
RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}


# Lambda creates and removes the function's network interfaces with the execution role; EC2 does not
# support resource-level permissions for these actions.
VPC_NETWORKING_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
]


def execution_role(scope: Construct, construct_id: str, *, log_group_name: str) -> iam.Role:
    """A role that may write only to its own log group and manage its VPC interfaces (no managed policies)."""
    # The ARN is built from the name, not taken from the log group: the key policy already refers to this
    # role (secret grants), and the log group to the key, so a reference back would be a cycle.
    log_group_arn = Stack.of(scope).format_arn(
        service="logs",
        resource="log-group",
        resource_name=f"{log_group_name}:*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    role = iam.Role(
        scope,
        construct_id,
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description="regiongate function execution role",
        inline_policies={
            "Execution": iam.PolicyDocument(
                statements=[
                    iam.PolicyStatement(
                        sid="WriteOwnLogGroup",
                        actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                        resources=[log_group_arn],
                    ),
                    iam.PolicyStatement(sid="VpcNetworking", actions=VPC_NETWORKING_ACTIONS, resources=["*"]),
                ]
            )
        },
    )
    acknowledge(
        role,
        f"AwsSolutions-IAM5[Resource::{Stack.of(scope).resolve(log_group_arn)}]",
        "Log streams are created by Lambda with generated names; the wildcard is limited to the function's own "
        "log group.",
    )
    acknowledge(
        role,
        "AwsSolutions-IAM5[Resource::*]",
        "Lambda VPC networking (ec2:CreateNetworkInterface and friends) has no resource-level permissions.",
    )
    return role


@dataclass(frozen=True)
class LambdaDefaults:
    """What every function of one stack shares: code, layers, network, key and sizing."""

    code: lambda_.Code
    layers: tuple[lambda_.ILayerVersion, ...]
    vpc: ec2.IVpc
    key: kms.IKey
    architecture: str
    log_retention_days: int
    # Log groups are named <prefix>/<function name>, e.g. /regiongate/eu/gateway.
    log_group_prefix: str

    def function(
        self,
        scope: Construct,
        construct_id: str,
        *,
        log_name: str,
        handler: str,
        description: str,
        memory_mb: int,
        timeout: Duration,
        environment: dict[str, str],
        security_group: ec2.ISecurityGroup,
        reserved_concurrency: int | None = None,
    ) -> lambda_.Function:
        log_group_name = f"{self.log_group_prefix}/{log_name}"
        log_group = encrypted_log_group(
            scope, f"{construct_id}Logs", name=log_group_name, key=self.key, retention_days=self.log_retention_days
        )
        data_kinds.mark(log_group, data_kinds.FUNCTION_LOGS)
        role = execution_role(scope, f"{construct_id}Role", log_group_name=log_group_name)
        return lambda_.Function(
            scope,
            construct_id,
            runtime=RUNTIME,
            architecture=ARCHITECTURES[self.architecture],
            code=self.code,
            handler=handler,
            description=description,
            layers=list(self.layers),
            memory_size=memory_mb,
            timeout=timeout,
            # Only non-secret configuration: secrets are fetched from Secrets Manager at run time.
            environment=environment,
            environment_encryption=self.key,
            vpc=self.vpc,
            # The private subnets (regiongate.network): isolated, or routed to the NAT when the region needs it.
            vpc_subnets=ec2.SubnetSelection(subnet_group_name="private"),
            security_groups=[security_group],
            reserved_concurrent_executions=reserved_concurrency,
            role=role,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
        )
