"""VPC endpoints for the AWS APIs a stack calls, in its home region, each with a policy naming the stack's own
resources (``regiongate.network.egress`` decides which services).

Every interface endpoint sits in the private subnets the functions and tasks run in, behind one security group that
accepts 443 only from the clients given to :meth:`ServiceEndpoints.allow_from`. An endpoint's policy starts empty and
the stack adds what each service may do with :meth:`ServiceEndpoints.allow`; :meth:`ServiceEndpoints.unpoliced`
names any endpoint still without a statement (the stack refuses to synthesize one: an endpoint without a policy
allows every action on every resource of the service, including other accounts').
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

HTTPS = 443


def _construct_id(service: str) -> str:
    return "".join(part.capitalize() for part in service.replace("-", ".").split("."))


def account_statement(actions: Sequence[str], resources: Sequence[str], sid: str) -> iam.PolicyStatement:
    """``actions`` on ``resources`` for principals of the stack's own account only."""
    return iam.PolicyStatement(
        sid=sid,
        principals=[iam.AnyPrincipal()],
        actions=list(actions),
        resources=list(resources),
        conditions={"StringEquals": {"aws:PrincipalAccount": Aws.ACCOUNT_ID}},
    )


class ServiceEndpoints(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        services: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="regiongate VPC endpoints: HTTPS from this stack functions and tasks only",
            allow_all_outbound=False,
        )
        self.interface: dict[str, ec2.InterfaceVpcEndpoint] = {}
        self._policied: set[str] = set()
        for service in services:
            self.interface[service] = ec2.InterfaceVpcEndpoint(
                self,
                _construct_id(service),
                vpc=vpc,
                # CDK names the service for the stack's region and partition (cn.com.amazonaws.… where China does).
                service=ec2.InterfaceVpcEndpointAwsService(service),
                subnets=subnets,
                security_groups=[self.security_group],
                private_dns_enabled=True,
                open=False,
            )
        # Gateway endpoints are free and route by prefix list; only ECR image layers are read from S3.
        self.s3 = ec2.GatewayVpcEndpoint(
            self, "S3", vpc=vpc, service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[subnets]
        )
        stack = Stack.of(self)
        self.s3.add_to_policy(
            account_statement(
                ["s3:GetObject"],
                [f"arn:{stack.partition}:s3:::prod-{stack.region}-starport-layer-bucket/*"],
                "EcrImageLayersOfThisRegion",
            )
        )

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(self.interface)

    def allow_from(self, client: ec2.ISecurityGroup, description: str) -> None:
        """``client`` may reach every endpoint on 443 (and only the endpoints, for AWS APIs)."""
        self.security_group.add_ingress_rule(client, ec2.Port.tcp(HTTPS), f"HTTPS from {description}")
        client.add_egress_rule(self.security_group, ec2.Port.tcp(HTTPS), "HTTPS to this stack VPC endpoints")

    def allow(self, service: str, statement: iam.PolicyStatement) -> None:
        """Add ``statement`` to ``service``'s endpoint policy (nothing when the stack has no endpoint for it)."""
        endpoint = self.interface.get(service)
        if endpoint is None:
            return
        endpoint.add_to_policy(statement)
        self._policied.add(service)

    def unpoliced(self) -> list[str]:
        return [service for service in self.interface if service not in self._policied]
