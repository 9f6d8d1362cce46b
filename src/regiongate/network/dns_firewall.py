"""Route 53 Resolver DNS Firewall on the region's VPC: resolve only the allowed names, block every other one.

The rule group has two rules: ALLOW the domains of :meth:`regiongate.network.egress.EgressPlan.allowed_domains`
(the home region's AWS service names and the configured provider hosts), then BLOCK ``*`` with NXDOMAIN. The
allow rule trusts the CNAME chain of an allowed name (an Azure OpenAI host answers with CNAMEs under Microsoft's
own zones, which would otherwise be inspected and blocked). Every query the VPC makes is logged to an in-region log
group encrypted with the stack key. DNS Firewall exists in every partition regiongate ships to, China included
(Route 53 Developer Guide, "Region availability for Resolver DNS Firewall", lists Beijing and Ningxia).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_route53resolver as resolver
from constructs import Construct

from regiongate.shared_constructs import data_kinds
from regiongate.shared_constructs.log_groups import encrypted_log_group

ALLOW_PRIORITY = 100
BLOCK_PRIORITY = 200
# Associations take priorities 101-9900; ours is the only one the stack creates.
ASSOCIATION_PRIORITY = 101


class DnsFirewall(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        allowed_domains: Sequence[str],
        name: str,
        key: kms.IKey,
        log_group_name: str,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.allowed_domains = tuple(allowed_domains)
        self.allowed = resolver.CfnFirewallDomainList(
            self, "Allowed", name=f"{name}-allowed", domains=list(self.allowed_domains)
        )
        self.everything = resolver.CfnFirewallDomainList(self, "Everything", name=f"{name}-everything", domains=["*"])
        self.rule_group = resolver.CfnFirewallRuleGroup(
            self,
            "RuleGroup",
            name=f"{name}-egress",
            firewall_rules=[
                resolver.CfnFirewallRuleGroup.FirewallRuleProperty(
                    action="ALLOW",
                    priority=ALLOW_PRIORITY,
                    firewall_domain_list_id=self.allowed.attr_id,
                    firewall_domain_redirection_action="TRUST_REDIRECTION_DOMAIN",
                ),
                resolver.CfnFirewallRuleGroup.FirewallRuleProperty(
                    action="BLOCK",
                    priority=BLOCK_PRIORITY,
                    firewall_domain_list_id=self.everything.attr_id,
                    block_response="NXDOMAIN",
                ),
            ],
        )
        self.association = resolver.CfnFirewallRuleGroupAssociation(
            self,
            "Association",
            firewall_rule_group_id=self.rule_group.attr_id,
            vpc_id=vpc.vpc_id,
            priority=ASSOCIATION_PRIORITY,
            name=f"{name}-egress",
            mutation_protection="ENABLED",
        )
        self.query_log_group = encrypted_log_group(
            self, "QueryLogs", name=log_group_name, key=key, retention_days=log_retention_days
        )
        data_kinds.mark(self.query_log_group, data_kinds.DNS_QUERY_LOGS)
        self.query_logging = resolver.CfnResolverQueryLoggingConfig(
            self, "QueryLogging", name=f"{name}-queries", destination_arn=self.query_log_group.log_group_arn
        )
        resolver.CfnResolverQueryLoggingConfigAssociation(
            self,
            "QueryLoggingAssociation",
            resolver_query_log_config_id=self.query_logging.attr_id,
            resource_id=vpc.vpc_id,
        )
