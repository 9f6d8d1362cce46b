"""The China stack is pure aws-cn; the others never mention aws-cn."""

from __future__ import annotations

import json
import re

import pytest

GLOBAL_ENDPOINT = re.compile(r"\.amazonaws\.com(?!\.cn)")


def test_cn_template_has_no_global_partition_arn(synthesized):
    text = synthesized["Cn"].text
    assert "arn:aws:" not in text
    assert "arn:aws-cn:" in text  # the partition literal is rendered, not a Ref to AWS::Partition


def test_cn_template_names_no_global_endpoint_host(synthesized):
    """Service principals look like hosts (CDK renders them as *.amazonaws.com in China too); endpoints are the rest."""
    template = synthesized["Cn"].template_json
    offenders = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "Principal":
                    continue
                walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")
        elif isinstance(node, str) and GLOBAL_ENDPOINT.search(node):
            offenders.append((path, node))

    walk(template["Resources"], "Resources")
    # kms:ViaService names the calling service, not an endpoint we connect to (CDK's Secrets Manager grant).
    offenders = [(p, v) for p, v in offenders if "kms:ViaService" not in p]
    assert offenders == []


@pytest.mark.parametrize("name", ["Eu", "Us", "Sg"])
def test_global_templates_never_mention_aws_cn(synthesized, name):
    text = synthesized[name].text
    assert "aws-cn" not in text
    assert "amazonaws.com.cn" not in text
    assert "cn-north-1" not in text and "cn-northwest-1" not in text


def test_each_stack_names_only_its_own_region(synthesized):
    regions = {name: s.region.aws_region for name, s in synthesized.items()}
    for name, s in synthesized.items():
        text = json.dumps(s.template_json["Resources"])
        for other_name, other_region in regions.items():
            if other_region != regions[name]:
                assert other_region not in text, f"{name} mentions {other_name}'s region {other_region}"
