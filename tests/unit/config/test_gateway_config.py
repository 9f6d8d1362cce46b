"""regions.<code>.gateway: validation at synth time, the runtime document and the exact Bedrock grants."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from regiongate.config.gateway import PROFILE_DESTINATIONS, BedrockGrant, bedrock_grants, runtime_document
from regiongate.config.regions import DEFAULT_CONFIG_PATH, ConfigError, parse_catalogue
from tests.fixtures.processing_area import AREA_NAME, MODEL, PROFILE, opted_in_eu

RAW = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())


def index_of(code: str, name: str) -> int:
    """The index of model ``name`` in the shipped catalogue of region ``code``."""
    return [m["name"] for m in RAW["regions"][code]["gateway"]["models"]].index(name)


EU_GPT, SG_GPT = index_of("eu", "gpt-4o"), index_of("sg", "gpt-4o")
EU_MODEL_COUNT = len(RAW["regions"]["eu"]["gateway"]["models"])


def catalogue_with(code: str, edit) -> object:
    data = copy.deepcopy(RAW)
    edit(data["regions"][code]["gateway"])
    return parse_catalogue(data, "regions.yaml")


def refused(code: str, edit) -> ConfigError:
    with pytest.raises(ConfigError, match=rf"^regions\.yaml: regions\.{code}\.gateway\.") as info:
        catalogue_with(code, edit)
    return info.value


def test_shipped_catalogue_is_valid_and_every_region_has_a_gateway():
    catalogue = parse_catalogue(copy.deepcopy(RAW))
    assert [r.code for r in catalogue.regions] == ["eu", "us", "sg", "cn"]
    assert all(r.gateway is not None for r in catalogue.regions)


def test_a_single_region_model_the_table_says_is_not_offered_there_is_refused():
    # Singapore's provider calls Bedrock in ap-southeast-1, where bedrock-profiles.yaml lists no Titan V2.
    def edit(g):
        model = next(m for m in g["models"] if m["target"] == "cohere.embed-multilingual-v3")
        model["target"] = "amazon.titan-embed-text-v2:0"

    error = refused("sg", edit)
    assert error.key.startswith("regions.sg.gateway.models[") and error.key.endswith("].target")
    assert "'amazon.titan-embed-text-v2:0' is not offered on demand in ap-southeast-1" in error.problem


def test_a_single_region_model_the_table_does_not_know_is_left_to_the_operator():
    # Processed in the provider's own region by definition; only availability is unknown, not residency.
    def edit(g):
        g["models"][0]["target"] = "amazon.nova-micro-v1:0"

    catalogue = catalogue_with("eu", edit)
    assert any(m.target == "amazon.nova-micro-v1:0" for m in catalogue.region("eu").gateway.models)


def test_global_profile_is_refused_naming_the_key():
    def edit(g):
        g["models"][0]["target"] = "global.anthropic.claude-sonnet-4-5-20250929-v1:0"

    error = refused("eu", edit)
    assert error.key == "regions.eu.gateway.models[0].target"
    assert "global inference profile" in error.problem


def test_geography_profile_wider_than_inference_regions_is_refused_with_the_single_region_id():
    def edit(g):
        g["models"][0]["target"] = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"  # includes London and Zurich

    error = refused("eu", edit)
    assert "eu-central-2" in error.problem and "eu-west-2" in error.problem
    assert "'anthropic.claude-sonnet-4-5-20250929-v1:0'" in error.problem


def test_singapore_refuses_every_apac_profile():
    for profile in [p for p in PROFILE_DESTINATIONS if p.startswith("apac.")]:

        def edit(g, profile=profile):
            g["models"][0]["target"] = profile

        assert "outside this region's inference_regions" in refused("sg", edit).problem


def test_unknown_profile_is_refused():
    def edit(g):
        g["models"][0]["target"] = "eu.anthropic.claude-opus-9-v1:0"

    assert "does not know" in refused("eu", edit).problem


def test_bedrock_provider_in_china_is_refused():
    def edit(g):
        g["providers"].append({"name": "bedrock-cn", "type": "bedrock", "aws_region": "cn-north-1"})

    error = refused("cn", edit)
    assert error.key == "regions.cn.gateway.providers[2].type"
    assert "aws-cn" in error.problem and "openai_compatible" in error.problem


def test_bedrock_provider_outside_inference_regions_is_refused():
    def edit(g):
        g["providers"][0]["aws_region"] = "eu-west-2"

    error = refused("eu", edit)
    assert error.key == "regions.eu.gateway.providers[0].aws_region"
    assert "eu-central-1, eu-west-1, eu-west-3, eu-north-1" in error.problem


@pytest.mark.parametrize("deployment_type", ["GlobalStandard", "GlobalProvisionedManaged", "GlobalBatch"])
def test_azure_global_deployments_are_refused(deployment_type):
    def edit(g):
        g["models"][EU_GPT]["deployment_type"] = deployment_type

    error = refused("eu", edit)
    assert error.key == f"regions.eu.gateway.models[{EU_GPT}].deployment_type"
    assert "Global deployments" in error.problem and "DataZoneStandard" in error.problem


def test_azure_data_zone_is_refused_where_there_is_none():
    def edit(g):
        g["models"][SG_GPT]["deployment_type"] = "DataZoneStandard"

    assert "APAC has no Azure data zone" in refused("sg", edit).problem


def test_azure_location_must_match_the_promise():
    def edit(g):
        g["providers"][1]["location"] = "japaneast"

    error = refused("sg", edit)
    assert "valid: southeastasia" in error.problem

    def edit_eu(g):
        g["providers"][1]["location"] = "uksouth"

    assert "uksouth" in refused("eu", edit_eu).problem


def test_openai_compatible_host_must_be_allowlisted():
    def edit(g):
        g["providers"][0]["base_url"] = "https://api.openai.com/v1"

    error = refused("cn", edit)
    assert error.key == "regions.cn.gateway.providers[0].base_url"
    assert "allowed_hosts" in error.problem


def test_plain_http_upstream_is_refused():
    def edit(g):
        g["providers"][0]["base_url"] = "http://dashscope.aliyuncs.com/v1"

    assert "https://" in refused("cn", edit).problem


@pytest.mark.parametrize(
    "edit, key",
    [
        (lambda g: g.update(colour="red"), "regions.eu.gateway.colour"),
        (
            lambda g: g["models"][0].update(input_usd_per_mtok="three"),
            "regions.eu.gateway.models[0].input_usd_per_mtok",
        ),
        (lambda g: g["models"][0].update(output_usd_per_mtok=-1), "regions.eu.gateway.models[0].output_usd_per_mtok"),
        (lambda g: g["models"][0].update(provider="nope"), "regions.eu.gateway.models[0].provider"),
        (lambda g: g["models"].append(dict(g["models"][0])), f"regions.eu.gateway.models[{EU_MODEL_COUNT}].name"),
        (
            lambda g: g["guardrails"]["detectors"].append({"type": "regex", "pattern": "(", "action": "block"}),
            "regions.eu.gateway.guardrails.detectors[2].pattern",
        ),
        (
            lambda g: g["guardrails"]["detectors"].append({"type": "luhn", "action": "block"}),
            "regions.eu.gateway.guardrails.detectors[2].type",
        ),
        (
            lambda g: g["guardrails"].update(max_request_bytes=2_000_000),
            "regions.eu.gateway.guardrails.max_request_bytes",
        ),
        (
            lambda g: g["guardrails"].update(model_allowlist=["gpt-5"]),
            "regions.eu.gateway.guardrails.model_allowlist[0]",
        ),
        (
            lambda g: g.update(org_guardrails={"acme": {"max_input_tokens": 0}}),
            "regions.eu.gateway.org_guardrails.acme.max_input_tokens",
        ),
    ],
)
def test_mistakes_name_the_key(edit, key):
    assert refused("eu", edit).key == key


def test_profile_grants_the_profile_at_home_and_the_model_in_every_destination(catalogue):
    grants = bedrock_grants(catalogue.region("eu"))
    profile = "eu.amazon.nova-pro-v1:0"
    assert BedrockGrant("eu-central-1", "inference-profile", profile) in grants
    model_regions = {g.aws_region for g in grants if g.resource_id == "amazon.nova-pro-v1:0"}
    assert model_regions == set(PROFILE_DESTINATIONS[profile])
    assert all(g.aws_region in catalogue.region("eu").inference_regions for g in grants)
    assert BedrockGrant("eu-central-1", "foundation-model", "amazon.titan-embed-text-v2:0") in grants
    assert not any("*" in g.resource_id for g in grants)
    # No Claude without the opt-in: every current Claude EU profile also reaches London and Zurich.
    assert not any("anthropic" in g.resource_id for g in grants)


# Retired by Anthropic or past their Bedrock end of life (src/regiongate/config/bedrock-profiles.yaml notes).
RETIRED = ("claude-3-7-sonnet-20250219", "claude-3-5-sonnet-20240620", "claude-3-haiku-20240307", "claude-3-5-haiku")


def test_the_shipped_catalogue_offers_no_retired_model_and_every_region_chat_and_embeddings(catalogue):
    for region in catalogue.regions:
        models = region.gateway.models
        assert not [m.name for m in models if any(r in m.target for r in RETIRED)], region.code
        assert {m.kind for m in models} == {"chat", "embedding"}, region.code


def test_claude_is_served_in_the_eu_only_through_the_explicit_opt_in(catalogue):
    """The shipped EU offers no Claude model; the commented opt-in (claude-sonnet-4-5 in europe-uk-ch) serves one,
    stating its wider area, and its grants reach London and Zurich for that model alone."""
    shipped = catalogue.region("eu")
    assert not [m.name for m in shipped.gateway.models if "anthropic" in m.target]
    assert "europe-uk-ch" in shipped.processing_areas  # defined, offering nothing by itself
    opted = opted_in_eu()
    claude = next(m for m in opted.gateway.models if m.name == MODEL)
    assert claude.target == PROFILE and claude.area is not None and claude.area.name == AREA_NAME
    wider = {
        g.aws_region for g in bedrock_grants(opted) if g.resource_id == "anthropic.claude-sonnet-4-5-20250929-v1:0"
    }
    assert {"eu-west-2", "eu-central-2"} <= wider
    assert {g.aws_region for g in bedrock_grants(opted) if "anthropic" not in g.resource_id} <= set(
        opted.inference_regions
    )


def test_singapore_grants_stay_in_singapore_and_china_has_none(catalogue):
    assert {g.aws_region for g in bedrock_grants(catalogue.region("sg"))} == {"ap-southeast-1"}
    assert all(g.resource_type == "foundation-model" for g in bedrock_grants(catalogue.region("sg")))
    assert bedrock_grants(catalogue.region("cn")) == []


def test_runtime_document_is_json_without_secrets(catalogue):
    document = runtime_document(catalogue.region("eu"))
    text = json.dumps(document, sort_keys=True)
    assert json.loads(text) == document
    assert document["code"] == "eu" and document["display_name"] == "EU"
    assert {m["name"] for m in document["models"]} >= {"nova-pro", "gpt-4o", "titan-embed-text-v2"}
    assert "api_key" not in text and "secret" not in text.lower()
    assert document["guardrails"]["detectors"][0] == {"name": "payment-card", "type": "payment_card", "action": "block"}
