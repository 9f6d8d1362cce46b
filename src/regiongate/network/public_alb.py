"""The internet-facing HTTPS load balancer both the gateway and the console sit behind."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_s3 as s3
from constructs import Construct

from regiongate.shared_constructs.nag import acknowledge


@dataclass(frozen=True)
class PublicLoadBalancer:
    load_balancer: elbv2.ApplicationLoadBalancer
    security_group: ec2.SecurityGroup
    https_listener: elbv2.ApplicationListener


def public_https_load_balancer(
    scope: Construct,
    *,
    vpc: ec2.IVpc,
    purpose: str,
    certificate_arn: str,
    access_logs: s3.IBucket,
    access_log_prefix: str,
    idle_timeout: Duration | None = None,
) -> PublicLoadBalancer:
    """HTTPS on 443 with the region's certificate and a TLS 1.3 policy, 80 redirecting to 443, invalid headers
    dropped, access logs to the in-region bucket. Targets are added by the caller to ``https_listener``."""
    security_group = ec2.SecurityGroup(
        scope, "LoadBalancerSecurityGroup", vpc=vpc, description=f"regiongate {purpose} ALB", allow_all_outbound=False
    )
    security_group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), f"HTTPS to the {purpose}")
    security_group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(80), "HTTP, redirected to HTTPS")
    acknowledge(
        security_group,
        "AwsSolutions-EC23",
        f"The {purpose} ALB is a public endpoint: clients connect from anywhere on 443 (port 80 only redirects to 443).",
    )
    load_balancer = elbv2.ApplicationLoadBalancer(
        scope,
        "LoadBalancer",
        vpc=vpc,
        internet_facing=True,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
        security_group=security_group,
        drop_invalid_header_fields=True,
        idle_timeout=idle_timeout,
        # The stack has termination protection; the load balancer (and the DNS names pointing at it) too.
        deletion_protection=True,
    )
    load_balancer.log_access_logs(access_logs, prefix=access_log_prefix)
    https = load_balancer.add_listener(
        "Https",
        port=443,
        protocol=elbv2.ApplicationProtocol.HTTPS,
        certificates=[elbv2.ListenerCertificate.from_arn(certificate_arn)],
        ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
        open=False,
    )
    load_balancer.add_redirect(source_port=80, target_port=443, open=False)
    return PublicLoadBalancer(load_balancer, security_group, https)
