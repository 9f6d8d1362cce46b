"""Pre-call policies: each a small module, run in order after the model is resolved and before the
provider is called. A check raises a ``GatewayError`` to refuse the call and may record what it found on
the request context (guardrail outcome, violations) for the audit event.

The order is the gateway's (``Gateway.checks``): model allowlists, then input guardrails, then rate limits,
then budgets, so that the cheap, local refusals come before the ones that write to the store. Rate limits and
budgets hold something (a slot, a reservation) that the gateway releases when the request has finished.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from regiongate.contract.document import ModelEntry
from regiongate.contract.limits import DEFAULT_RESERVED_OUTPUT_TOKENS
from regiongate.gateway.runtime.context import RequestContext
from regiongate.store import KeyRecord


@dataclass(frozen=True)
class Call:
    """What a check sees: the request's context, its key, the resolved model, the input texts as
    (location, text) pairs and the most output tokens the request can produce."""

    ctx: RequestContext
    key: KeyRecord
    model: ModelEntry
    texts: list[tuple[str, str]]
    max_output_tokens: int = 0


def max_output_tokens(body: dict[str, Any]) -> int:
    """What a validated chat request can produce at most: its ``max_completion_tokens`` or ``max_tokens``,
    else the gateway's default allowance (what the budget reserves and the token rate limit counts)."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and value > 0:
            return value
    return DEFAULT_RESERVED_OUTPUT_TOKENS


class PreCallCheck(Protocol):
    def __call__(self, call: Call) -> None: ...


def run_checks(checks: Iterable[PreCallCheck], call: Call) -> None:
    for check in checks:
        check(call)
