"""Route modules, one per API the gateway speaks beside OpenAI's chat completions and embeddings.

Each module exposes ``routes(host)`` (path → method → handler); the error envelope a path answers in is
``envelopes.error_response_for`` (Anthropic's on ``/v1/messages*``), on every transport. A route module sees the
gateway through ``Host``, the shared steps every route takes (authenticate, read the body, run the checks,
price), so it never imports the service (no cycle) and the steps stay one implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from regiongate.contract.document import ModelEntry, RuntimeConfig
from regiongate.gateway.runtime.checks import PreCallCheck
from regiongate.gateway.runtime.context import RequestContext
from regiongate.gateway.runtime.providers import Registry
from regiongate.gateway.runtime.providers.retries import RetryPolicy
from regiongate.gateway.runtime.translate import Delta
from regiongate.gateway.runtime.transport import Request, Response
from regiongate.store import KeyRecord

Handler = Callable[[RequestContext, Request], Response]


class Host(Protocol):
    """What a route module uses of the gateway (``service.Gateway`` provides it)."""

    runtime: RuntimeConfig
    registry: Registry
    retry: RetryPolicy
    sleep: Callable[[float], None]
    checks: tuple[PreCallCheck, ...]
    max_request_bytes: int

    def _authenticate(self, ctx: RequestContext, request: Request) -> KeyRecord: ...
    def _body(self, ctx: RequestContext, request: Request, key: KeyRecord) -> dict[str, Any]: ...
    def _price(
        self,
        ctx: RequestContext,
        model: ModelEntry,
        input_tokens: int,
        output_tokens: int,
        *,
        cache_read: int = 0,
        cache_write: int = 0,
    ) -> dict[str, Any]: ...
    def _price_usage(self, ctx: RequestContext, model: ModelEntry, usage: Delta) -> dict[str, Any]: ...
