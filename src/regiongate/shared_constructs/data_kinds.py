"""Which kinds of data each stateful resource holds, recorded in the template itself.

The residency report reads the ``regiongate:data`` metadata of every resource, so the "what is stored
where" table is generated from what is deployed. Prompt and completion content has no kind here: no
resource holds it.
"""

from __future__ import annotations

from aws_cdk import CfnResource
from constructs import IConstruct

METADATA_KEY = "regiongate:data"

AUDIT_METADATA = "audit-metadata"
GUARDRAIL_VIOLATIONS = "guardrail-violations"
SPEND_AND_USAGE = "spend-and-usage"
API_KEY_HASHES = "api-key-hashes"
PROVIDER_CREDENTIALS = "provider-credentials"
DATABASE_CREDENTIALS = "database-credentials"
AUDIT_EVENTS_IN_TRANSIT = "audit-events-in-transit"
FUNCTION_LOGS = "function-logs"
DATABASE_LOGS = "database-logs"
NETWORK_FLOW_LOGS = "network-flow-logs"
LOAD_BALANCER_ACCESS_LOGS = "load-balancer-access-logs"
CONSOLE_LOGS = "console-logs"
CONTAINER_IMAGES = "container-images"


def mark(construct: IConstruct, *kinds: str) -> None:
    """Record ``kinds`` on the CloudFormation resource behind ``construct`` (an L2 or an L1)."""
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to mark")
    resource.add_metadata(METADATA_KEY, sorted(kinds))
