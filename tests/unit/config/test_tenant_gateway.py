"""A tenant processes in its own region: its geography's models, called in its home region, never another
region's gateway; a model that cannot be processed there is refused with the nearest opt-in."""

from __future__ import annotations

import copy
import re
from dataclasses import replace

import pytest
import yaml

from regiongate.config import bedrock_profiles, tenants
from regiongate.config.gateway import bedrock_grants
from regiongate.config.reader import load_yaml
from regiongate.config.regions import DEFAULT_CONFIG_PATH, ConfigError, parse_catalogue


def tenant_data(catalogue, tmp_path, slug="acme", aws_region="eu-west-1", **options) -> dict:
    _, text = tenants.new_tenant_file(catalogue, tmp_path, slug, aws_region=aws_region, **options)
    return load_yaml(text)


def parse(catalogue, tmp_path, data):
    return tenants.parse_tenant(data, tmp_path / f"{data['slug']}.yaml", catalogue).region


def refusal(catalogue, tmp_path, data) -> ConfigError:
    with pytest.raises(ConfigError, match=re.escape(f"{data['slug']}.yaml: ")) as info:
        parse(catalogue, tmp_path, data)
    return info.value


def test_an_eu_west_1_tenant_calls_bedrock_in_eu_west_1_only(catalogue, tmp_path):
    region = parse(catalogue, tmp_path, tenant_data(catalogue, tmp_path))
    assert region.inference_regions == ("eu-west-1",)
    assert [(p.name, p.aws_region) for p in region.gateway.providers] == [("bedrock-eu-west-1", "eu-west-1")]
    assert {g.aws_region for g in bedrock_grants(region)} == {"eu-west-1"}
    assert catalogue.region("eu").aws_region == "eu-central-1"  # the geography's gateway region is not called


def test_a_model_not_offered_in_the_home_region_is_refused_with_the_nearest_opt_in(catalogue, tmp_path):
    data = tenant_data(catalogue, tmp_path)
    data["models"] = ["titan-embed-text-v2", "nova-pro"]
    error = refusal(catalogue, tmp_path, data)
    assert error.key == "models[1]"
    assert "amazon.nova-pro-v1:0 is not offered on demand in eu-west-1" in error.problem
    assert (
        "to opt in, add eu-central-1, eu-north-1, eu-south-1, eu-south-2, eu-west-3 to inference_regions "
        "(the nearest choice inside EU)" in error.problem
    )


def test_opting_in_to_the_geography_profile_calls_it_from_the_home_region(catalogue, tmp_path):
    data = tenant_data(catalogue, tmp_path)
    data["inference_regions"] = ["eu-west-1", "eu-central-1", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-3"]
    data["models"] = ["titan-embed-text-v2", "nova-pro"]
    region = parse(catalogue, tmp_path, data)
    nova = next(m for m in region.gateway.models if m.name == "nova-pro")
    assert (nova.target, nova.provider) == ("eu.amazon.nova-pro-v1:0", "bedrock-eu-west-1")
    profiles = [g for g in bedrock_grants(region) if g.resource_type == "inference-profile"]
    assert [(g.aws_region, g.resource_id) for g in profiles] == [("eu-west-1", "eu.amazon.nova-pro-v1:0")]
    assert region.provider_regions == ("eu-west-1",)


def test_an_ap_southeast_2_tenant_is_never_served_from_singapore(catalogue, tmp_path):
    data = tenant_data(catalogue, tmp_path, "oz", aws_region="ap-southeast-2")
    region = parse(catalogue, tmp_path, data)
    assert {p.aws_region for p in region.gateway.providers if p.type == "bedrock"} == {"ap-southeast-2"}
    assert all(p.type == "bedrock" for p in region.gateway.providers)  # not Azure southeastasia (SG)
    assert region.gateway.allowed_hosts == ()
    assert {g.aws_region for g in bedrock_grants(region)} == {"ap-southeast-2"}
    for name, expected in (
        ("gpt-4o", "processed in Azure southeastasia (SG), outside the countries of inference_regions (AU)"),
        # The shipped Singapore catalogue offers no Claude model: none current is served inside Singapore.
        ("claude-3-5-sonnet", "'claude-3-5-sonnet' is not a model of regions.sg; valid: "),
    ):
        data["models"] = [name]
        error = refusal(catalogue, tmp_path, data)
        assert error.key == "models[0]" and expected in error.problem


def test_a_singapore_model_not_offered_in_sydney_is_refused_with_the_nearest_apac_opt_in(tmp_path, monkeypatch):
    """A single-region model of regions.sg that Bedrock offers in Singapore but not in Sydney (Claude 3.5 Sonnet,
    in a test catalogue: the shipped one no longer offers it) is refused naming the in-geography opt-in."""
    # Claude 3.5 Sonnet is marked retired (tests/unit/config/test_retired_models.py); this test is about where a
    # model is offered, so it uses the shipped table with that one mark removed.
    table = bedrock_profiles.shipped_table()
    sonnet = "anthropic.claude-3-5-sonnet-20240620-v1:0"
    unretired = replace(
        table,
        foundation_models={**table.foundation_models, sonnet: replace(table.foundation_models[sonnet], retired=None)},
    )
    monkeypatch.setattr(bedrock_profiles, "shipped_table", lambda: unretired)
    data = copy.deepcopy(yaml.safe_load(DEFAULT_CONFIG_PATH.read_text()))
    data["regions"]["sg"]["gateway"]["models"].append(
        {
            "name": "claude-3-5-sonnet",
            "provider": "bedrock-sg",
            "target": "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "input_usd_per_mtok": "3.00",
            "output_usd_per_mtok": "15.00",
        }
    )
    with_claude = parse_catalogue(data, "regions.yaml")
    tenant = tenant_data(with_claude, tmp_path, "oz", aws_region="ap-southeast-2")
    tenant["models"] = ["claude-3-5-sonnet"]
    error = refusal(with_claude, tmp_path, tenant)
    assert error.key == "models[0]"
    assert "anthropic.claude-3-5-sonnet-20240620-v1:0 is not offered on demand in ap-southeast-2" in error.problem
    assert "to opt in, add ap-northeast-1, ap-northeast-2, ap-south-1, ap-southeast-1 to" in error.problem


def test_a_tenant_file_without_models_must_be_servable_as_a_whole(catalogue, tmp_path):
    data = tenant_data(catalogue, tmp_path)
    del data["models"]
    error = refusal(catalogue, tmp_path, data)
    assert error.key == "inference_regions"
    assert "not served in eu-west-1: amazon.nova-pro-v1:0 is not offered" in error.problem


@pytest.mark.parametrize(
    ("models", "problem"),
    [
        (["gpt-5"], "'gpt-5' is not a model of regions.eu; valid: "),
        (["titan-embed-text-v2", "titan-embed-text-v2"], "lists a model twice"),
        ([], "must be a non-empty list"),
    ],
)
def test_model_lists_are_checked(catalogue, tmp_path, models, problem):
    data = tenant_data(catalogue, tmp_path)
    data["models"] = models
    assert problem in refusal(catalogue, tmp_path, data).problem


def test_china_tenants_keep_the_in_country_hosts(catalogue, tmp_path):
    region = parse(catalogue, tmp_path, tenant_data(catalogue, tmp_path, "pekingbank", aws_region="cn-north-1"))
    assert [m.name for m in region.gateway.models] == ["qwen-plus", "text-embedding-v3", "deepseek-chat"]
    assert region.gateway.allowed_hosts == catalogue.region("cn").gateway.allowed_hosts
    assert bedrock_grants(region) == []
