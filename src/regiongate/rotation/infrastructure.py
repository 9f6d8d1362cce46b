"""Automatic rotation of the audit store's admin secret by a function of our own, in the region's VPC.

CDK's ``add_rotation_single_user()`` deploys a Serverless Application Repository app whose template
mappings name us-east-1 and aws-cn ARNs in every template; this function is our own code instead
(``regiongate.rotation.runtime.handler``), from the same asset and layers as the other functions.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from regiongate.shared_constructs.invoke_permissions import confine_service_invocations
from regiongate.shared_constructs.lambda_defaults import LambdaDefaults
from regiongate.shared_constructs.nag import acknowledge

ROTATION_HANDLER = "regiongate.rotation.runtime.handler.handle"
ROTATION_TIMEOUT = Duration.seconds(60)


class SecretRotation(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        lambdas: LambdaDefaults,
        secret: secretsmanager.ISecret,
        secret_attachment: secretsmanager.ISecret,
        database_security_group: ec2.ISecurityGroup,
        database_port: int,
        environment: dict[str, str],
        rotate_after: Duration,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "FunctionSecurityGroup",
            vpc=lambdas.vpc,
            description="regiongate audit store secret rotation",
            allow_all_outbound=False,
        )
        self.function = lambdas.function(
            self,
            "Function",
            log_name="audit-store-rotation",
            handler=ROTATION_HANDLER,
            description="Rotates the audit store's admin password (Secrets Manager single-user rotation, PostgreSQL)",
            memory_mb=256,
            timeout=ROTATION_TIMEOUT,
            # Where to sign in; the credentials come from the secret version named in each event.
            environment=environment,
            security_group=self.security_group,
        )
        database_security_group.add_ingress_rule(
            self.security_group, ec2.Port.tcp(database_port), "PostgreSQL from the secret rotation function"
        )
        self.security_group.add_egress_rule(
            database_security_group, ec2.Port.tcp(database_port), "PostgreSQL audit store (ALTER USER)"
        )
        # HTTPS to Secrets Manager (its VPC endpoint, or the NAT without endpoints) is wired by the stack.
        # CDK grants what rotation needs: Secrets Manager may invoke the function; the function may describe,
        # read, put and restage versions of this one secret, use the stack key through Secrets Manager, and
        # call secretsmanager:GetRandomPassword.
        self.schedule = secret.add_rotation_schedule(
            "RotationSchedule", rotation_lambda=self.function, automatically_after=rotate_after
        )
        # The first rotation runs as soon as the schedule exists: the network path must be open by then, and the
        # attachment to the instance (which writes a version of the secret itself) must be done.
        self.schedule.node.add_dependency(self.security_group, database_security_group, secret_attachment)
        # Secrets Manager may invoke the function for this secret only, in this account.
        confine_service_invocations(
            self.function, principal="secretsmanager.amazonaws.com", source_arn=secret.secret_arn
        )
        # CDK adds the GetRandomPassword statement as a policy of its own under the function.
        acknowledge(
            self.function,
            "AwsSolutions-IAM5[Resource::*]",
            "secretsmanager:GetRandomPassword has no resource-level permissions (it generates a string and reads no "
            "secret); every other statement names this one secret or this function's own resources.",
        )
