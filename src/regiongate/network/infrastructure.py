"""The region's VPC: public (ALB), private (functions, tasks, VPC endpoints) and isolated (RDS) subnets, with flow
logs, the VPC endpoints and the DNS firewall of its egress plan (``regiongate.network.egress``).

The private subnets route to a NAT gateway only when the plan needs one; otherwise they are isolated like the
database's and the endpoints are the only way to AWS.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from constructs import Construct

from regiongate.network.dns_firewall import DnsFirewall
from regiongate.network.egress import EgressPlan
from regiongate.network.endpoints import ServiceEndpoints
from regiongate.shared_constructs import data_kinds
from regiongate.shared_constructs.log_groups import encrypted_log_group


class Network(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        availability_zones: tuple[str, ...],
        cidr: str,
        nat_gateways: int,
        key: kms.IKey,
        log_retention_days: int,
        log_group_name: str,
        plan: EgressPlan,
        name: str,
        dns_log_group_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.plan = plan
        # Selected by name, so that the functions and tasks land in the same subnets with or without a NAT.
        self.private_subnets = ec2.SubnetSelection(subnet_group_name="private")
        private_type = ec2.SubnetType.PRIVATE_WITH_EGRESS if plan.needs_nat else ec2.SubnetType.PRIVATE_ISOLATED
        # Zones are given, never looked up: synthesis runs offline without credentials.
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(cidr),
            availability_zones=list(availability_zones),
            nat_gateways=min(nat_gateways, len(availability_zones)) if plan.needs_nat else 0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="private", subnet_type=private_type, cidr_mask=20),
                ec2.SubnetConfiguration(name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24),
            ],
            # No custom-resource Lambda to strip the default security group: nothing here uses it.
            restrict_default_security_group=False,
        )
        # The CloudFormation validator CDK runs at synth warns on explicit zones; they are explicit on purpose.
        Validations.of(self.vpc).acknowledge(
            Acknowledgment(
                id="CloudFormation-Validate::W3010",
                reason="Availability zones come from regions.yaml so synthesis never looks them up in an account; "
                "the config loader checks each zone belongs to the region.",
            )
        )
        self.flow_log_group = encrypted_log_group(
            self, "FlowLogs", name=log_group_name, key=key, retention_days=log_retention_days
        )
        data_kinds.mark(self.flow_log_group, data_kinds.NETWORK_FLOW_LOGS)
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )
        self.endpoints: ServiceEndpoints | None = None
        if plan.endpoints:
            self.endpoints = ServiceEndpoints(
                self, "Endpoints", vpc=self.vpc, subnets=self.private_subnets, services=plan.interface_services
            )
        self.dns_firewall = DnsFirewall(
            self,
            "DnsFirewall",
            vpc=self.vpc,
            allowed_domains=plan.allowed_domains(),
            name=name,
            key=key,
            log_group_name=dns_log_group_name,
            log_retention_days=log_retention_days,
        )
