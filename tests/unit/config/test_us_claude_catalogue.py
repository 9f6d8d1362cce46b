"""regions.us serves the current Claude models by default: their US profiles, called from us-east-1, stay in the
region's inference_regions (bedrock-profiles.yaml), so the gateway is granted them there and nowhere else."""

from __future__ import annotations

import copy

import pytest
import yaml

from regiongate.config.bedrock_profiles import shipped_table
from regiongate.config.gateway import bedrock_grants
from regiongate.config.regions import DEFAULT_CONFIG_PATH, ConfigError, parse_catalogue

RAW = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
US_CLAUDE = {
    "claude-sonnet-4-6": "us.anthropic.claude-sonnet-4-6",
    "claude-sonnet-4-5": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "claude-haiku-4-5": "us.anthropic.claude-haiku-4-5-20251001-v1:0",
}


def _us():
    return parse_catalogue(copy.deepcopy(RAW), "regions.yaml").region("us")


def test_the_us_catalogue_offers_the_current_claude_models_inside_its_inference_regions():
    us = _us()
    claude = {m.name: m for m in us.gateway.models if "anthropic" in m.target}
    assert {name: m.target for name, m in claude.items()} == US_CLAUDE
    for model in claude.values():
        assert model.area is None and model.processing_area is None  # no wider area: inside the promise
        assert set(model.destinations) == {"us-east-1", "us-east-2", "us-west-2"}
        assert set(model.destinations) <= set(us.inference_regions)
        assert shipped_table().retired(model.target) is None


def test_the_gateway_is_granted_the_claude_models_only_in_the_profiles_destinations():
    grants = bedrock_grants(_us())
    for profile in US_CLAUDE.values():
        foundation = profile.split(".", 1)[1]
        assert {g.aws_region for g in grants if g.resource_id == foundation} == {"us-east-1", "us-east-2", "us-west-2"}
        assert {g.aws_region for g in grants if g.resource_id == profile} == {"us-east-1"}
    assert not any(g.aws_region == "us-west-1" for g in grants)


def test_a_us_claude_profile_listed_with_us_west_1_is_still_refused_by_default():
    data = copy.deepcopy(RAW)
    models = data["regions"]["us"]["gateway"]["models"]
    models.append({**models[0], "name": "claude-sonnet-4", "target": "us.anthropic.claude-sonnet-4-20250514-v1:0"})
    with pytest.raises(ConfigError, match=r"may route prompts to us-west-1, outside this region's inference_regions"):
        parse_catalogue(data, "regions.yaml")
