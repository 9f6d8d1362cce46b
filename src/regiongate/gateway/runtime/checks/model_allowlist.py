"""Pre-call check: the organisation's and then the key's model allowlist."""

from __future__ import annotations

from regiongate.contract.document import RuntimeConfig
from regiongate.contract.errors import ModelNotAllowed
from regiongate.gateway.runtime.checks import Call


class ModelAllowlist:
    def __init__(self, runtime: RuntimeConfig) -> None:
        self.runtime = runtime

    def __call__(self, call: Call) -> None:
        name = call.model.name
        policy = self.runtime.guardrails_for(call.key.org_id)
        if policy.model_allowlist is not None and name not in policy.model_allowlist:
            raise ModelNotAllowed(f"model {name} is not allowed for this organisation")
        if call.key.model_allowlist is not None and name not in call.key.model_allowlist:
            raise ModelNotAllowed(f"model {name} is not allowed for this API key")
