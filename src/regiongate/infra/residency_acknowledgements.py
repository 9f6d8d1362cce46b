"""Residency findings we accept on our own stacks, each on the construct it concerns, with its reason.

Asserted by tests/infra/residency/test_our_stacks.py, so an acknowledgement cannot appear or disappear unnoticed.
"""

from __future__ import annotations

from regiongate.infra.region_stack import RegionStack
from regiongate.residency import acknowledge

ALB_ACCESS_LOGS_REASON = (
    "Elastic Load Balancing writes access logs only to buckets encrypted with SSE-S3 (AES256); it cannot use a "
    "KMS key. The bucket is in the stack's region and account, blocks public access, enforces TLS and expires "
    "objects; the logs hold client IPs, paths and status codes, never request or response bodies."
)


def acknowledge_residency_findings(stack: RegionStack) -> None:
    acknowledge(stack.gateway.access_logs, "StoresEncryptedWithStackKey", ALB_ACCESS_LOGS_REASON)
