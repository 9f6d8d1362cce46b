"""bedrock-profiles.yaml: the inference profile destinations as data, each with its source and date."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from regiongate.config import gateway as gateway_config
from regiongate.config.bedrock_profiles import (
    PROFILES_PATH,
    ProfileCheck,
    destination_regions,
    parse_profiles,
    shipped_profiles,
)
from regiongate.config.reader import ConfigError

PATH = Path("bedrock-profiles.yaml")


def entry(**changes):
    base = {
        "destinations": ["eu-central-1", "eu-west-1"],
        "source": "https://docs.aws.amazon.com/x",
        "checked": "2026-12-01",
    }
    base.update(changes)
    return {"version": 1, "profiles": {"eu.amazon.nova-pro-v1:0": {k: v for k, v in base.items() if v is not None}}}


def test_the_shipped_table_is_the_gateway_table_and_every_entry_says_where_and_when():
    profiles = shipped_profiles()
    assert PROFILES_PATH.name == "bedrock-profiles.yaml" and PROFILES_PATH.is_file()
    assert dict(gateway_config.PROFILE_DESTINATIONS) == {p: v.destinations for p, v in profiles.items()}
    for profile in profiles.values():
        assert profile.source.startswith("https://docs.aws.amazon.com/")
        assert isinstance(profile.checked, datetime.date)
    # The current AWS table: the EU Nova Pro profile also routes to Milan and Spain.
    assert {"eu-south-1", "eu-south-2"} <= set(profiles["eu.amazon.nova-pro-v1:0"].destinations)
    # The EU profiles of the newer Claude models reach London and Zurich.
    assert {"eu-west-2", "eu-central-2"} <= set(profiles["eu.anthropic.claude-sonnet-4-5-20250929-v1:0"].destinations)


@pytest.mark.parametrize(
    ("data", "key", "problem"),
    [
        (entry(source=None), "profiles.eu.amazon.nova-pro-v1:0.source", "required"),
        (entry(checked="last week"), "profiles.eu.amazon.nova-pro-v1:0.checked", "not a date"),
        (entry(destinations=["eu-west-1", "eu-west-1"]), "profiles.eu.amazon.nova-pro-v1:0.destinations", "each once"),
        (entry(destinations=["Frankfurt"]), "profiles.eu.amazon.nova-pro-v1:0.destinations[0]", "not an AWS region"),
        (entry(source="http://example.com"), "profiles.eu.amazon.nova-pro-v1:0.source", "https://"),
        (entry(regions=["eu-west-1"]), "profiles.eu.amazon.nova-pro-v1:0.regions", "unknown key"),
        (
            {"version": 1, "profiles": {"global.amazon.nova-pro-v1:0": {}}},
            "profiles.global.amazon.nova-pro-v1:0",
            "geography",
        ),
        ({"version": 2, "profiles": {}}, "version", "not supported"),
    ],
)
def test_a_malformed_table_is_refused_with_the_key(data, key, problem):
    with pytest.raises(ConfigError, match=problem) as caught:
        parse_profiles(data, PATH)
    assert caught.value.key == key


def test_destination_regions_come_from_the_foundation_model_arns():
    arns = [
        "arn:aws:bedrock:eu-west-3::foundation-model/amazon.nova-pro-v1:0",
        "arn:aws:bedrock:eu-central-1::foundation-model/amazon.nova-pro-v1:0",
        "arn:aws:bedrock:eu-west-3::foundation-model/amazon.nova-pro-v1:0",
    ]
    assert destination_regions(arns) == ("eu-central-1", "eu-west-3")
    with pytest.raises(ValueError, match="not a foundation-model ARN"):
        destination_regions(["amazon.nova-pro-v1:0"])


def test_a_check_fails_outside_the_inference_regions_and_reports_drift():
    check = ProfileCheck(
        profile_id="eu.x.y-v1:0",
        called_from="eu-central-1",
        listed=("eu-central-1", "eu-west-1"),
        live=("eu-central-1", "eu-west-1", "eu-west-2"),
        allowed=("eu-central-1", "eu-west-1"),
    )
    assert check.outside == ("eu-west-2",) and check.drifted
    text = "\n".join(check.lines())
    assert "FAIL: eu-west-2 outside inference_regions (eu-central-1, eu-west-1)" in text
    assert "DRIFT: bedrock-profiles.yaml lists eu-central-1, eu-west-1 (not in the file: eu-west-2)" in text
    same = ProfileCheck("eu.x.y-v1:0", "eu-central-1", ("eu-central-1",), ("eu-central-1",), ("eu-central-1",))
    assert same.lines()[-1] == "  ok: within the file's destinations and inside inference_regions"


def test_a_calling_region_routed_to_fewer_regions_than_listed_is_a_note_not_drift():
    # The file lists what a call from any of its regions may reach (AWS's tables route London's calls further than
    # Frankfurt's): the account's answer for one calling region may be narrower, and that keeps the promise.
    check = ProfileCheck(
        profile_id="eu.x.y-v1:0",
        called_from="eu-central-1",
        listed=("eu-central-1", "eu-west-1", "eu-west-2"),
        live=("eu-central-1", "eu-west-1"),
        allowed=("eu-central-1", "eu-west-1", "eu-west-2"),
    )
    assert not check.drifted and not check.outside and check.narrower == ("eu-west-2",)
    lines = check.lines()
    assert (
        "  note: from eu-central-1 the account routes to fewer regions than the file lists (not: eu-west-2)"
        in (lines[1])
    )
    assert lines[-1] == "  ok: within the file's destinations and inside inference_regions"
