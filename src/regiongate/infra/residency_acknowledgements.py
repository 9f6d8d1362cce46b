"""Residency findings we accept on our own stacks, each on the construct it concerns, with its reason.

Asserted by tests/infra/residency/test_our_stacks.py, so an acknowledgement cannot appear or disappear unnoticed.
"""

from __future__ import annotations

from regiongate.infra import database_tls
from regiongate.infra.region_stack import RegionStack
from regiongate.residency import acknowledge

ALB_ACCESS_LOGS_REASON = (
    "Elastic Load Balancing writes access logs only to buckets encrypted with SSE-S3 (AES256); it cannot use a "
    "KMS key. The bucket is in the stack's region and account, blocks public access, enforces TLS and expires "
    "objects; the logs hold client IPs, paths and status codes, never request or response bodies."
)


ALARM_EMAIL_REASON = (
    "The operator's own alarm recipients (alarms.email in regions.yaml or the tenant file): SNS e-mails each "
    "alarm's name, state, threshold and metric dimensions (region, model and provider names), never request "
    "content, keys or audit rows. The topic is the stack's own, in its region, encrypted with the stack's key."
)


def acknowledge_residency_findings(stack: RegionStack) -> None:
    acknowledge(stack.gateway.access_logs, "StoresEncryptedWithStackKey", ALB_ACCESS_LOGS_REASON)
    for subscription in stack.monitoring.email_subscription_constructs:
        acknowledge(subscription, "EventTargetsInRegion", ALARM_EMAIL_REASON)
    # Only where regions.yaml (or the tenant file) says database_tls: unverified_acknowledged.
    clients = [stack.audit_pipeline.writer, stack.audit_store_rotation.function]
    if stack.gateway.function is not None:
        clients.insert(0, stack.gateway.function)
    if stack.gateway_service is not None:
        clients.append(stack.gateway_service.task_definition)
    if stack.console is not None:
        clients.append(stack.console.service.task_definition)
    region = stack.region_config
    source = "regions.yaml" if region.deployment_id == region.code else f"the tenant file of {region.stack_name}"
    database_tls.acknowledge_unverified(stack, region, clients, source)
