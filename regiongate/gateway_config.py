"""The gateway part of a region's configuration (providers, models, guardrails).

Stub until the gateway issue lands. The stacks rely on two functions here:
- ``runtime_document(region)``: the JSON-able dict the gateway Lambda reads at
  ``/opt/regiongate/region.json`` (shipped in a per-stack layer);
- ``bedrock_grants(region)``: the Bedrock resources the gateway may invoke, each in one of the
  region's inference regions; the stack turns them into partition-aware ARNs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from regiongate.config import RegionConfig


@dataclass(frozen=True)
class BedrockGrant:
    aws_region: str
    resource_type: str  # "foundation-model" or "inference-profile"
    resource_id: str

    @property
    def account_scoped(self) -> bool:
        """Foundation-model ARNs have an empty account field; inference profiles belong to the account."""
        return self.resource_type != "foundation-model"


def parse_gateway(reader: Any, raw: Any, key: str, region: "RegionConfig") -> Any:
    """Validate ``regions.<code>.gateway`` (``reader`` is config._Reader: use ``reader.fail(key, problem)``)."""
    if raw is not None:
        raise reader.fail(key, "gateway configuration is not supported yet")
    return None


def runtime_document(region: "RegionConfig") -> dict[str, Any]:
    return {
        "code": region.code,
        "display_name": region.display_name,
        "aws_region": region.aws_region,
        "partition": region.partition,
        "geography": region.geography,
        "inference_regions": list(region.inference_regions),
    }


def bedrock_grants(region: "RegionConfig") -> list[BedrockGrant]:
    return []
