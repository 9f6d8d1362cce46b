"""One place for the defaults every regiongate Lambda function shares."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.components.logs import encrypted_log_group

# Newest Python runtime available in every region we ship (China lags the commercial regions).
RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}


@dataclass(frozen=True)
class LambdaDefaults:
    """What every function of one stack shares: code, layers, network, key and sizing."""

    code: lambda_.Code
    layers: tuple[lambda_.ILayerVersion, ...]
    vpc: ec2.IVpc
    key: kms.IKey
    architecture: str
    log_retention_days: int

    def function(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        description: str,
        memory_mb: int,
        timeout: Duration,
        environment: dict[str, str],
        security_group: ec2.ISecurityGroup,
        reserved_concurrency: int | None = None,
    ) -> lambda_.Function:
        log_group = encrypted_log_group(
            scope, f"{construct_id}Logs", key=self.key, retention_days=self.log_retention_days
        )
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
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            security_groups=[security_group],
            reserved_concurrent_executions=reserved_concurrency,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
        )
