"""Pre-call policies: each a small module, run in order after the model is resolved and before the
provider is called. A check raises a ``GatewayError`` to refuse the call and may record what it found on
the request context (guardrail outcome, violations) for the audit event.

The order is the gateway's (``Gateway.checks``): model allowlists, then input guardrails, then budgets,
so that the cheap, local refusals come before the one that reads the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from regiongate.contract.document import ModelEntry
from regiongate.gateway.runtime.context import RequestContext
from regiongate.store import KeyRecord


@dataclass(frozen=True)
class Call:
    """What a check sees: the request's context, its key, the resolved model and the input texts as
    (location, text) pairs."""

    ctx: RequestContext
    key: KeyRecord
    model: ModelEntry
    texts: list[tuple[str, str]]


class PreCallCheck(Protocol):
    def __call__(self, call: Call) -> None: ...


def run_checks(checks: Iterable[PreCallCheck], call: Call) -> None:
    for check in checks:
        check(call)
