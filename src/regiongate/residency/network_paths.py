"""Every way out of each VPC of a template, and the region it ends in: VPC endpoints, the names its DNS firewall
allows, NAT gateways. Pure Python over the template, like the rules.

The template says where an AWS endpoint or service name ends (the region is in its name). For a DNS-allowed host
outside AWS it cannot: the caller may pass ``host_locations`` (host -> where, from its configuration) and the path
then says so; otherwise it says the template does not show it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from regiongate.residency.model import as_list, get_path, regions_in, render, resources_of
from regiongate.residency.policy import ResidencyPolicy

ENDPOINT = "VPC endpoint"
DNS_ALLOWED = "DNS-allowed host"
NAT = "NAT gateway"
OPEN_EGRESS = {"CidrIp": "0.0.0.0/0", "CidrIpv6": "::/0"}


@dataclass(frozen=True)
class NetworkPath:
    kind: str
    target: str
    ends_in: str
    detail: str = ""


def _ref(value: Any) -> str | None:
    if isinstance(value, Mapping) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref" and isinstance(argument, str):
            return argument
        if function == "Fn::GetAtt":
            return argument.split(".", 1)[0] if isinstance(argument, str) else str(argument[0])
    return None


def _region_of_name(name: str) -> str | None:
    found = regions_in(name)
    return found[0] if found else None


def _endpoint_paths(template: Mapping[str, Any], policy: ResidencyPolicy) -> list[NetworkPath]:
    paths = []
    for resource in resources_of(template):
        if resource.type != "AWS::EC2::VPCEndpoint":
            continue
        service = render(resource.properties.get("ServiceName"), resource, policy)
        kind = str(resource.properties.get("VpcEndpointType") or "Gateway")
        document = resource.properties.get("PolicyDocument")
        statements = as_list(get_path(document, "Statement")) if document else []
        scope = f"policy: {len(statements)} statement(s)" if statements else "no policy: full access to the service"
        paths.append(
            NetworkPath(ENDPOINT, service, _region_of_name(service) or "not shown by the template", f"{kind}; {scope}")
        )
    return sorted(paths, key=lambda p: p.target)


def _allowed_domains(template: Mapping[str, Any]) -> tuple[list[str], bool]:
    """(domains the VPC's DNS firewall allows, whether a rule group blocks ``*`` after them)."""
    resources = template.get("Resources") or {}
    allowed: list[str] = []
    blocks = False
    for body in resources.values():
        if body.get("Type") != "AWS::Route53Resolver::FirewallRuleGroupAssociation":
            continue
        group = resources.get(_ref(get_path(body, "Properties", "FirewallRuleGroupId")) or "")
        for rule in as_list(get_path(group, "Properties", "FirewallRules")) if group else []:
            if not isinstance(rule, Mapping):
                continue
            domain_list = resources.get(_ref(rule.get("FirewallDomainListId")) or "") or {}
            domains = [str(d) for d in as_list(get_path(domain_list, "Properties", "Domains"))]
            if rule.get("Action") == "ALLOW":
                allowed += [d for d in domains if d not in allowed]
            elif rule.get("Action") == "BLOCK" and "*" in domains:
                blocks = True
    return allowed, blocks


def _open_groups(template: Mapping[str, Any]) -> list[str]:
    """Logical ids of the security groups with egress to the whole internet."""
    resources = template.get("Resources") or {}
    groups: set[str] = set()
    for logical_id, body in resources.items():
        properties = body.get("Properties") or {}
        if body.get("Type") == "AWS::EC2::SecurityGroup":
            rules = as_list(properties.get("SecurityGroupEgress"))
            if any(isinstance(r, Mapping) and r.get(k) == v for r in rules for k, v in OPEN_EGRESS.items()):
                groups.add(logical_id)
        elif body.get("Type") == "AWS::EC2::SecurityGroupEgress":
            if any(properties.get(k) == v for k, v in OPEN_EGRESS.items()):
                groups.add(_ref(properties.get("GroupId")) or logical_id)
    return sorted(groups)


def network_paths(
    template: Mapping[str, Any], policy: ResidencyPolicy, host_locations: Mapping[str, str] | None = None
) -> list[NetworkPath]:
    """Every way out of the template's VPCs (see the module docstring)."""
    host_locations = host_locations or {}
    paths = _endpoint_paths(template, policy)
    allowed, blocks = _allowed_domains(template)
    for domain in allowed:
        region = _region_of_name(domain)
        if region:
            ends_in, detail = region, "AWS service name"
        elif domain in host_locations:
            ends_in, detail = host_locations[domain], "outside AWS, through the NAT; where from the configuration"
        else:
            ends_in, detail = "not shown by the template (outside AWS)", "through the NAT"
        paths.append(NetworkPath(DNS_ALLOWED, domain, ends_in, detail))
    nats = [r for r in resources_of(template) if r.type == "AWS::EC2::NatGateway"]
    open_groups = _open_groups(template)
    if nats:
        if not open_groups:
            reach = "no security group has egress to the internet"
        elif allowed and blocks:
            reach = (
                f"security groups {', '.join(open_groups)} reach 0.0.0.0/0; the DNS firewall resolves only the "
                "DNS-allowed hosts above and blocks every other name"
            )
        else:
            reach = (
                f"security groups {', '.join(open_groups)} reach 0.0.0.0/0 and no DNS firewall blocks other names: "
                "any host, in any country (only the security groups limit it)"
            )
        paths.append(
            NetworkPath(NAT, f"{len(nats)} NAT gateway(s)", f"{policy.home_region} (then the internet)", reach)
        )
    return paths
