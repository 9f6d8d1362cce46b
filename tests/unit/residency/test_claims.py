"""Sentences about a template's residency: stated when the template shows them, otherwise the exceptions named."""

from __future__ import annotations

from regiongate.residency.claims import encryption_sentence, region_sentence
from tests.fixtures.residency import EU

KEY = {"Type": "AWS::KMS::Key", "Properties": {}}
ALIAS = {
    "Type": "AWS::KMS::Alias",
    "Properties": {"AliasName": "alias/app", "TargetKeyId": {"Fn::GetAtt": ["Key", "Arn"]}},
}
OWN_KEY_QUEUE = {"Type": "AWS::SQS::Queue", "Properties": {"KmsMasterKeyId": {"Fn::GetAtt": ["Key", "Arn"]}}}
SSE_S3_BUCKET = {
    "Type": "AWS::S3::Bucket",
    "Properties": {
        "BucketEncryption": {
            "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        }
    },
}
REPLICATED_SECRET = {
    "Type": "AWS::SecretsManager::Secret",
    "Properties": {"KmsKeyId": {"Ref": "Key"}, "ReplicaRegions": [{"Region": "us-east-1"}]},
}


def test_every_resource_in_the_region_when_no_rule_finds_data_leaving():
    template = {"Resources": {"Key": KEY, "KeyAlias": ALIAS, "Queue": OWN_KEY_QUEUE}}
    assert region_sentence(template, EU, "eu-central-1") == "3 resources, every one in eu-central-1"


def test_a_replicated_resource_is_named_instead_of_the_claim():
    template = {"Resources": {"Key": KEY, "Queue": OWN_KEY_QUEUE, "Secret": REPLICATED_SECRET}}
    sentence = region_sentence(template, EU, "eu-central-1")
    assert "every one" not in sentence
    assert sentence.startswith("3 resources in eu-central-1, of which 1 keep or send data elsewhere: Secret (")
    assert "SecretsNotReplicated" in sentence


def test_a_stack_deployed_elsewhere_than_its_home_region_is_said():
    template = {"Resources": {"Key": KEY}}
    assert region_sentence(template, EU, "us-east-1") == (
        "1 resource, deployed to us-east-1, not the home region eu-central-1"
    )


def test_every_store_encrypted_with_the_stacks_key_names_the_key():
    template = {"Resources": {"Key": KEY, "KeyAlias": ALIAS, "Queue": OWN_KEY_QUEUE}}
    assert encryption_sentence(template, EU) == (
        "every one of the 1 data store encrypted with the stack's own KMS key (alias/app)"
    )


def test_a_store_not_encrypted_with_the_stacks_key_is_named():
    template = {"Resources": {"Key": KEY, "KeyAlias": ALIAS, "Queue": OWN_KEY_QUEUE, "Logs": SSE_S3_BUCKET}}
    sentence = encryption_sentence(template, EU)
    assert "every one" not in sentence
    assert sentence == (
        "1 of the 2 data stores encrypted with the stack's own KMS key (alias/app); "
        "not: Logs (AWS::S3::Bucket: SSE-S3 (AES256, key managed by Amazon S3))"
    )


def test_no_stores_and_no_key_are_said_as_such():
    assert encryption_sentence({"Resources": {"Key": KEY}}, EU) == "no data stores"
    queue = {"Type": "AWS::SQS::Queue", "Properties": {}}
    assert encryption_sentence({"Resources": {"Queue": queue}}, EU) == (
        "0 of the 1 data stores encrypted with a KMS key of the stack (it defines none); "
        "not: Queue (AWS::SQS::Queue: SQS-managed SSE (not the stack's key))"
    )
