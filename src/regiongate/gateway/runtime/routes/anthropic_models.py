"""``GET /v1/models`` and ``GET /v1/models/{id}`` for Anthropic clients (#13): they list models with
``x-api-key`` and ``anthropic-version``, and read the answer as the Anthropic SDK's ``SyncPage[ModelInfo]``
(``{"data": [ModelInfo], "first_id", "last_id", "has_more"}``) and ``ModelInfo``.

A request that carries ``anthropic-version`` gets that shape, listing the region's Claude models on Bedrock the
key may use (what ``/v1/messages`` serves), each by its catalogue name (which ``/v1/messages`` takes); its
refusals are in Anthropic's envelope (``envelopes``). Without the header the answer is OpenAI's list, whatever
key header was used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from regiongate.contract.document import ModelEntry
from regiongate.gateway.runtime import translate_messages as tm
from regiongate.gateway.runtime.transport import Request

# ModelInfo.created_at is required; Anthropic documents an epoch value for an unknown release date, and the
# catalogue has none.
UNKNOWN_RELEASE = "1970-01-01T00:00:00Z"


def wants_anthropic(headers: Mapping[str, str]) -> bool:
    return "anthropic-version" in headers


def with_x_api_key(request: Request) -> Request:
    """Anthropic clients send ``x-api-key``; the key store reads ``Authorization: Bearer`` or ``api-key``."""
    headers = dict(request.headers)
    if not headers.get("authorization") and not headers.get("api-key") and headers.get("x-api-key"):
        headers["api-key"] = headers["x-api-key"]
    return Request(request.method, request.path, headers, request.body, request.received)


def model_info(model: ModelEntry) -> dict[str, Any]:
    """An Anthropic ``ModelInfo``: the catalogue name as id, the Anthropic model id in the display name."""
    return {
        "type": "model",
        "id": model.name,
        "display_name": f"{model.name} ({tm.anthropic_id(model.target)})",
        "created_at": UNKNOWN_RELEASE,
        "lifecycle": "active",
    }


def listing(models: Iterable[ModelEntry]) -> dict[str, Any]:
    """The whole list on one page (a region serves a handful): ``has_more`` false, so no client pages on."""
    data = [model_info(m) for m in models]
    return {
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": False,
    }
