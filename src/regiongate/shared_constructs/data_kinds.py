"""Which kinds of data each stateful resource holds, recorded in the template itself.

The residency report reads the ``regiongate:data`` metadata of every resource, so the "what is stored
where" table is generated from what is deployed. Prompt and response content is listed too, though no
resource may hold it: the report shows which resources are marked with it (none, unless something is wrong).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from constructs import IConstruct

METADATA_KEY = "regiongate:data"

PROMPT_AND_RESPONSE_CONTENT = "prompt-and-response-content"
AUDIT_METADATA = "audit-metadata"
GUARDRAIL_VIOLATIONS = "guardrail-violations"
SPEND_AND_USAGE = "spend-and-usage"
API_KEY_HASHES = "api-key-hashes"
MEMORY_CONTENT = "memory-content"
PROVIDER_CREDENTIALS = "provider-credentials"
ORG_PROVIDER_CREDENTIALS = "org-provider-credentials"
DATABASE_CREDENTIALS = "database-credentials"
CONSOLE_SSO_CLIENT_SECRET = "console-sso-client-secret"
AUDIT_EVENTS_IN_TRANSIT = "audit-events-in-transit"
FUNCTION_LOGS = "function-logs"
DATABASE_LOGS = "database-logs"
DATABASE_HOST_METRICS = "database-host-metrics"
NETWORK_FLOW_LOGS = "network-flow-logs"
DNS_QUERY_LOGS = "dns-query-logs"
LOAD_BALANCER_ACCESS_LOGS = "load-balancer-access-logs"
CONSOLE_LOGS = "console-logs"
GATEWAY_TASK_LOGS = "gateway-task-logs"
CONTAINER_IMAGES = "container-images"

# Display order and wording in the residency report; kinds not listed here follow, sorted.
TITLES: dict[str, str] = {
    PROMPT_AND_RESPONSE_CONTENT: "Prompt and response content",
    AUDIT_METADATA: "Audit metadata (model, tokens, cost, latency, key id, org, time)",
    GUARDRAIL_VIOLATIONS: "Guardrail violations (type and message, not the blocked content)",
    SPEND_AND_USAGE: "Spend and usage aggregates",
    API_KEY_HASHES: "API key hashes",
    MEMORY_CONTENT: (
        "Memory content: facts an org asked to be remembered and their vector embeddings (Memory-as-a-Service, "
        "only for orgs that enable it; this is content)"
    ),
    PROVIDER_CREDENTIALS: "Provider credentials (API keys of the LLM providers)",
    ORG_PROVIDER_CREDENTIALS: (
        "Organisations' own provider credentials (their API keys, each sealed with a KMS data key of its own, and "
        "the ARNs of their Bedrock roles)"
    ),
    DATABASE_CREDENTIALS: "Database credentials",
    CONSOLE_SSO_CLIENT_SECRET: "Console single sign-on client secret (OpenID Connect)",
    AUDIT_EVENTS_IN_TRANSIT: "Audit events in transit (queue)",
    FUNCTION_LOGS: "Function logs",
    DATABASE_LOGS: "Database logs",
    DATABASE_HOST_METRICS: (
        "Database host metrics (the database instance's operating-system counters: CPU, memory, processes; no data "
        "of the database)"
    ),
    CONSOLE_LOGS: "Console logs",
    GATEWAY_TASK_LOGS: "Gateway task logs (container runtime)",
    NETWORK_FLOW_LOGS: "Network flow logs",
    DNS_QUERY_LOGS: "DNS query logs (names the VPC resolved or was refused)",
    LOAD_BALANCER_ACCESS_LOGS: "Load balancer access logs",
    CONTAINER_IMAGES: "Container images",
}
# Kinds no resource may hold; the report lists them even when no resource is marked with them.
NEVER_STORED = (PROMPT_AND_RESPONSE_CONTENT,)
# Where a resource is marked, for the report's "unclassified" hint.
WHERE_TO_MARK = "regiongate.shared_constructs.data_kinds.mark"


def mark(construct: IConstruct, *kinds: str) -> None:
    """Record ``kinds`` on the CloudFormation resource behind ``construct`` (an L2 or an L1)."""
    # Imported here so that reading the titles above (the residency report, pure Python) does not start jsii.
    from aws_cdk import CfnResource

    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to mark")
    resource.add_metadata(METADATA_KEY, sorted(kinds))
