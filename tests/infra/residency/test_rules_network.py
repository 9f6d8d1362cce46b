"""Network rules: open egress only behind a blocking DNS firewall; Bedrock runtime hosts of inference regions."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_route53resolver as resolver

from regiongate.residency.rules import egress_behind_dns_firewall, no_foreign_region_literals
from tests.fixtures.residency import EU, failing, passing, synth


def _vpc(stack) -> ec2.Vpc:
    return ec2.Vpc(
        stack,
        "Vpc",
        availability_zones=["eu-central-1a", "eu-central-1b"],
        nat_gateways=1,
        restrict_default_security_group=False,
    )


def _open_group(stack, vpc, *, inline: bool) -> None:
    group = ec2.SecurityGroup(stack, "Functions", vpc=vpc, allow_all_outbound=False)
    if inline:
        group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "https anywhere")
    else:
        ec2.CfnSecurityGroupEgress(
            stack,
            "Anywhere",
            group_id=group.security_group_id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ip="0.0.0.0/0",
        )


def _firewall(stack, vpc, *, block_the_rest: bool) -> None:
    allowed = resolver.CfnFirewallDomainList(stack, "Allowed", name="allowed", domains=["api.example.com"])
    everything = resolver.CfnFirewallDomainList(stack, "Everything", name="everything", domains=["*"])
    rules = [
        resolver.CfnFirewallRuleGroup.FirewallRuleProperty(
            action="ALLOW", priority=100, firewall_domain_list_id=allowed.attr_id
        )
    ]
    rules.append(
        resolver.CfnFirewallRuleGroup.FirewallRuleProperty(
            action="BLOCK" if block_the_rest else "ALERT",
            priority=200,
            firewall_domain_list_id=everything.attr_id,
            block_response="NXDOMAIN" if block_the_rest else None,
        )
    )
    group = resolver.CfnFirewallRuleGroup(stack, "Rules", firewall_rules=rules)
    resolver.CfnFirewallRuleGroupAssociation(
        stack, "Association", firewall_rule_group_id=group.attr_id, vpc_id=vpc.vpc_id, priority=101
    )


def test_open_egress_without_a_dns_firewall_fails():
    def build(stack):
        _open_group(stack, _vpc(stack), inline=True)

    details = failing(egress_behind_dns_firewall.check, synth(build), EU, "AWS::EC2::SecurityGroup")
    assert "Properties/SecurityGroupEgress/0/CidrIp: egress to 0.0.0.0/0" in details
    assert "no Route 53 Resolver DNS Firewall rule group is associated with its VPC" in details


def test_open_egress_rule_resource_behind_a_firewall_that_only_alerts_fails():
    def build(stack):
        vpc = _vpc(stack)
        _open_group(stack, vpc, inline=False)
        _firewall(stack, vpc, block_the_rest=False)

    details = failing(egress_behind_dns_firewall.check, synth(build), EU, "AWS::EC2::SecurityGroupEgress")
    assert "has no BLOCK rule on '*'" in details


def test_open_egress_behind_a_blocking_dns_firewall_passes():
    def build(stack):
        vpc = _vpc(stack)
        _open_group(stack, vpc, inline=True)
        _firewall(stack, vpc, block_the_rest=True)

    template = synth(build)
    passing(egress_behind_dns_firewall.check, template, EU, "AWS::EC2::SecurityGroup")


def test_bedrock_runtime_host_of_an_inference_region_passes_and_of_another_region_fails():
    def build_allowed(stack):
        resolver.CfnFirewallDomainList(
            stack,
            "Allowed",
            name="a",
            domains=["*.eu-central-1.amazonaws.com", "bedrock-runtime.eu-west-1.amazonaws.com"],
        )

    def build_foreign(stack):
        resolver.CfnFirewallDomainList(
            stack,
            "Allowed",
            name="a",
            domains=["bedrock-runtime.us-east-1.amazonaws.com", "sqs.eu-west-1.amazonaws.com"],
        )

    passing(no_foreign_region_literals.check, synth(build_allowed), EU, "AWS::Route53Resolver::FirewallDomainList")
    details = failing(
        no_foreign_region_literals.check, synth(build_foreign), EU, "AWS::Route53Resolver::FirewallDomainList"
    )
    assert "us-east-1 (a foreign region)" in details
    assert "eu-west-1 (an allowed inference region, but outside Bedrock permissions/settings)" in details
