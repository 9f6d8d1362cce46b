"""Route modules, one per API the gateway speaks beside OpenAI's chat completions and embeddings.

Each module exposes ``routes(host)`` (path → method → handler) and, where its API has its own error
envelope, ``ERROR_RESPONSE`` for ``Gateway.handle`` to render refusals with. A route module sees the
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
from regiongate.gateway.runtime.transport import Request, Response
from regiongate.store import KeyRecord

Handler = Callable[[RequestContext, Request], Response]
ErrorResponse = Callable[[BaseException], tuple[int, dict[str, str], bytes]]


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
        self, ctx: RequestContext, model: ModelEntry, input_tokens: int, output_tokens: int
    ) -> dict[str, int]: ...
