"""Every way out of each region's VPC: endpoints with the stack's own resources in their policies, a DNS firewall
that allows only the configured names, HTTPS to the internet only from the gateway and only when a provider needs it,
no NAT gateway where nothing needs one."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from regiongate.config.gateway import deployment_runtime
from regiongate.config.regions import load_catalogue
from regiongate.infra.app import cdk_json_context
from regiongate.infra.region_stack import RegionStack
from regiongate.network.egress import egress_plan
from regiongate.residency.engine import evaluate_template
from regiongate.residency.network_paths import DNS_ALLOWED, ENDPOINT, NAT, network_paths
from regiongate.residency.policy import ResidencyPolicy
from tests.fixtures.synth import STACK_NAMES, SYNTHESIZED_STACKS

OPEN = "0.0.0.0/0"


def resources(template: dict, type_name: str) -> dict:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_name}


def group_id(template: dict, prefix: str) -> str:
    (found,) = [k for k in resources(template, "AWS::EC2::SecurityGroup") if k.startswith(prefix)]
    return found


def egress_of(template: dict, group: str) -> list[tuple[str, int]]:
    """(destination, port) of every egress rule of ``group``: inline CIDR rules and separate SG-to-SG rules."""
    properties = template["Resources"][group]["Properties"]
    rules = [(r["CidrIp"], r["FromPort"]) for r in properties.get("SecurityGroupEgress", [])]
    rules += [
        (r["Properties"]["DestinationSecurityGroupId"]["Fn::GetAtt"][0], r["Properties"]["FromPort"])
        for r in resources(template, "AWS::EC2::SecurityGroupEgress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [group, "GroupId"]}
    ]
    # CDK's placeholder for "no egress" on a group without rules.
    return sorted(rule for rule in rules if rule[0] != "255.255.255.255/32")


def service_names(template: dict) -> dict[str, dict]:
    return {
        v["Properties"]["ServiceName"]: v["Properties"]
        for v in resources(template, "AWS::EC2::VPCEndpoint").values()
        if isinstance(v["Properties"]["ServiceName"], str)
    }


# --- endpoints ------------------------------------------------------------------------------------------------


def test_an_interface_endpoint_per_aws_api_in_the_home_region(each_stack):
    region, template = each_stack.region, each_stack.template_json
    expected = {"sqs", "secretsmanager", "kms", "logs", "sts", "monitoring"}
    if region.console or deployment_runtime(region).container:
        expected |= {"ecr.api", "ecr.dkr"}
    if region.partition == "aws":
        expected.add("bedrock-runtime")
    names = service_names(template)
    assert {name.rsplit(f"{region.aws_region}.", 1)[1] for name in names} == expected
    for name, endpoint in names.items():
        assert f".{region.aws_region}." in name
        assert endpoint["VpcEndpointType"] == "Interface" and endpoint["PrivateDnsEnabled"] is True
        (group,) = endpoint["SecurityGroupIds"]
        assert group["Fn::GetAtt"][0].startswith("NetworkEndpointsSecurityGroup")


def test_china_names_its_endpoints_the_china_way_and_has_no_bedrock(synthesized):
    names = service_names(synthesized["Cn"].template_json)
    assert "cn.com.amazonaws.cn-north-1.sqs" in names and "cn.com.amazonaws.cn-north-1.ecr.dkr" in names
    assert not [n for n in names if "bedrock" in n]
    assert "bedrock" not in str(resources(synthesized["Cn"].template_json, "AWS::Route53Resolver::FirewallDomainList"))


def test_every_endpoint_policy_is_limited_to_the_stack_account_and_its_own_resources(each_stack):
    template = each_stack.template_json
    endpoints = resources(template, "AWS::EC2::VPCEndpoint")
    assert len(endpoints) == len(egress_plan(each_stack.region).interface_services) + 1  # + the S3 gateway
    for logical_id, endpoint in endpoints.items():
        statements = endpoint["Properties"]["PolicyDocument"]["Statement"]
        assert statements, f"{logical_id}: an endpoint without a policy allows everything"
        for statement in statements:
            assert statement["Effect"] == "Allow"
            if statement.get("Sid") == "ConfiguredModelsOfOrgRoles":
                # An org's own Bedrock role (its account, the org-role path only) may call the stack's configured
                # models through this endpoint: the same models and regions as the stack's own statement.
                assert logical_id.startswith("NetworkEndpointsBedrockRuntime")
                assert statement["Principal"] == {"AWS": "*"}
                assert statement["Condition"] == {
                    "ArnLike": {
                        "aws:PrincipalArn": {
                            "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::*:role/regiongate/*"]]
                        }
                    }
                }
                (own,) = [s for s in statements if s.get("Sid") == "ConfiguredModels"]
                assert json.dumps(statement["Resource"]).count(":bedrock:") == json.dumps(own["Resource"]).count(
                    ":bedrock:"
                )
                continue
            assert statement["Condition"] == {"StringEquals": {"aws:PrincipalAccount": {"Ref": "AWS::AccountId"}}}
            wildcard = statement["Resource"] == "*"
            assert not wildcard or statement["Action"] in (
                "secretsmanager:GetRandomPassword",
                "ecr:GetAuthorizationToken",
                "sts:GetCallerIdentity",
                "cloudwatch:PutMetricData",
            ), f"{logical_id}: {statement['Action']} on *"


def test_endpoint_policies_name_the_queues_secrets_key_and_models_of_the_stack(each_stack):
    template, region = each_stack.template_json, each_stack.region

    def policy(service: str) -> list[dict]:
        (endpoint,) = [v for n, v in service_names(template).items() if n.endswith(f".{region.aws_region}.{service}")]
        return endpoint["PolicyDocument"]["Statement"]

    (queues,) = policy("sqs")
    assert sorted(r["Fn::GetAtt"][0] for r in queues["Resource"]) == sorted(resources(template, "AWS::SQS::Queue"))
    secrets = next(s for s in policy("secretsmanager") if s["Sid"] == "StackSecrets")
    assert sorted(r["Ref"] for r in secrets["Resource"]) == sorted(
        k for k in resources(template, "AWS::SecretsManager::Secret")
    )
    (key,) = policy("kms")
    assert key["Resource"]["Fn::GetAtt"][0] == next(iter(resources(template, "AWS::KMS::Key")))
    (logs,) = policy("logs")
    assert logs["Resource"].endswith(f":log-group:/regiongate/{region.deployment_id}/*")
    if region.partition == "aws":
        statements = {s["Sid"]: s for s in policy("bedrock-runtime")}
        assert sorted(statements) == ["ConfiguredModels", "ConfiguredModelsOfOrgRoles"]
        for models in statements.values():
            assert models["Action"] == ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
            arns = models["Resource"] if isinstance(models["Resource"], list) else [models["Resource"]]
            assert arns and all(":bedrock:" in str(arn) for arn in arns)


def test_s3_gateway_endpoint_reads_only_the_region_ecr_layer_bucket(each_stack):
    region = each_stack.region
    (gateway,) = [
        v["Properties"]
        for v in resources(each_stack.template_json, "AWS::EC2::VPCEndpoint").values()
        if v["Properties"].get("VpcEndpointType", "Gateway") == "Gateway"
    ]
    (statement,) = gateway["PolicyDocument"]["Statement"]
    assert statement["Action"] == "s3:GetObject"
    assert statement["Resource"] == f"arn:{region.partition}:s3:::prod-{region.aws_region}-starport-layer-bucket/*"


# --- security groups ----------------------------------------------------------------------------------------------


def test_only_the_gateway_reaches_the_internet_and_every_client_reaches_the_endpoints(each_stack):
    template = each_stack.template_json
    database = group_id(template, "AuditStoreSecurityGroup")
    endpoints = group_id(template, "NetworkEndpointsSecurityGroup")
    clients = [
        "GatewayFunctionSecurityGroup",
        "AuditPipelineWriterSecurityGroup",
        "AuditStoreRotationFunctionSecurityGroup",
    ]
    if each_stack.region.console:
        clients.append("ConsoleTaskSecurityGroup")
    for prefix in clients:
        group = group_id(template, prefix)
        expected = [(database, 5432), (endpoints, 443)]
        # Every shipped region has a provider outside AWS (Azure OpenAI, or in-country hosts in China).
        if prefix == "GatewayFunctionSecurityGroup":
            expected.append((OPEN, 443))
        assert egress_of(template, group) == sorted(expected), prefix
    assert egress_of(template, endpoints) == []


def test_nat_gateways_exist_because_a_provider_outside_aws_needs_them(each_stack):
    plan = egress_plan(each_stack.region)
    assert plan.needs_nat and plan.external_hosts
    nats = resources(each_stack.template_json, "AWS::EC2::NatGateway")
    assert len(nats) == min(each_stack.region.sizing.nat_gateways, len(each_stack.region.availability_zones))


# --- DNS firewall -------------------------------------------------------------------------------------------------


def test_dns_firewall_allows_the_region_aws_names_and_provider_hosts_and_blocks_the_rest(each_stack):
    template, region = each_stack.template_json, each_stack.region
    lists = {
        k: v["Properties"]["Domains"]
        for k, v in resources(template, "AWS::Route53Resolver::FirewallDomainList").items()
    }
    (allowed_id,) = [k for k in lists if k.startswith("NetworkDnsFirewallAllowed")]
    (everything_id,) = [k for k in lists if k.startswith("NetworkDnsFirewallEverything")]
    suffix = "amazonaws.com.cn" if region.partition == "aws-cn" else "amazonaws.com"
    aws_names, hosts = (
        lists[allowed_id][: -len(region.gateway.allowed_hosts)],
        lists[allowed_id][-len(region.gateway.allowed_hosts) :],
    )
    assert hosts == list(region.gateway.allowed_hosts)
    # Exactly the services each endpoint serves (and the database's name): no wildcard over the whole region.
    expected = {
        f"{s}.{region.aws_region}.{suffix}" for s in ("sqs", "secretsmanager", "kms", "logs", "sts", "monitoring")
    }
    expected.add(f"*.rds.{region.aws_region}.{suffix}")
    if region.partition == "aws":
        expected.add(f"bedrock-runtime.{region.aws_region}.{suffix}")
    if region.console:
        expected |= {f"{n}.{region.aws_region}.{suffix}" for n in ("api.ecr", "*.dkr.ecr", "s3", "*.s3")}
    assert set(aws_names) == expected and len(aws_names) == len(expected)
    assert f"*.{region.aws_region}.{suffix}" not in lists[allowed_id]
    assert lists[everything_id] == ["*"]
    (group,) = resources(template, "AWS::Route53Resolver::FirewallRuleGroup").values()
    rules = sorted(group["Properties"]["FirewallRules"], key=lambda r: r["Priority"])
    assert [(r["Action"], r["FirewallDomainListId"]["Fn::GetAtt"][0]) for r in rules] == [
        ("ALLOW", allowed_id),
        ("BLOCK", everything_id),
    ]
    assert rules[0]["FirewallDomainRedirectionAction"] == "TRUST_REDIRECTION_DOMAIN"
    assert rules[1]["BlockResponse"] == "NXDOMAIN"
    (association,) = resources(template, "AWS::Route53Resolver::FirewallRuleGroupAssociation").values()
    (vpc_id,) = resources(template, "AWS::EC2::VPC")
    assert association["Properties"]["VpcId"] == {"Ref": vpc_id}
    assert association["Properties"]["MutationProtection"] == "ENABLED"


def test_dns_queries_are_logged_to_an_encrypted_in_region_log_group(each_stack):
    template, region = each_stack.template_json, each_stack.region
    (config,) = resources(template, "AWS::Route53Resolver::ResolverQueryLoggingConfig").values()
    log_group_id = config["Properties"]["DestinationArn"]["Fn::GetAtt"][0]
    log_group = template["Resources"][log_group_id]["Properties"]
    assert log_group["LogGroupName"] == f"/regiongate/{region.deployment_id}/dns-queries"
    assert log_group["KmsKeyId"]["Fn::GetAtt"][0] == next(iter(resources(template, "AWS::KMS::Key")))
    assert log_group["RetentionInDays"] == region.sizing.log_retention_days
    (association,) = resources(template, "AWS::Route53Resolver::ResolverQueryLoggingConfigAssociation").values()
    assert association["Properties"]["ResourceId"] == {"Ref": next(iter(resources(template, "AWS::EC2::VPC")))}


@pytest.mark.parametrize("name", [n for n in SYNTHESIZED_STACKS if n not in STACK_NAMES])
def test_tenant_stacks_have_a_nat_and_open_egress_only_when_their_providers_need_it(synthesized_app, name):
    region = synthesized_app.stacks[name].region_config
    template = synthesized_app.template_json(name)
    plan = egress_plan(region)
    nats = resources(template, "AWS::EC2::NatGateway")
    assert len(nats) == (min(region.sizing.nat_gateways, len(region.availability_zones)) if plan.needs_nat else 0)
    container = deployment_runtime(region).container
    gateway = group_id(template, "GatewayServiceTaskSecurityGroup" if container else "GatewayFunctionSecurityGroup")
    assert ((OPEN, 443) in egress_of(template, gateway)) == plan.gateway_needs_internet
    assert (group_id(template, "NetworkEndpointsSecurityGroup"), 443) in egress_of(template, gateway)
    # Tasks pull their images through the ECR endpoints (and the S3 gateway endpoint for the layers).
    ecr = {n.rsplit(".", 2)[-2] + "." + n.rsplit(".", 1)[-1] for n in service_names(template) if ".ecr." in n}
    assert ecr == ({"ecr.api", "ecr.dkr"} if container or region.console else set())
    subnets = resources(template, "AWS::EC2::Subnet").values()
    private = [s for s in subnets if {"Key": "aws-cdk:subnet-name", "Value": "private"} in s["Properties"]["Tags"]]
    assert private
    routes_to_nat = [r for r in resources(template, "AWS::EC2::Route").values() if "NatGatewayId" in r["Properties"]]
    assert bool(routes_to_nat) == plan.needs_nat
    for prefix in ("AuditPipelineWriterSecurityGroup", "AuditStoreRotationFunctionSecurityGroup"):
        assert OPEN not in [d for d, _ in egress_of(template, group_id(template, prefix))]


# --- the residency report's network paths -------------------------------------------------------------------------


def test_every_aws_path_ends_in_the_home_region_and_the_nat_is_behind_the_firewall(each_stack):
    region = each_stack.region
    paths = network_paths(each_stack.template_json, ResidencyPolicy.from_region(region))
    kinds = {p.kind for p in paths}
    assert kinds == {ENDPOINT, DNS_ALLOWED, NAT}
    for path in paths:
        if path.kind == ENDPOINT or path.detail == "AWS service name":
            assert path.ends_in == region.aws_region, path
    outside_aws = [p.target for p in paths if p.kind == DNS_ALLOWED and p.detail != "AWS service name"]
    assert sorted(outside_aws) == sorted(region.gateway.allowed_hosts)
    (nat,) = [p for p in paths if p.kind == NAT]
    assert "the DNS firewall resolves only the DNS-allowed hosts above" in nat.detail


# --- the findings checkov reported, fixed ---------------------------------------------------------------------------


def test_service_invocations_name_the_source_and_the_account(each_stack):
    permissions = resources(each_stack.template_json, "AWS::Lambda::Permission").values()
    assert permissions
    for permission in permissions:
        properties = permission["Properties"]
        assert properties["SourceAccount"] == {"Ref": "AWS::AccountId"}
        assert properties["SourceArn"]
    (alb,) = [p["Properties"] for p in permissions if p["Properties"]["Principal"].startswith("elasticloadbalancing")]
    region = each_stack.region
    assert alb["SourceArn"] == (
        f"arn:{region.partition}:elasticloadbalancing:{region.aws_region}:{region.account}:targetgroup/*"
    )


def test_load_balancers_have_deletion_protection(each_stack):
    balancers = resources(each_stack.template_json, "AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    assert len(balancers) == (2 if each_stack.region.console else 1)
    for balancer in balancers:
        attributes = {a["Key"]: a["Value"] for a in balancer["Properties"]["LoadBalancerAttributes"]}
        assert attributes["deletion_protection.enabled"] == "true"


def test_database_has_enhanced_monitoring_with_a_role_limited_to_os_metrics(each_stack):
    template, region = each_stack.template_json, each_stack.region
    (database,) = resources(template, "AWS::RDS::DBInstance").values()
    assert database["Properties"]["MonitoringInterval"] == 60
    role = template["Resources"][database["Properties"]["MonitoringRoleArn"]["Fn::GetAtt"][0]]["Properties"]
    assert "ManagedPolicyArns" not in role
    (policy,) = role["Policies"]
    resources_named = {s["Resource"] for s in policy["PolicyDocument"]["Statement"]}
    base = f"arn:{region.partition}:logs:{region.aws_region}:{region.account}:log-group:RDSOSMetrics"
    assert resources_named == {base, f"{base}:log-stream:*"}


def test_database_secret_is_retained_as_its_resource_policy_requires(each_stack):
    template = each_stack.template_json
    (policy,) = resources(template, "AWS::SecretsManager::ResourcePolicy").values()
    assert policy["Properties"]["ResourcePolicy"]["Statement"][0]["Action"] == "secretsmanager:DeleteSecret"
    secret = template["Resources"][policy["Properties"]["SecretId"]["Ref"]]
    assert secret["DeletionPolicy"] == "Retain" and secret["UpdateReplacePolicy"] == "Retain"


# --- variants of a region: only Bedrock; endpoints turned off -------------------------------------------------------


def open_findings(template: dict, policy: ResidencyPolicy) -> list[str]:
    """The residency pack's findings, but for the one the app acknowledges on every stack (ALB logs are SSE-S3)."""
    return [
        f"{f.rule_id} {f.logical_id}: {f.message}"
        for f in evaluate_template(template, policy)
        if not (f.rule_id == "StoresEncryptedWithStackKey" and f.logical_id.startswith("GatewayAccessLogs"))
    ]


def _variant(*, endpoints: bool) -> tuple[dict, ResidencyPolicy]:
    eu = next(r for r in load_catalogue().regions if r.code == "eu")
    gateway = eu.gateway
    providers = tuple(p for p in gateway.providers if p.type == "bedrock")
    models = tuple(m for m in gateway.models if m.provider in {p.name for p in providers})
    region = replace(
        eu,
        stack_name="EuBedrockOnly",
        sizing=replace(eu.sizing, vpc_endpoints=endpoints),
        gateway=replace(gateway, providers=providers, models=models, allowed_hosts=()),
    )
    app = App(context=cdk_json_context())
    stack = RegionStack(app, region.stack_name, region=region)
    return Template.from_stack(stack).to_json(), ResidencyPolicy.from_region(region)


@pytest.fixture(scope="module")
def bedrock_only():
    return _variant(endpoints=True)


def test_a_region_with_only_bedrock_has_no_nat_and_isolated_function_subnets(bedrock_only):
    template, policy = bedrock_only
    assert resources(template, "AWS::EC2::NatGateway") == {}
    assert not [r for r in resources(template, "AWS::EC2::Route").values() if "NatGatewayId" in r["Properties"]]
    gateway = group_id(template, "GatewayFunctionSecurityGroup")
    assert OPEN not in [destination for destination, _ in egress_of(template, gateway)]
    assert [p.kind for p in network_paths(template, policy) if p.kind == NAT] == []
    assert open_findings(template, policy) == []


def test_without_endpoints_every_function_reaches_aws_through_the_nat_behind_the_firewall():
    template, policy = _variant(endpoints=False)
    assert resources(template, "AWS::EC2::VPCEndpoint") == {}
    assert resources(template, "AWS::EC2::NatGateway")
    for prefix in ("GatewayFunctionSecurityGroup", "AuditPipelineWriterSecurityGroup"):
        assert (OPEN, 443) in egress_of(template, group_id(template, prefix))
    (domains,) = [
        v["Properties"]["Domains"]
        for k, v in resources(template, "AWS::Route53Resolver::FirewallDomainList").items()
        if k.startswith("NetworkDnsFirewallAllowed")
    ]
    assert "*.eu-central-1.amazonaws.com" not in domains
    assert "sqs.eu-central-1.amazonaws.com" in domains and "bedrock-runtime.eu-central-1.amazonaws.com" in domains
    assert not [d for d in domains if "azure" in d]
    assert open_findings(template, policy) == []
