"""The Claude opt-in example regions.yaml ships commented out under regions.eu: uncommented, it is valid, every
entry opts into the wider europe-uk-ch area, and the test catalogue (tests/fixtures/processing_area.py) is exactly
that example's claude-sonnet-4-5 entry, so what the tests serve is what an operator would enable."""

from __future__ import annotations

import copy
import re

import yaml

from regiongate.config.regions import DEFAULT_CONFIG_PATH, parse_catalogue
from tests.fixtures.processing_area import AREA_ID, MODEL, opted_in_data

# A commented list item (`# - {name: claude-…`) and the commented lines continuing it (`#    …`).
_ITEM = re.compile(r"^ {8}# - (\{name: claude-.*)$")
_CONTINUED = re.compile(r"^ {8}# {3}(.*)$")


def commented_claude_entries() -> list[dict]:
    entries, current = [], None
    for line in DEFAULT_CONFIG_PATH.read_text().splitlines():
        item, more = _ITEM.match(line), _CONTINUED.match(line)
        if item:
            current = [item.group(1)]
            entries.append(current)
        elif more and current is not None:
            current.append(more.group(1))
        else:
            current = None
    return [yaml.safe_load(" ".join(parts)) for parts in entries]


def test_the_commented_example_is_valid_and_opts_every_claude_entry_into_the_named_area():
    entries = commented_claude_entries()
    assert [e["name"] for e in entries] == ["claude-sonnet-4-5", "claude-haiku-4-5"]
    data = copy.deepcopy(yaml.safe_load(DEFAULT_CONFIG_PATH.read_text()))
    data["regions"]["eu"]["gateway"]["models"].extend(entries)
    eu = parse_catalogue(data, "regions.yaml").region("eu")
    opted = [m for m in eu.gateway.models if m.name.startswith("claude-")]
    assert [m.name for m in opted] == ["claude-sonnet-4-5", "claude-haiku-4-5"]
    assert all(m.area is not None and m.area.name == "Europe incl. UK and Switzerland" for m in opted)
    assert all({"eu-west-2", "eu-central-2"} <= set(m.destinations) for m in opted)
    # The shipped file itself (the example commented out) serves no Claude model in the EU.
    shipped = parse_catalogue(copy.deepcopy(yaml.safe_load(DEFAULT_CONFIG_PATH.read_text()))).region("eu")
    assert not [m.name for m in shipped.gateway.models if m.name.startswith("claude-")]


def test_the_test_catalogue_serves_the_examples_claude_sonnet_4_5_entry():
    (example,) = [e for e in commented_claude_entries() if e["name"] == MODEL]
    (fixture,) = [m for m in opted_in_data()["regions"]["eu"]["gateway"]["models"] if m["name"] == MODEL]
    assert example == fixture and example["processing_area"] == AREA_ID
