"""Placing sealed secrets from a template (residency.sealed): every fact from the template, and what is not as a
reader would expect (a multi-region key, a key of another region, a grant without encryption context, no store,
STS reached outside the region) said as a problem."""

from __future__ import annotations

import copy

from regiongate.residency.policy import ResidencyPolicy
from regiongate.residency.report_data import SealedSecrets
from regiongate.residency.sealed import sealed_placement, sentences

SPEC = SealedSecrets(
    kind="org-secrets",
    key_variable="SEAL_KEY",
    seal_sid="Seal",
    open_sid="Open",
    assume_sid="Assume",
    roles="org roles",
)
POLICY = ResidencyPolicy.strict("eu-central-1", "111111111111")
CONTEXT = {"StringEquals": {"kms:EncryptionContext:region": "eu"}}


def template() -> dict:
    key_arn = {"Fn::GetAtt": ["Key", "Arn"]}
    return {
        "Resources": {
            "Key": {"Type": "AWS::KMS::Key", "Properties": {"MultiRegion": False}},
            "Alias": {"Type": "AWS::KMS::Alias", "Properties": {"AliasName": "alias/app", "TargetKeyId": key_arn}},
            "Db": {
                "Type": "AWS::RDS::DBInstance",
                "Properties": {"StorageEncrypted": True, "KmsKeyId": key_arn},
                "Metadata": {"app:data": ["org-secrets", "other"]},
            },
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {"Environment": {"Variables": {"SEAL_KEY": key_arn}}},
            },
            "FnRole": {"Type": "AWS::IAM::Role", "Properties": {}},
            "UiRole": {"Type": "AWS::IAM::Role", "Properties": {}},
            "FnPolicy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "Roles": [{"Ref": "FnRole"}],
                    "PolicyDocument": {
                        "Statement": [
                            {"Sid": "Open", "Action": "kms:Decrypt", "Resource": key_arn, "Condition": CONTEXT},
                            {
                                "Sid": "Assume",
                                "Action": "sts:AssumeRole",
                                "Resource": {
                                    "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::*:role/app/*"]]
                                },
                            },
                        ]
                    },
                },
            },
            "UiPolicy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "Roles": [{"Ref": "UiRole"}],
                    "PolicyDocument": {
                        "Statement": [
                            {"Sid": "Seal", "Action": "kms:GenerateDataKey", "Resource": key_arn, "Condition": CONTEXT}
                        ]
                    },
                },
            },
            "Sts": {
                "Type": "AWS::EC2::VPCEndpoint",
                "Properties": {"ServiceName": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".sts"]]}},
            },
        }
    }


def place(t: dict):
    return sealed_placement(t, SPEC, metadata_key="app:data", region="eu-central-1", policy=POLICY)


def test_everything_from_the_template():
    placement = place(template())
    assert placement.problems == ()
    assert placement.stores == ("Db (AWS::RDS::DBInstance) in eu-central-1, at rest under stack key alias/app (Key)",)
    assert (
        placement.key
        == "stack key alias/app (Key), arn:aws:kms:eu-central-1:111111111111:\u27e8own:Key\u27e9, a single-region key"
    )
    assert placement.key_region == "eu-central-1"
    assert (placement.sealers, placement.openers, placement.context) == (("UiRole",), ("FnRole",), "region = eu")
    assert (placement.assumed_roles, placement.assumed_by, placement.sts_region) == (
        "arn:aws:iam::*:role/app/*",
        ("FnRole",),
        "eu-central-1",
    )
    text = " ".join(sentences(placement, SPEC))
    assert "NOT AS EXPECTED" not in text
    assert (
        "Sealed (kms:GenerateDataKey) only by UiRole; opened (kms:Decrypt) only by FnRole with the encryption "
        "context region = eu." in text
    )
    assert "Org roles (arn:aws:iam::*:role/app/*) are assumed by FnRole with STS in eu-central-1" in text


def test_a_stack_without_such_secrets_has_no_placement():
    t = template()
    del t["Resources"]["Fn"]
    t["Resources"]["Db"]["Metadata"] = {"app:data": ["other"]}
    assert place(t) is None


def problems_after(change) -> list[str]:
    t = copy.deepcopy(template())
    change(t["Resources"])
    placement = place(t)
    assert placement is not None
    text = sentences(placement, SPEC)
    assert [line for line in text if line.startswith("NOT AS EXPECTED: ")] == [
        f"NOT AS EXPECTED: {p}." for p in placement.problems
    ]
    return list(placement.problems)


def test_what_is_not_as_expected_is_said():
    def multi_region(r):
        r["Key"]["Properties"]["MultiRegion"] = True

    assert problems_after(multi_region) == [
        "the key Key is multi-region: its replicas could open the secrets elsewhere"
    ]

    def key_elsewhere(r):
        r["Fn"]["Properties"]["Environment"]["Variables"]["SEAL_KEY"] = "arn:aws:kms:us-east-1:111111111111:key/abc"

    assert problems_after(key_elsewhere) == [
        "SEAL_KEY names arn:aws:kms:us-east-1:111111111111:key/abc, which is not a KMS key of this stack",
        "the sealing key is in us-east-1, not in the stack's region eu-central-1",
    ]

    def no_context(r):
        del r["UiPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Condition"]

    assert problems_after(no_context) == ["a grant to seal or open them requires no encryption context"]

    def no_store(r):
        r["Db"]["Metadata"] = {}

    assert problems_after(no_store) == ["no resource is marked as holding org-secrets"]

    def sts_elsewhere(r):
        r["Sts"]["Properties"]["ServiceName"] = "com.amazonaws.us-east-1.sts"

    assert problems_after(sts_elsewhere) == [
        "STS is reached through an endpoint in us-east-1, not the stack's region eu-central-1"
    ]

    def no_sts(r):
        del r["Sts"]

    assert problems_after(no_sts) == [
        "STS is reached through no endpoint of the stack, not the stack's region eu-central-1"
    ]
