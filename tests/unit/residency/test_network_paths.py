"""The network paths of a template, from its resources alone (no CDK)."""

from __future__ import annotations

from regiongate.residency.network_paths import DNS_ALLOWED, ENDPOINT, NAT, network_paths
from regiongate.residency.policy import ResidencyPolicy

EU = ResidencyPolicy(
    home_region="eu-central-1", geography="EU", partition="aws", inference_regions=("eu-central-1",), account="1" * 12
)


def template(*, firewall: bool) -> dict:
    resources = {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {}},
        "Nat": {"Type": "AWS::EC2::NatGateway", "Properties": {}},
        "Functions": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "VpcId": {"Ref": "Vpc"},
                "SecurityGroupEgress": [{"CidrIp": "0.0.0.0/0", "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443}],
            },
        },
        "Sqs": {
            "Type": "AWS::EC2::VPCEndpoint",
            "Properties": {
                "ServiceName": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".sqs"]]},
                "VpcEndpointType": "Interface",
                "VpcId": {"Ref": "Vpc"},
            },
        },
    }
    if firewall:
        resources |= {
            "Allowed": {
                "Type": "AWS::Route53Resolver::FirewallDomainList",
                "Properties": {"Domains": ["*.eu-central-1.amazonaws.com", "api.example.com", "other.example.net"]},
            },
            "All": {"Type": "AWS::Route53Resolver::FirewallDomainList", "Properties": {"Domains": ["*"]}},
            "Rules": {
                "Type": "AWS::Route53Resolver::FirewallRuleGroup",
                "Properties": {
                    "FirewallRules": [
                        {"Action": "ALLOW", "Priority": 1, "FirewallDomainListId": {"Fn::GetAtt": ["Allowed", "Id"]}},
                        {"Action": "BLOCK", "Priority": 2, "FirewallDomainListId": {"Fn::GetAtt": ["All", "Id"]}},
                    ]
                },
            },
            "Association": {
                "Type": "AWS::Route53Resolver::FirewallRuleGroupAssociation",
                "Properties": {"FirewallRuleGroupId": {"Fn::GetAtt": ["Rules", "Id"]}, "VpcId": {"Ref": "Vpc"}},
            },
        }
    return {"Resources": resources}


def test_endpoint_allowed_names_and_nat_with_where_each_ends():
    paths = network_paths(template(firewall=True), EU, {"api.example.com": "Example Cloud, Frankfurt"})
    assert [(p.kind, p.target, p.ends_in) for p in paths] == [
        (ENDPOINT, "com.amazonaws.eu-central-1.sqs", "eu-central-1"),
        (DNS_ALLOWED, "*.eu-central-1.amazonaws.com", "eu-central-1"),
        (DNS_ALLOWED, "api.example.com", "Example Cloud, Frankfurt"),
        (DNS_ALLOWED, "other.example.net", "not shown by the template (outside AWS)"),
        (NAT, "1 NAT gateway(s)", "eu-central-1 (then the internet)"),
    ]
    assert paths[0].detail == "Interface; no policy: full access to the service"
    assert "security groups Functions reach 0.0.0.0/0; the DNS firewall resolves only" in paths[-1].detail


def test_open_egress_without_a_firewall_is_said_to_reach_any_host():
    (nat,) = [p for p in network_paths(template(firewall=False), EU) if p.kind == NAT]
    assert "no DNS firewall blocks other names: any host, in any country" in nat.detail


def test_a_template_without_a_vpc_has_no_paths():
    assert network_paths({"Resources": {}}, EU) == []
