"""README's table of what each region keeps in its database and secrets matches the template: every row names a
data kind by its title (shared_constructs.data_kinds.TITLES) and a resource type of the EU stack marked with it,
and every kind marked on the EU database or its secrets has a row."""

from __future__ import annotations

from pathlib import Path

import pytest

from regiongate.shared_constructs import data_kinds
from tests.fixtures.synth import SYNTH_GROUP

pytestmark = pytest.mark.xdist_group(SYNTH_GROUP)
README = Path(__file__).resolve().parents[3] / "README.md"
TYPES = ("AWS::RDS::DBInstance", "AWS::SecretsManager::Secret")


def readme_rows() -> dict[str, str]:
    """Data kind -> resource type, from the README table whose header is `| data | kept in | resource |`."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index("| data | kept in | resource |")
    kind_of_title = {title: kind for kind, title in data_kinds.TITLES.items()}
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        title, _, resource = (cell.strip() for cell in line.strip("|").split(" | "))
        assert title in kind_of_title, f"README row {title!r} is not a data kind's title"
        rows[kind_of_title[title]] = resource.strip("`")
    return rows


def test_readme_storage_table_matches_the_eu_template(synthesized_app):
    template = synthesized_app.template_json("Eu")
    marked: dict[str, set[str]] = {}
    for resource in template["Resources"].values():
        if resource["Type"] in TYPES:
            for kind in resource.get("Metadata", {}).get(data_kinds.METADATA_KEY, []):
                marked.setdefault(kind, set()).add(resource["Type"])
    rows = readme_rows()
    assert data_kinds.ORG_PROVIDER_CREDENTIALS in rows
    assert {kind: {resource} for kind, resource in rows.items()} == marked
