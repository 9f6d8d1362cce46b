"""`regiongate summary`: the region and partition of a stack come from its environment, and a template whose
metadata says otherwise is shown as such."""

from __future__ import annotations

import json

from regiongate.cli.commands.summary import stack_rows


def assembly(tmp_path, environment: str, metadata: dict) -> None:
    (tmp_path / "Eu.template.json").write_text(
        json.dumps({"Metadata": {"regiongate": metadata}, "Resources": {"A": {}}})
    )
    manifest = {
        "artifacts": {
            "Eu": {
                "type": "aws:cloudformation:stack",
                "environment": environment,
                "properties": {"templateFile": "Eu.template.json"},
            }
        }
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))


def test_region_and_partition_of_the_environment(tmp_path):
    assembly(tmp_path, "aws://111111111111/cn-north-1", {"aws_region": "cn-north-1", "partition": "aws-cn"})
    (row,) = stack_rows(tmp_path)
    assert (row["aws region"], row["partition"], row["resources"]) == ("cn-north-1", "aws-cn", "1")


def test_metadata_that_disagrees_with_the_environment_is_shown(tmp_path):
    assembly(tmp_path, "aws://111111111111/eu-central-1", {"aws_region": "eu-west-1", "partition": "aws"})
    (row,) = stack_rows(tmp_path)
    assert row["aws region"] == "eu-central-1 (metadata says eu-west-1)"
    assert row["partition"] == "aws"
