"""Normalised snapshots of every region stack, beside (never instead of) the targeted assertions.

A change to a template shows up here as a diff to review. After an intended change, refresh with
`UPDATE_SNAPSHOTS=1 make test PYTEST_ARGS=tests/infra/test_snapshots.py` and commit the JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.fixtures.synth import normalised

SNAPSHOT_DIR = Path(__file__).parent / "snapshots"


def test_template_matches_snapshot(each_stack):
    path = SNAPSHOT_DIR / f"{each_stack.region.stack_name}.json"
    current = normalised(each_stack.template_json)
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    assert path.exists(), f"no snapshot at {path}: run with UPDATE_SNAPSHOTS=1 once and commit it"
    assert current == json.loads(path.read_text()), f"{path.name} changed; review the diff, then UPDATE_SNAPSHOTS=1"


def test_normalisation_masks_asset_hashes_only():
    template = {"Code": {"S3Key": "a" * 64 + ".zip"}, "Name": "regiongate"}
    assert normalised(template) == {"Code": {"S3Key": "<asset-hash>.zip"}, "Name": "regiongate"}
