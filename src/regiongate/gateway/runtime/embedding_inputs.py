"""What the pre-call checks see of an embeddings request's input: its strings, or for token-id arrays a
stand-in whose token estimate is the exact token count. Content detectors cannot read token ids, so an
organisation that has detectors gets a 400 for token arrays instead of an unchecked request.
"""

from __future__ import annotations

from regiongate.contract.document import GuardrailPolicy
from regiongate.contract.errors import InvalidRequest


def check_texts(inputs: list[str] | list[list[int]], policy: GuardrailPolicy) -> list[tuple[str, str]]:
    if all(isinstance(x, str) for x in inputs):
        return [(f"input[{i}]", text) for i, text in enumerate(inputs) if isinstance(text, str)]
    if policy.detectors:
        raise InvalidRequest(
            "token-array input cannot be checked by this organisation's content guardrails; send the input as text",
            param="input",
        )
    # estimate_tokens counts 4 characters a token: 4 per token id gives the exact count
    return [(f"input[{i}]", " " * (4 * len(tokens))) for i, tokens in enumerate(inputs) if isinstance(tokens, list)]
