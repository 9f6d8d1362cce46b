"""The egress plan of a region: which endpoints, which hosts through the NAT, and whether there is a NAT at all."""

from __future__ import annotations

from dataclasses import replace

import pytest

from regiongate.config.regions import load_catalogue
from regiongate.network.egress import CORE_SERVICES, IMAGE_SERVICES, egress_plan
from tests.paths import REPO_ROOT

CORE_NAMES = ("sqs", "secretsmanager", "kms", "logs", "sts", "monitoring")
# Every service the EU gateway, writer and rotation call in eu-central-1, and the database: no wildcard over the region.
EU_AWS_NAMES = tuple(f"{name}.eu-central-1.amazonaws.com" for name in (*CORE_NAMES, "bedrock-runtime", "*.rds"))


@pytest.fixture(scope="module")
def regions():
    return {region.code: region for region in load_catalogue(REPO_ROOT / "regions.yaml").regions}


def only_providers(region, *types: str):
    gateway = region.gateway
    providers = tuple(p for p in gateway.providers if p.type in types)
    return replace(region, gateway=replace(gateway, providers=providers))


def test_bedrock_in_the_home_region_goes_through_its_endpoint_and_azure_through_the_nat(regions):
    plan = egress_plan(regions["eu"])
    assert plan.endpoints
    assert set(plan.interface_services) == {*CORE_SERVICES, "bedrock-runtime"}
    assert [h.host for h in plan.external_hosts] == ["regiongate-weu.openai.azure.com"]
    assert plan.needs_nat and plan.gateway_needs_internet and not plan.aws_services_need_internet
    assert plan.allowed_domains() == (*EU_AWS_NAMES, "regiongate-weu.openai.azure.com")


def test_china_has_no_bedrock_endpoint_and_pulls_console_images_through_ecr_endpoints(regions):
    plan = egress_plan(regions["cn"])
    assert set(plan.interface_services) == {*CORE_SERVICES, *IMAGE_SERVICES}
    assert "bedrock-runtime" not in plan.interface_services
    names = [f"{service}.cn-north-1.amazonaws.com.cn" for service in CORE_NAMES]
    names += [f"{n}.cn-north-1.amazonaws.com.cn" for n in ("api.ecr", "*.dkr.ecr", "s3", "*.s3", "*.rds")]
    assert plan.allowed_domains() == (*names, "dashscope.aliyuncs.com", "api.deepseek.com")


def test_a_region_with_only_bedrock_and_endpoints_needs_no_nat(regions):
    plan = egress_plan(only_providers(regions["eu"], "bedrock"))
    assert plan.external_hosts == ()
    assert not plan.needs_nat and not plan.gateway_needs_internet
    assert plan.allowed_domains() == EU_AWS_NAMES


def test_without_endpoints_every_aws_api_goes_through_the_nat(regions):
    region = only_providers(regions["eu"], "bedrock")
    plan = egress_plan(replace(region, sizing=replace(region.sizing, vpc_endpoints=False)))
    assert plan.interface_services == ()
    assert plan.needs_nat and plan.aws_services_need_internet
    # The same names, now resolved to the public endpoints through the NAT; nothing else is allowed.
    assert plan.allowed_domains() == EU_AWS_NAMES


def test_bedrock_in_another_inference_region_is_a_named_host_through_the_nat(regions):
    eu = regions["eu"]
    gateway = eu.gateway
    (bedrock,) = [p for p in gateway.providers if p.type == "bedrock"]
    moved = replace(eu, gateway=replace(gateway, providers=(replace(bedrock, aws_region="eu-west-3"),)))
    plan = egress_plan(moved)
    assert "bedrock-runtime" not in plan.interface_services
    assert [(h.host, h.purpose) for h in plan.external_hosts] == [
        ("bedrock-runtime.eu-west-3.amazonaws.com", "provider bedrock-eu (Amazon Bedrock in eu-west-3)")
    ]
    assert plan.needs_nat
