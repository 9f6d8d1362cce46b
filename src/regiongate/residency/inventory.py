"""Reading a template for the report: what each stateful resource holds, its key, its retention, the request flow.

Everything here is a pure function of the template JSON (and the region the stack is deployed to).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from regiongate.residency.model import Resource, as_list, get_path, resources_of
from regiongate.residency.rules.stores_encrypted_with_stack_key import KEY_PROPERTY, STATEFUL_TYPES

# Types that hold data at rest; one of these without the app's data-kind metadata is "unclassified".
STATEFUL = frozenset(STATEFUL_TYPES) | {
    "AWS::Kinesis::Stream",
    "AWS::KinesisFirehose::DeliveryStream",
    "AWS::Elasticsearch::Domain",
    "AWS::ElastiCache::CacheCluster",
    "AWS::MemoryDB::Cluster",
    "AWS::Neptune::DBCluster",
    "AWS::DocDB::DBCluster",
    "AWS::Timestream::Table",
    "AWS::FSx::FileSystem",
    "AWS::EC2::Volume",
    "AWS::Redshift::Cluster",
    "AWS::S3Express::DirectoryBucket",
    "AWS::Glue::Table",
}
STATEFUL = STATEFUL - {"AWS::SNS::Topic"}  # a topic delivers, it does not keep


@dataclass(frozen=True)
class StoredItem:
    logical_id: str
    resource_type: str
    construct_path: str
    kinds: tuple[str, ...]
    region: str
    key: str
    retention: str


def _reference_target(value: Any) -> str | None:
    if isinstance(value, Mapping) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref" and isinstance(argument, str):
            return argument
        if function == "Fn::GetAtt":
            return argument.split(".", 1)[0] if isinstance(argument, str) else argument[0]
    return None


def describe_key(resource: Resource) -> str:
    """Which key encrypts ``resource``: the stack's key (by alias), SSE-S3, or none."""
    if resource.type == "AWS::S3::Bucket":
        rules = as_list(get_path(resource.properties, "BucketEncryption", "ServerSideEncryptionConfiguration"))
        default = get_path(rules[0], "ServerSideEncryptionByDefault") if rules else None
        if not default or default.get("SSEAlgorithm") == "AES256":
            return "SSE-S3 (AES256, key managed by Amazon S3)"
        value = default.get("KMSMasterKeyID")
        return key_name(value, resource) if value is not None else "aws/s3 (AWS-managed KMS key)"
    path = KEY_PROPERTY.get(resource.type)
    if path is None:
        return "-"
    if resource.type.startswith("AWS::RDS::") and resource.properties.get("StorageEncrypted") not in (True, "true"):
        return "NOT ENCRYPTED"
    value = get_path(resource.properties, *path)
    if value is None:
        if resource.type == "AWS::SQS::Queue" and resource.properties.get("SqsManagedSseEnabled") is not False:
            return "SQS-managed SSE (not the stack's key)"
        return "AWS-owned/managed key (not the stack's key)"
    return key_name(value, resource)


def key_name(value: Any, resource: Resource) -> str:
    """How the report names the key ``value`` refers to: ``stack key <alias> (<logical id>)``, or as given."""
    target = _reference_target(value)
    if target and resource.type_of(target) == "AWS::KMS::Key":
        aliases = [
            get_path(other, "Properties", "AliasName")
            for other in (resource.template.get("Resources") or {}).values()
            if other.get("Type") == "AWS::KMS::Alias"
            and _reference_target(get_path(other, "Properties", "TargetKeyId")) == target
        ]
        alias = next((a for a in aliases if isinstance(a, str)), None)
        return f"stack key {alias} ({target})" if alias else f"stack key ({target})"
    if isinstance(value, str):
        return f"external key {value}"
    return f"key {json.dumps(value)}"


def _days(seconds: Any) -> str:
    try:
        seconds = int(seconds)
    except (TypeError, ValueError):
        return str(seconds)
    if seconds % 86400 == 0:
        return f"{seconds // 86400} days"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hours"
    return f"{seconds} seconds"


def describe_retention(resource: Resource) -> str:
    props = resource.properties
    kind = resource.type
    if kind == "AWS::Logs::LogGroup":
        days = props.get("RetentionInDays")
        return f"{days} days" if days is not None else "never expires"
    if kind in ("AWS::RDS::DBInstance", "AWS::RDS::DBCluster"):
        backups = props.get("BackupRetentionPeriod")
        backups_text = (
            f"automated backups {backups} days" if backups is not None else "automated backups 1 day (default)"
        )
        return f"until deleted by the application; {backups_text}"
    if kind == "AWS::SQS::Queue":
        period = props.get("MessageRetentionPeriod")
        return f"messages {_days(period)}" if period is not None else "messages 4 days (default)"
    if kind == "AWS::S3::Bucket":
        expirations = [
            get_path(rule, "ExpirationInDays")
            for rule in as_list(get_path(props, "LifecycleConfiguration", "Rules"))
            if str(get_path(rule, "Status")) == "Enabled" and get_path(rule, "ExpirationInDays") is not None
        ]
        return f"objects expire after {min(expirations)} days" if expirations else "objects never expire"
    if kind == "AWS::ECR::Repository":
        text = get_path(props, "LifecyclePolicy", "LifecyclePolicyText")
        try:
            counts = [get_path(rule, "selection", "countNumber") for rule in json.loads(text)["rules"]] if text else []
        except (TypeError, ValueError, KeyError):
            counts = []
        counts = [c for c in counts if c]
        return f"newest {min(counts)} images" if counts else "images never expire"
    if kind == "AWS::SecretsManager::Secret":
        return "current value until replaced (deleted secrets: 7-30 day recovery window)"
    if kind in ("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable"):
        ttl = get_path(props, "TimeToLiveSpecification", "AttributeName")
        return f"items expire by TTL attribute {ttl}" if ttl else "until deleted"
    if kind == "AWS::Kinesis::Stream":
        hours = props.get("RetentionPeriodHours", 24)
        return f"{hours} hours"
    return "until deleted"


def stored_items(
    template: Mapping[str, Any], *, metadata_key: str, region: str
) -> tuple[list[StoredItem], list[StoredItem]]:
    """(classified, unclassified): resources listing their kinds under ``metadata_key``, and stateful ones without.

    ``region`` is the region the stack is deployed to (a CloudFormation stack creates its resources there).
    """
    classified: list[StoredItem] = []
    unclassified: list[StoredItem] = []
    for resource in resources_of(template):
        kinds = resource.metadata.get(metadata_key)
        if kinds is None and resource.type not in STATEFUL:
            continue
        item = StoredItem(
            logical_id=resource.logical_id,
            resource_type=resource.type,
            construct_path=str(resource.metadata.get("aws:cdk:path", "")),
            kinds=tuple(as_list(kinds)) if kinds is not None else (),
            region=region,
            key=describe_key(resource),
            retention=describe_retention(resource),
        )
        (classified if kinds is not None else unclassified).append(item)
    return classified, unclassified


# Stores an AWS service creates outside the template because of a property in it, by the id an app maps to its
# own data kind (``DataKinds.service_created``).
RDS_ENHANCED_MONITORING = "rds-enhanced-monitoring"


def service_created_items(template: Mapping[str, Any], *, kinds: Mapping[str, str], region: str) -> list[StoredItem]:
    """Stores no resource of the template declares but a resource's properties make AWS create, in ``region``.

    RDS Enhanced Monitoring (``MonitoringInterval`` above 0) writes the instance's operating-system metrics to the
    ``RDSOSMetrics`` log group, which RDS creates in the instance's region (the ``AmazonRDSEnhancedMonitoringRole``
    policy may create ``RDS*`` log groups), encrypted as CloudWatch Logs encrypts a group without a key of its own.
    """
    items: list[StoredItem] = []
    kind = kinds.get(RDS_ENHANCED_MONITORING)
    for resource in resources_of(template):
        if kind is None or resource.type != "AWS::RDS::DBInstance":
            continue
        interval = resource.properties.get("MonitoringInterval", 0)
        if not isinstance(interval, int) or interval <= 0:
            continue  # off, or not a literal (then the report cannot say)
        items.append(
            StoredItem(
                logical_id=f"RDSOSMetrics (of {resource.logical_id})",
                resource_type="AWS::Logs::LogGroup, created by RDS Enhanced Monitoring (not in the template)",
                construct_path=str(resource.metadata.get("aws:cdk:path", "")),
                kinds=(kind,),
                region=region,
                key="CloudWatch Logs' own encryption, not a key of this stack",
                retention="set by RDS, not by the template",
            )
        )
    return items


# --- request flow ----------------------------------------------------------------------------------


@dataclass
class FlowNode:
    id: str
    label: str
    detail: str
    found: bool = True


@dataclass
class Flow:
    """Chains of nodes, each drawn as one row left to right; a node id repeated across chains is one box."""

    chains: list[list[FlowNode]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _refs(value: Any) -> set[str]:
    """Every logical id referenced anywhere under ``value``."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        target = _reference_target(value)
        if target:
            found.add(target)
        for item in value.values():
            found |= _refs(item)
    elif isinstance(value, list):
        for item in value:
            found |= _refs(item)
    elif isinstance(value, str) and "${" in value:
        found |= {name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", value)}
    return found


def _short(logical_id: str) -> str:
    return re.sub(r"[0-9A-F]{8}$", "", logical_id)


def request_flow(template: Mapping[str, Any], region: str) -> Flow:
    """The request paths through the stack deployed to ``region``: client, load balancer, targets, stores."""
    resources = template.get("Resources") or {}
    by_type: dict[str, list[str]] = {}
    for logical_id, body in resources.items():
        by_type.setdefault(body.get("Type", ""), []).append(logical_id)

    def props(logical_id: str) -> Mapping[str, Any]:
        return resources.get(logical_id, {}).get("Properties") or {}

    def node(logical_id: str, label: str) -> FlowNode:
        return FlowNode(logical_id, label, f"{_short(logical_id)} ({region})")

    # Listeners: load balancer -> target groups -> targets (Lambda functions, ECS services).
    targets_of_alb: dict[str, list[str]] = {}
    listener_of_alb: dict[str, str] = {}
    for listener in by_type.get("AWS::ElasticLoadBalancingV2::Listener", []):
        alb = _reference_target(props(listener).get("LoadBalancerArn"))
        for action in as_list(props(listener).get("DefaultActions")):
            group = _reference_target(get_path(action, "TargetGroupArn"))
            if alb and group:
                targets_of_alb.setdefault(alb, []).append(group)
                listener_of_alb[alb] = (
                    f"{props(listener).get('Protocol', '?')} :{props(listener).get('Port', '?')} "
                    f"{props(listener).get('SslPolicy', '')}"
                ).strip()

    def group_targets(group: str) -> list[str]:
        found = [
            t for target in as_list(props(group).get("Targets")) if (t := _reference_target(get_path(target, "Id")))
        ]
        for service in by_type.get("AWS::ECS::Service", []):
            if any(
                _reference_target(get_path(lb, "TargetGroupArn")) == group
                for lb in as_list(props(service).get("LoadBalancers"))
            ):
                found.append(service)
        return found

    queues = set(by_type.get("AWS::SQS::Queue", []))
    databases = set(by_type.get("AWS::RDS::DBInstance", [])) | set(by_type.get("AWS::RDS::DBCluster", []))

    def env_refs(logical_id: str) -> set[str]:
        body = props(logical_id)
        if resources[logical_id]["Type"] == "AWS::Lambda::Function":
            return _refs(get_path(body, "Environment", "Variables"))
        task = _reference_target(body.get("TaskDefinition"))
        return _refs(get_path(props(task), "ContainerDefinitions")) if task else set()

    def bedrock_regions(role: str | None) -> list[str]:
        regions: set[str] = set()
        for policy_id in by_type.get("AWS::IAM::Policy", []) + by_type.get("AWS::IAM::Role", []):
            body = props(policy_id)
            attached = policy_id == role or role in {_reference_target(r) for r in as_list(body.get("Roles"))}
            if not attached:
                continue
            for text in json.dumps(body).split('"'):
                if text.startswith("arn:") and ":bedrock:" in text:
                    regions.add(text.split(":")[3])
        return sorted(regions)

    flow = Flow()
    client = FlowNode("client", "Client", "internet")

    def gateway_chains(alb_node: FlowNode, target: str, label: str, role: str | None) -> None:
        """A target that sends to a queue: the gateway, its model providers, and its audit trail's path."""
        gateway = node(target, label)
        regions = bedrock_regions(role)
        providers = FlowNode(
            "providers",
            "Amazon Bedrock",
            ", ".join(regions) if regions else "no Bedrock permission in the template",
            found=bool(regions),
        )
        flow.chains.append([client, alb_node, gateway, providers])
        for queue in sorted(env_refs(target) & queues):
            writers = [
                _reference_target(props(m).get("FunctionName"))
                for m in by_type.get("AWS::Lambda::EventSourceMapping", [])
                if _reference_target(props(m).get("EventSourceArn")) == queue
            ]
            for writer in [w for w in writers if w]:
                stores = sorted(env_refs(writer) & databases)
                chain = [gateway, node(queue, "Queue (SQS)"), node(writer, "Writer (Lambda)")]
                chain += [node(s, "Audit store (RDS)") for s in stores] or [
                    FlowNode("store", "Audit store", "not found", found=False)
                ]
                flow.chains.append(chain)

    for alb in sorted(targets_of_alb):
        alb_node = node(alb, "Application Load Balancer")
        alb_node.detail = f"{_short(alb)}; {listener_of_alb[alb]}"
        for group in targets_of_alb[alb]:
            for target in group_targets(group):
                kind = resources.get(target, {}).get("Type")
                if kind == "AWS::Lambda::Function":
                    gateway_chains(alb_node, target, "Gateway (Lambda)", _reference_target(props(target).get("Role")))
                elif kind == "AWS::ECS::Service" and env_refs(target) & queues:
                    # A service that sends to a queue is the gateway as a container (the console sends none).
                    task = _reference_target(props(target).get("TaskDefinition"))
                    role = _reference_target(props(task).get("TaskRoleArn")) if task else None
                    gateway_chains(alb_node, target, "Gateway (ECS)", role)
                elif kind == "AWS::ECS::Service":
                    service = node(target, "Console (ECS)")
                    stores = sorted(env_refs(target) & databases)
                    flow.chains.append([client, alb_node, service] + [node(s, "Audit store (RDS)") for s in stores])
    flow.chains.sort(key=lambda chain: 0 if any(n.label.startswith("Gateway") for n in chain) else 1)
    if not flow.chains:
        flow.notes.append("No load balancer forwarding to a function or service was found in the template.")
    return flow
