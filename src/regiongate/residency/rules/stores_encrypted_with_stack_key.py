"""Every store of data is encrypted with the stack's own customer-managed KMS key."""

from __future__ import annotations

from regiongate.residency.model import (
    NOT_APPLICABLE,
    Detail,
    Resource,
    RuleResult,
    as_list,
    get_path,
    is_own_key,
    verdict,
)
from regiongate.residency.policy import ResidencyPolicy

# Resource type -> the property path of its KMS key (RDS also needs StorageEncrypted; S3 is checked separately).
KEY_PROPERTY = {
    "AWS::RDS::DBInstance": ("KmsKeyId",),
    "AWS::RDS::DBCluster": ("KmsKeyId",),
    "AWS::SQS::Queue": ("KmsMasterKeyId",),
    "AWS::SNS::Topic": ("KmsMasterKeyId",),
    "AWS::Logs::LogGroup": ("KmsKeyId",),
    "AWS::SecretsManager::Secret": ("KmsKeyId",),
    "AWS::DynamoDB::Table": ("SSESpecification", "KMSMasterKeyId"),
    "AWS::DynamoDB::GlobalTable": ("SSESpecification", "KMSMasterKeyId"),
    "AWS::ECR::Repository": ("EncryptionConfiguration", "KmsKey"),
    "AWS::EFS::FileSystem": ("KmsKeyId",),
    "AWS::Kinesis::Stream": ("StreamEncryption", "KeyId"),
    "AWS::OpenSearchService::Domain": ("EncryptionAtRestOptions", "KmsKeyId"),
    "AWS::ElastiCache::ReplicationGroup": ("KmsKeyId",),
    "AWS::Backup::BackupVault": ("EncryptionKeyArn",),
}
STATEFUL_TYPES = tuple(KEY_PROPERTY) + ("AWS::S3::Bucket",)


def _bucket(resource: Resource, policy: ResidencyPolicy) -> list[Detail]:
    rules = as_list(get_path(resource.properties, "BucketEncryption", "ServerSideEncryptionConfiguration"))
    if not rules:
        return [Detail("Properties/BucketEncryption", "bucket uses the default SSE-S3 encryption, not the stack's key")]
    details = []
    for index, rule in enumerate(rules):
        default = get_path(rule, "ServerSideEncryptionByDefault") or {}
        algorithm = default.get("SSEAlgorithm")
        location = (
            f"Properties/BucketEncryption/ServerSideEncryptionConfiguration/{index}/ServerSideEncryptionByDefault"
        )
        if algorithm not in ("aws:kms", "aws:kms:dsse"):
            details.append(
                Detail(f"{location}/SSEAlgorithm", f"bucket encrypted with {algorithm}, not the stack's KMS key")
            )
        elif not is_own_key(default.get("KMSMasterKeyID"), resource, policy):
            details.append(Detail(f"{location}/KMSMasterKeyID", "bucket KMS key is not the stack's own key"))
    return details


def check(resource: Resource, policy: ResidencyPolicy) -> RuleResult:
    if resource.type == "AWS::S3::Bucket":
        return verdict(_bucket(resource, policy))
    path = KEY_PROPERTY.get(resource.type)
    if path is None:
        return NOT_APPLICABLE
    props = resource.properties
    if resource.type in ("AWS::RDS::DBInstance", "AWS::RDS::DBCluster"):
        # A read replica or a cluster member inherits the source's encryption; a cluster instance has no storage.
        if resource.type == "AWS::RDS::DBInstance" and props.get("DBClusterIdentifier") is not None:
            return NOT_APPLICABLE
        if props.get("StorageEncrypted") not in (True, "true"):
            return verdict([Detail("Properties/StorageEncrypted", "database storage is not encrypted")])
    key = get_path(props, *path)
    if key is None:
        return verdict(
            [
                Detail(
                    "Properties/" + "/".join(path),
                    "no KMS key: encrypted (if at all) with an AWS-owned or AWS-managed key",
                )
            ]
        )
    if not is_own_key(key, resource, policy):
        return verdict([Detail("Properties/" + "/".join(path), "encrypted with a key that is not the stack's own key")])
    return verdict([])
