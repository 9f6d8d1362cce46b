"""The shared helpers rules rely on: intrinsic rendering, own-key detection, region spotting (no synthesis)."""

from __future__ import annotations

from regiongate.residency.model import Resource, check_in_region, is_own_key, regions_in, render
from tests.fixtures.residency import CN, EU, EU_ACCOUNT

TEMPLATE = {
    "Resources": {
        "Key": {"Type": "AWS::KMS::Key", "Properties": {}},
        "KeyAlias": {
            "Type": "AWS::KMS::Alias",
            "Properties": {"AliasName": "alias/app", "TargetKeyId": {"Ref": "Key"}},
        },
        "Repo": {"Type": "AWS::ECR::Repository", "Properties": {}},
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
    }
}
RESOURCE = Resource("Queue", "AWS::SQS::Queue", {}, {}, TEMPLATE)


def test_render_resolves_pseudo_parameters_and_own_arns():
    image = {
        "Fn::Join": [
            "",
            [
                {"Fn::Select": [4, {"Fn::Split": [":", {"Fn::GetAtt": ["Repo", "Arn"]}]}]},
                ".dkr.ecr.",
                {"Fn::Select": [3, {"Fn::Split": [":", {"Fn::GetAtt": ["Repo", "Arn"]}]}]},
                ".",
                {"Ref": "AWS::URLSuffix"},
                "/",
                {"Ref": "Repo"},
                ":tag",
            ],
        ]
    }
    assert render(image, RESOURCE, EU).startswith(f"{EU_ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/")
    assert render({"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:q"}, RESOURCE, CN) == (
        "arn:aws-cn:sqs:cn-north-1:444444444444:q"
    )
    assert render({"Fn::ImportValue": "Elsewhere"}, RESOURCE, EU) == "\u27e8?\u27e9"


def test_check_in_region_accepts_own_resources_and_refuses_unknowns():
    assert check_in_region(render({"Fn::GetAtt": ["Queue", "Arn"]}, RESOURCE, EU), EU, location="x", what="t") is None
    assert check_in_region(render({"Ref": "Queue"}, RESOURCE, EU), EU, location="x", what="t") is None
    unknown = check_in_region(render({"Fn::ImportValue": "X"}, RESOURCE, EU), EU, location="x", what="target")
    assert unknown is not None and "cannot prove" in unknown.message
    other_account = check_in_region("arn:aws:sqs:eu-central-1:999999999999:q", EU, location="x", what="target")
    assert other_account is not None and "account 999999999999" in other_account.message


def test_own_key_by_ref_getatt_and_alias_but_not_by_foreign_arn():
    assert is_own_key({"Ref": "Key"}, RESOURCE, EU)
    assert is_own_key({"Fn::GetAtt": ["Key", "Arn"]}, RESOURCE, EU)
    assert is_own_key("alias/app", RESOURCE, EU)
    assert is_own_key({"Ref": "KeyAlias"}, RESOURCE, EU)
    assert not is_own_key({"Ref": "Queue"}, RESOURCE, EU)
    assert not is_own_key(f"arn:aws:kms:eu-central-1:{EU_ACCOUNT}:key/abc", RESOURCE, EU)
    assert not is_own_key(None, RESOURCE, EU)


def test_regions_in_text():
    assert regions_in("arn:aws:logs:eu-west-1:1:log-group:x") == ["eu-west-1"]
    assert regions_in("subnet in eu-central-1a") == ["eu-central-1"]
    assert regions_in("cdk-hnb659fds-assets-111111111111-ap-southeast-1") == ["ap-southeast-1"]
    assert regions_in("cn-northwest-1 and us-gov-west-1") == ["cn-northwest-1", "us-gov-west-1"]
    assert regions_in("no-region-here-1 and use1-az1") == []
