"""Security group egress to the whole internet only from a VPC whose DNS firewall blocks every name it does not allow.

An egress rule to 0.0.0.0/0 (or ::/0) lets code reach any host in any country; with a Route 53 Resolver DNS
Firewall associated with the VPC and a rule group that ends in BLOCK ``*``, it resolves only the allowed names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from regiongate.residency.model import NOT_APPLICABLE, Detail, Resource, RuleResult, as_list, get_path, verdict
from regiongate.residency.policy import ResidencyPolicy

OPEN = {"CidrIp": "0.0.0.0/0", "CidrIpv6": "::/0"}


def _target(value: Any) -> str | None:
    """The logical id a ``Ref`` / ``Fn::GetAtt`` points at."""
    if isinstance(value, Mapping) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref" and isinstance(argument, str):
            return argument
        if function == "Fn::GetAtt":
            return argument.split(".", 1)[0] if isinstance(argument, str) else str(argument[0])
    return None


def _blocks_the_rest(rule_group: Mapping[str, Any], resource: Resource) -> bool:
    """Whether the rule group has a BLOCK rule on a domain list of the same template that holds ``*``."""
    for rule in as_list(get_path(rule_group, "Properties", "FirewallRules")):
        if not isinstance(rule, Mapping) or rule.get("Action") != "BLOCK":
            continue
        target = _target(rule.get("FirewallDomainListId"))
        domain_list = resource.other(target) if target else None
        if domain_list and "*" in as_list(get_path(domain_list, "Properties", "Domains")):
            return True
    return False


def _firewalled(vpc_id: Any, resource: Resource) -> str | None:
    """``None`` when the VPC has a blocking DNS firewall in the template, else what is missing."""
    if vpc_id is None:
        return "its VPC is unknown"
    associations = [
        body
        for body in (resource.template.get("Resources") or {}).values()
        if body.get("Type") == "AWS::Route53Resolver::FirewallRuleGroupAssociation"
        and get_path(body, "Properties", "VpcId") == vpc_id
    ]
    if not associations:
        return "no Route 53 Resolver DNS Firewall rule group is associated with its VPC in this template"
    for association in associations:
        target = _target(get_path(association, "Properties", "FirewallRuleGroupId"))
        group = resource.other(target) if target else None
        if group and _blocks_the_rest(group, resource):
            return None
    return "the DNS firewall associated with its VPC has no BLOCK rule on '*' (it would resolve any name)"


def _open_rules(rules: list[Any], path: str) -> list[tuple[str, str]]:
    found = []
    for index, rule in enumerate(rules):
        if not isinstance(rule, Mapping):
            continue
        for key, cidr in OPEN.items():
            if rule.get(key) == cidr:
                found.append((f"{path}/{index}/{key}" if path else key, cidr))
    return found


def check(resource: Resource, policy: ResidencyPolicy) -> RuleResult:
    if resource.type == "AWS::EC2::SecurityGroup":
        open_rules = _open_rules(
            as_list(resource.properties.get("SecurityGroupEgress")), "Properties/SecurityGroupEgress"
        )
        vpc_id = resource.properties.get("VpcId")
    elif resource.type == "AWS::EC2::SecurityGroupEgress":
        open_rules = [(f"Properties/{location}", cidr) for location, cidr in _open_rules([resource.properties], "")]
        group = _target(resource.properties.get("GroupId"))
        owner = resource.other(group) if group else None
        vpc_id = get_path(owner, "Properties", "VpcId") if owner else None
    else:
        return NOT_APPLICABLE
    if not open_rules:
        return verdict([])
    missing = _firewalled(vpc_id, resource)
    if missing is None:
        return verdict([])
    return verdict([Detail(location, f"egress to {cidr}, but {missing}") for location, cidr in open_rules])
