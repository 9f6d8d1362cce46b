"""Pre-call check: the organisation's input-token limit and content detectors (``gateway.runtime.guardrails``).

A block refuses the call; a flag lets it through. Both are recorded on the request context for the audit.
"""

from __future__ import annotations

from regiongate.contract.document import RuntimeConfig
from regiongate.contract.errors import GuardrailViolation
from regiongate.gateway.runtime.checks import Call
from regiongate.gateway.runtime.guardrails import estimate_tokens, scan


class InputGuardrails:
    def __init__(self, runtime: RuntimeConfig) -> None:
        self.runtime = runtime

    def __call__(self, call: Call) -> None:
        ctx, texts = call.ctx, call.texts
        policy = self.runtime.guardrails_for(call.key.org_id)
        estimated = estimate_tokens(texts)
        if estimated > policy.max_input_tokens:
            ctx.guardrail = "block"
            ctx.violations.append(
                {
                    "detector": "max-input-tokens",
                    "action": "block",
                    "message": f"estimated {estimated} input tokens exceed the limit of {policy.max_input_tokens}",
                }
            )
            raise GuardrailViolation(f"the input is about {estimated} tokens; the limit is {policy.max_input_tokens}")
        violations = scan(texts, policy)
        ctx.violations.extend(v.as_event() for v in violations)
        blocked = [v for v in violations if v.action == "block"]
        if blocked:
            ctx.guardrail = "block"
            raise GuardrailViolation("request blocked by guardrail: " + "; ".join(v.message for v in blocked))
        if violations:
            ctx.guardrail = "flag"
