"""regions.<code>.processing_areas and a model's processing_area: the explicit, named opt-in to a wider area."""

from __future__ import annotations

import copy

import pytest
import yaml

from regiongate.config.gateway import PROFILE_DESTINATIONS, bedrock_grants, runtime_config
from regiongate.config.regions import DEFAULT_CONFIG_PATH, ConfigError, parse_catalogue
from regiongate.contract.document import RuntimeConfig
from regiongate.residency.policy import ResidencyPolicy

RAW = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
EU_MODELS = [m["name"] for m in RAW["regions"]["eu"]["gateway"]["models"]]
APPENDED = len(EU_MODELS)  # the index of a model appended to the shipped EU catalogue
NOVA, GPT = EU_MODELS.index("nova-pro"), EU_MODELS.index("gpt-4o")
WIDE_PROFILE = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"  # London and Zurich among its destinations
AREA = {"name": "Europe incl. UK and Switzerland", "regions": sorted(PROFILE_DESTINATIONS[WIDE_PROFILE])}
OPTED_IN = {
    "name": "claude-sonnet-4-5",
    "provider": "bedrock-eu",
    "target": WIDE_PROFILE,
    "input_usd_per_mtok": "3.00",
    "output_usd_per_mtok": "15.00",
}


def _no_areas(eu):
    eu.pop("processing_areas", None)


def eu_with(areas=None, model=None, edit=None):
    data = copy.deepcopy(RAW)
    eu = data["regions"]["eu"]
    if areas is not None:
        eu["processing_areas"] = areas
    if model is not None:
        eu["gateway"]["models"].append(model)
    if edit is not None:
        edit(eu)
    return parse_catalogue(data, "regions.yaml").region("eu")


def refused(key_pattern: str, **kwargs) -> ConfigError:
    with pytest.raises(ConfigError, match=rf"^regions\.yaml: {key_pattern}") as info:
        eu_with(**kwargs)
    return info.value


def test_the_shipped_regions_offer_no_model_beyond_their_inference_regions():
    catalogue = parse_catalogue(copy.deepcopy(RAW))
    for region in catalogue.regions:
        for model in region.gateway.models:
            if model.area is None:
                outside = [d for d in model.destinations if "-" in d and ":" not in d]
                assert set(outside) <= set(region.inference_regions), (region.code, model.name)


def test_a_wider_profile_without_the_opt_in_is_refused_naming_the_opt_in():
    error = refused(rf"regions\.eu\.gateway\.models\[{APPENDED}\]\.target", model=OPTED_IN, edit=_no_areas)
    assert "eu-central-2" in error.problem and "eu-west-2" in error.problem
    assert "not offered by default" in error.problem
    assert "regions.eu.processing_areas" in error.problem and "processing_area:" in error.problem


def test_the_refusal_names_an_area_already_defined_that_covers_the_profile():
    error = refused(
        rf"regions\.eu\.gateway\.models\[{APPENDED}\]\.target", areas={"europe-uk-ch": AREA}, model=OPTED_IN
    )
    assert "processing_area: europe-uk-ch (Europe incl. UK and Switzerland)" in error.problem


def test_with_the_opt_in_the_model_is_offered_and_carries_its_named_area():
    region = eu_with(areas={"europe-uk-ch": AREA}, model={**OPTED_IN, "processing_area": "europe-uk-ch"})
    model = next(m for m in region.gateway.models if m.name == "claude-sonnet-4-5")
    assert model.area is not None and model.area.name == "Europe incl. UK and Switzerland"
    assert set(model.destinations) - set(region.inference_regions) == {"eu-central-2", "eu-west-2"}
    # The other models did not opt in: nothing about them is widened.
    assert all(m.area is None for m in region.gateway.models if m.name != "claude-sonnet-4-5")
    # The runtime document states the area (name and regions) for that model only, and reads back.
    document = RuntimeConfig.from_document(runtime_config(region).to_document())
    assert document.models["claude-sonnet-4-5"].processing_area.name == "Europe incl. UK and Switzerland"
    assert "eu-west-2" in document.models["claude-sonnet-4-5"].processing_area.regions
    assert document.models["nova-pro"].processing_area is None
    # The grants reach London and Zurich for that model alone, and the policy widens that model alone.
    grants = {(g.aws_region, g.resource_id) for g in bedrock_grants(region)}
    assert ("eu-west-2", "anthropic.claude-sonnet-4-5-20250929-v1:0") in grants
    policy = ResidencyPolicy.from_region(region)
    assert "eu-west-2" in policy.processing_regions_of("anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert "eu-west-2" not in policy.processing_regions_of("amazon.nova-pro-v1:0")


def test_an_unknown_area_is_refused_listing_the_defined_ones():
    error = refused(
        rf"regions\.eu\.gateway\.models\[{APPENDED}\]\.processing_area",
        areas={"europe-uk-ch": AREA},
        model={**OPTED_IN, "processing_area": "europe"},
    )
    assert "'europe' is not a processing area" in error.problem and "europe-uk-ch" in error.problem


def test_an_area_that_does_not_cover_the_profile_is_refused():
    narrow = {"name": "EU and London", "regions": [*RAW["regions"]["eu"]["inference_regions"], "eu-west-2"]}
    error = refused(
        rf"regions\.eu\.gateway\.models\[{APPENDED}\]\.target",
        areas={"eu-london": narrow},
        model={**OPTED_IN, "processing_area": "eu-london"},
    )
    assert "eu-central-2" in error.problem and "does not cover it" in error.problem


def test_an_opt_in_on_a_model_that_stays_inside_is_refused_so_nothing_overstates_the_area():
    def edit(eu):
        nova = next(m for m in eu["gateway"]["models"] if m["name"] == "nova-pro")
        nova["processing_area"] = "europe-uk-ch"

    error = refused(
        rf"regions\.eu\.gateway\.models\[{NOVA}\]\.processing_area", areas={"europe-uk-ch": AREA}, edit=edit
    )
    assert "needs no wider area" in error.problem


def test_only_bedrock_models_take_an_area():
    def edit(eu):
        gpt = next(m for m in eu["gateway"]["models"] if m["name"] == "gpt-4o")
        gpt["processing_area"] = "europe-uk-ch"

    error = refused(rf"regions\.eu\.gateway\.models\[{GPT}\]\.processing_area", areas={"europe-uk-ch": AREA}, edit=edit)
    assert "only Bedrock models" in error.problem


@pytest.mark.parametrize(
    ("area", "problem"),
    [
        ({"name": "x", "regions": ["eu-west-2"]}, "must contain every inference region"),
        ({"name": "x", "regions": list(RAW["regions"]["eu"]["inference_regions"])}, "no wider area"),
        ({"name": "x", "regions": [*RAW["regions"]["eu"]["inference_regions"], "cn-north-1"]}, "partition"),
        ({"name": "x", "regions": [*RAW["regions"]["eu"]["inference_regions"], "London"]}, "not an AWS region"),
        ({"regions": ["eu-west-2"]}, "is required"),
        ({"name": "x", "regions": ["eu-west-2"], "note": "y"}, "unknown key"),
    ],
)
def test_malformed_areas_are_refused(area, problem):
    error = refused(r"regions\.eu\.processing_areas\.wide", areas={"wide": area})
    assert problem in error.problem


def test_the_shipped_eu_area_names_london_and_zurich_and_offers_nothing_by_itself():
    region = eu_with()
    (area,) = region.processing_areas.values()
    assert {"eu-west-2", "eu-central-2"} <= set(area.regions) and set(region.inference_regions) < set(area.regions)
    assert all(m.area is None for m in region.gateway.models)


def test_two_areas_with_one_name_are_refused():
    error = refused(r"regions\.eu\.processing_areas:", areas={"a": AREA, "b": dict(AREA)})
    assert "share a name" in error.problem
