"""cdk-nag findings we accept, each on the construct it concerns, each with a specific reason.

Every acknowledgement here is also asserted by tests/infra/test_nag.py, so one cannot appear or
disappear unnoticed.
"""

from __future__ import annotations

from regiongate.infra.region_stack import RegionStack
from regiongate.shared_constructs.nag import acknowledge

KMS_GRANT_WILDCARDS = ("kms:GenerateDataKey*", "kms:ReEncrypt*")


def acknowledge_findings(stack: RegionStack) -> None:
    gateway = stack.gateway
    pipeline = stack.audit_pipeline

    # No gateway function with gateway.runtime: container (its task role's acknowledgements are in its construct).
    lambda_gateway = (gateway.function,) if gateway.function is not None else ()
    for function in (*lambda_gateway, pipeline.writer, stack.audit_store_rotation.function):
        acknowledge(
            function,
            "AwsSolutions-L1",
            "Pinned to python3.13, the newest Python runtime available in every region we ship, cn-north-1 "
            "included (China receives new Lambda runtimes later than the commercial regions).",
        )
    # The rotation function's use of the key is granted in the key policy (through Secrets Manager only).
    for function in (*lambda_gateway, pipeline.writer):
        role = function.role
        for action in KMS_GRANT_WILDCARDS:
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Action::{action}]",
                "CDK's grant for the stack's own KMS key (queue send / secret read); resource is that one key.",
            )

    acknowledge(
        gateway.access_logs,
        "AwsSolutions-S1",
        "This bucket receives the ALB's access logs; logging its own access would need another bucket and loop.",
    )
    acknowledge(
        stack.audit_store.instance,
        "AwsSolutions-RDS11",
        "The audit store sits in isolated subnets behind a security group open only to the two functions; "
        "a non-default port adds no protection there and breaks standard PostgreSQL tooling.",
    )
    acknowledge(
        stack.secrets.provider_credentials,
        "AwsSolutions-SMG4",
        "Holds third-party LLM provider API keys (Azure OpenAI, in-country endpoints) that only their issuer can "
        "rotate; operators rotate them at the provider and update the secret (README: Provider credentials).",
    )
