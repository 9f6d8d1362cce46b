"""The residency rules: one module per rule, each exposing a pure ``check(resource, policy) -> RuleResult``.

The pack (``regiongate.residency.pack``) attaches the id, the text and the severity; RULES.md has one row each.
"""

from __future__ import annotations

from dataclasses import dataclass

from regiongate.residency.model import Check
from regiongate.residency.rules import (
    alarm_actions_in_region,
    backup_copies_in_region,
    bedrock_called_in_allowed_regions,
    bedrock_no_global_profiles,
    bedrock_scoped_to_inference_regions,
    china_no_global_edge,
    database_tls_verified,
    dynamodb_not_global,
    ecr_not_replicated,
    ecs_images_from_own_ecr,
    ecs_logs_in_region,
    egress_behind_dns_firewall,
    event_targets_in_region,
    kms_single_region,
    logs_stay_in_region,
    no_foreign_region_literals,
    observability_not_shared,
    partition_literals,
    rds_not_replicated,
    s3_not_replicated,
    secrets_not_replicated,
    stores_encrypted_with_stack_key,
)


@dataclass(frozen=True)
class Rule:
    id: str
    check: Check
    forbids: str
    why: str
    fix: str
    severity: str = "error"


RULES: tuple[Rule, ...] = (
    Rule(
        "SecretsNotReplicated",
        secrets_not_replicated.check,
        "Secrets Manager secrets with ReplicaRegions.",
        "A replica copies the secret value (provider API keys, database credentials) into another region.",
        "Remove replica_regions / ReplicaRegions; deploy a separate secret in each region's own stack.",
    ),
    Rule(
        "RdsNotReplicated",
        rds_not_replicated.check,
        "RDS SourceRegion, AutomaticBackupReplicationRegion, global clusters and read replicas or "
        "replication sources in another region or account.",
        "Each of these keeps a copy of the database or its backups outside the home region.",
        "Keep replicas and backups in region (Multi-AZ for availability); restore across regions by a "
        "deliberate, separate procedure, never by configuration.",
    ),
    Rule(
        "S3NotReplicated",
        s3_not_replicated.check,
        "S3 bucket ReplicationConfiguration and multi-region access points.",
        "Replication copies objects to another bucket (usually another region); a multi-region access point "
        "routes reads and writes to buckets in other regions.",
        "Remove the replication rules / access point; use versioning and in-region backups instead.",
    ),
    Rule(
        "DynamoDbNotGlobal",
        dynamodb_not_global.check,
        "DynamoDB global tables with a replica outside the home region.",
        "Every replica of a global table holds a full copy of the data in its region.",
        "Use AWS::DynamoDB::Table (or a global table with the home region as its only replica).",
    ),
    Rule(
        "KmsSingleRegion",
        kms_single_region.check,
        "Multi-region KMS keys (MultiRegion: true) and replica keys.",
        "Multi-region key material can be replicated to other regions, where it decrypts this region's data.",
        "Create a single-region key in each stack (kms.Key(multi_region=False)).",
    ),
    Rule(
        "EcrNotReplicated",
        ecr_not_replicated.check,
        "ECR replication destinations in another region or registry (account).",
        "Replication copies every pushed image out of the region or account.",
        "Remove the replication configuration; push (mirror) images into each region's own repository.",
    ),
    Rule(
        "BackupCopiesInRegion",
        backup_copies_in_region.check,
        "AWS Backup plan copy actions to a vault in another region or account.",
        "A copy action stores recovery points (full copies of the data) in the destination vault.",
        "Copy only to a vault of the same stack (same region and account), or drop the copy action.",
    ),
    Rule(
        "LogsStayInRegion",
        logs_stay_in_region.check,
        "Log subscription filters, log destinations, delivery destinations and account-wide subscription "
        "policies that send logs to another region or account.",
        "Log events may contain identifiers and metadata the region promises to keep.",
        "Deliver logs only to a stream, function or bucket of the same stack; aggregate centrally per region.",
    ),
    Rule(
        "ObservabilityNotShared",
        observability_not_shared.check,
        "CloudWatch OAM links (sharing this stack's telemetry) and OAM sinks (receiving other accounts' telemetry).",
        "Cross-account observability copies logs, metrics and traces across the isolation boundary.",
        "Monitor each region from inside its own account; share dashboards, not data.",
    ),
    Rule(
        "EventTargetsInRegion",
        event_targets_in_region.check,
        "EventBridge rule targets, pipe targets and SNS subscriptions outside the home region and account "
        "(and SNS http/https/email/sms subscriptions, which leave AWS).",
        "Events and messages carry data; a target elsewhere receives a copy.",
        "Target only resources of the same stack (Fn::GetAtt/Ref), or an event bus of the same region and account.",
    ),
    Rule(
        "AlarmActionsInRegion",
        alarm_actions_in_region.check,
        "CloudWatch alarm and composite alarm actions (alarm, OK, insufficient data) that are not an SNS topic of "
        "the same stack (its region, account and partition), and subscriptions of such a topic outside the home "
        "region or AWS (e-mail is accepted: it carries only the alarm's name and state).",
        "An alarm notification names the region's resources and their state; a topic or subscriber elsewhere "
        "receives it, and an alarm pointing out of the stack notifies no one the region's operators reach.",
        "Notify the stack's own topic (the Monitoring construct's, Ref/GetAtt); subscribe e-mail addresses or "
        "in-region queues and functions of the same stack.",
    ),
    Rule(
        "NoForeignRegionLiterals",
        no_foreign_region_literals.check,
        "Any literal AWS region other than the home region in a resource's properties, except the stack's "
        "inference regions inside Bedrock ARNs, Bedrock runtime host names and inference settings.",
        "A foreign region written into a resource is a data path or dependency out of the region.",
        "Use Stack.region / Aws.REGION or the home region; put inference regions only in the Bedrock grants.",
    ),
    Rule(
        "PartitionLiterals",
        partition_literals.check,
        "arn:aws: in an aws-cn stack, arn:aws-cn: (or any other partition) elsewhere, and amazonaws.com hosts "
        "(without .cn) in an aws-cn stack; service principals are allowed.",
        "A hard-coded partition or global endpoint breaks China deployments or reaches outside the partition.",
        "Use Stack.partition / Stack.format_arn and Stack.url_suffix (Aws.URL_SUFFIX) instead of literals.",
    ),
    Rule(
        "EcsLogsInRegion",
        ecs_logs_in_region.check,
        "ECS containers whose awslogs-region is not the home region, or whose log driver is not awslogs/awsfirelens.",
        "Container logs would be written to another region or to a third-party log service.",
        "Use ecs.LogDrivers.aws_logs with a log group of the same stack (CDK sets awslogs-region to the stack's).",
    ),
    Rule(
        "EcsImagesFromOwnEcr",
        ecs_images_from_own_ecr.check,
        "ECS container images that are not in an ECR repository of the stack's own account and region "
        "(public registries, other regions, other accounts).",
        "Pulling from elsewhere sends traffic and trust out of the region (and does not work in China).",
        "Mirror the image into the stack's repository and use ContainerImage.from_ecr_repository (by digest).",
    ),
    Rule(
        "ChinaNoGlobalEdge",
        china_no_global_edge.check,
        "In aws-cn stacks: CloudFront, Global Accelerator, classic WAF and WAFv2 with Scope CLOUDFRONT.",
        "PIPL deployments must serve from inside the country; these services run at global edge locations.",
        "Serve from the regional ALB (with ICP recordal); use regional WAF (Scope REGIONAL) if needed.",
    ),
    Rule(
        "BedrockNoGlobalProfiles",
        bedrock_no_global_profiles.check,
        "Bedrock global cross-region inference profiles (global.<model>), in ARNs or settings.",
        "A global profile may route a prompt to any commercial region in the world.",
        "Use a geography profile whose destinations are all inference regions, or a single-region model id.",
    ),
    Rule(
        "BedrockScopedToInferenceRegions",
        bedrock_scoped_to_inference_regions.check,
        "Bedrock permissions on arn:…:bedrock:*:… (any region), on a region outside the stack's inference "
        "regions (for a foundation model the operator opted into a named processing area: outside that area), "
        'or bedrock:Invoke* on Resource "*".',
        "IAM is what stops a cross-region profile from routing to a region outside the promise.",
        "Grant bedrock:InvokeModel* exactly on the profile ARN and the foundation model in each allowed region.",
    ),
    Rule(
        "BedrockCalledInAllowedRegions",
        bedrock_called_in_allowed_regions.check,
        "Bedrock invocation permissions on an inference profile, or on a foundation model that no profile of the "
        "same statement reaches, in a region outside the regions the policy lets the stack call (call_regions; "
        "default: its home region).",
        "A single-tenant stack calling another region's Bedrock endpoint processes its customer's prompts under "
        "another region's (or country's) gateway, not its own.",
        "Call every model in the stack's own region: an in-region model id, or a geography profile called from "
        "the home region whose destinations the customer opted into (inference_regions).",
    ),
    Rule(
        "StoresEncryptedWithStackKey",
        stores_encrypted_with_stack_key.check,
        "Data stores (RDS, S3, SQS, SNS, log groups, secrets, DynamoDB, ECR, EFS, Kinesis, …) not encrypted "
        "with a KMS key defined in the same stack.",
        "Only a key the stack owns (single-region, its own policy) makes the region's data unreadable elsewhere.",
        "Pass the stack's key (encryption_key / encryption_master_key / storage_encryption_key).",
    ),
    Rule(
        "EgressBehindDnsFirewall",
        egress_behind_dns_firewall.check,
        "Security group egress to 0.0.0.0/0 or ::/0 from a VPC without a Route 53 Resolver DNS Firewall (in the "
        "same template) whose rule group blocks '*' after the allowed names.",
        "Open egress lets any code in the VPC reach any host in any country; only a DNS firewall that blocks every "
        "name it does not allow keeps it to the hosts the region promises.",
        "Reach AWS APIs through VPC endpoints (egress to the endpoints' security group) and associate a DNS "
        "firewall rule group (ALLOW the provider hosts, then BLOCK '*') with the VPC.",
    ),
    Rule(
        "DatabaseTlsVerified",
        database_tls_verified.check,
        "Lambda functions and ECS containers given a database host (DB_HOST, PGHOST, DATABASE_URL, …) without a CA "
        "bundle (DB_CA_BUNDLE, PGSSLROOTCERT, sslrootcert=), or with a marker accepting an unverified connection "
        "(DB_TLS=unverified-acknowledged, PGSSLMODE below verify-ca).",
        "Without verifying the server's certificate and host name, anything on the network path can impersonate the "
        "database and read the credentials and every row the client writes.",
        "Ship the RDS CA bundle of the partition with the code and set DB_CA_BUNDLE to its path (verify-full); "
        "where no bundle is available, get it (src/regiongate/store/rds-ca/README.md) rather than acknowledging.",
    ),
)

RULES_BY_ID = {rule.id: rule for rule in RULES}
