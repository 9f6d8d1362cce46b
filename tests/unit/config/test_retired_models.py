"""A model its provider retired (``retired`` in bedrock-profiles.yaml) is refused in regions.yaml and tenant files,
as a single-region id or through a geography profile of it; the table refuses a malformed date."""

from __future__ import annotations

import copy
import datetime
from pathlib import Path

import pytest
import yaml

from regiongate.config.bedrock_profiles import PROFILES_PATH, parse_table, shipped_table
from regiongate.config.reader import ConfigError
from regiongate.config.regions import DEFAULT_CONFIG_PATH, parse_catalogue

RAW = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())


def _eu_with_target(target: str):
    data = copy.deepcopy(RAW)
    models = data["regions"]["eu"]["gateway"]["models"]
    models.append({**models[0], "name": "old-claude", "target": target})
    return parse_catalogue(data, "regions.yaml")


@pytest.mark.parametrize(
    ("target", "retired"),
    [
        ("eu.anthropic.claude-3-7-sonnet-20250219-v1:0", "2026-02-19"),  # its profile is marked
        ("eu.anthropic.claude-3-5-sonnet-20240620-v1:0", "2025-10-22"),  # through its foundation model
        ("anthropic.claude-3-haiku-20240307-v1:0", "2026-09-10"),  # a single-region id
    ],
)
def test_a_retired_model_is_refused_naming_the_date(target, retired):
    with pytest.raises(ConfigError, match=rf"was retired by its provider on {retired}") as info:
        _eu_with_target(target)
    assert info.value.key.startswith("regions.eu.gateway.models[") and info.value.key.endswith("].target")


def test_current_models_are_not_marked_and_the_shipped_catalogue_uses_none_that_is():
    table = shipped_table()
    assert table.retired("eu.anthropic.claude-sonnet-4-5-20250929-v1:0") is None
    assert table.retired("eu.amazon.nova-pro-v1:0") is None
    for region in parse_catalogue(copy.deepcopy(RAW), "regions.yaml").regions:
        for model in region.gateway.models:
            assert table.retired(model.target) is None, (region.code, model.name)


def test_the_table_refuses_a_retired_value_that_is_not_a_date():
    data = yaml.safe_load(PROFILES_PATH.read_text())
    data["profiles"]["eu.amazon.nova-pro-v1:0"]["retired"] = "soon"
    with pytest.raises(ConfigError, match="'soon' is not a date"):
        parse_table(data, Path("bedrock-profiles.yaml"))
    data["profiles"]["eu.amazon.nova-pro-v1:0"]["retired"] = "2030-01-01"
    assert parse_table(data, Path("bedrock-profiles.yaml")).profiles[
        "eu.amazon.nova-pro-v1:0"
    ].retired == datetime.date(2030, 1, 1)
