"""Normalised snapshots of the example tenant stacks, beside (never instead of) the targeted assertions in
test_tenant_stacks.py. The China tenant's snapshot is what catches a CDK release breaking aws-cn.

After an intended change, refresh with
`UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/tenants/test_tenant_snapshots.py` and commit the JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.fixtures.synth import normalised

SNAPSHOT_DIR = Path(__file__).parent / "snapshots"


def test_tenant_template_matches_snapshot(each_tenant):
    path = SNAPSHOT_DIR / f"{each_tenant.stack.stack_name}.json"
    current = normalised(each_tenant.template_json)
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    assert path.exists(), f"no snapshot at {path}: run with UPDATE_SNAPSHOTS=1 once and commit it"
    assert current == json.loads(path.read_text()), f"{path.name} changed; review the diff, then UPDATE_SNAPSHOTS=1"
