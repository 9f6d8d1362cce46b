"""OpenAI chat and embedding parameters that Bedrock cannot honour: a 400 naming the parameter and the
provider, never a silent drop. Converse has no seed, no penalties, no log probabilities and no switch for
parallel tool calls; of the embedding models only Titan Text Embeddings v2 takes ``dimensions``.
"""

from __future__ import annotations

from typing import Any

from regiongate.contract.errors import InvalidRequest

TITAN_V2_DIMENSIONS = (256, 512, 1024)


def _refuse(param: str, provider: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"{param} is not supported by provider {provider} (Bedrock): {why}", param=param)


def check_chat(body: dict[str, Any], provider: str) -> None:
    """Raises for a chat parameter Converse has no equivalent of (defaults that change nothing pass)."""
    if body.get("seed") is not None:
        raise _refuse("seed", provider, "Converse has no seed; remove it")
    for name in ("presence_penalty", "frequency_penalty"):
        if body.get(name) not in (None, 0):
            raise _refuse(name, provider, "Converse has no penalties; remove it or send 0")
    if body.get("logprobs"):
        raise _refuse("logprobs", provider, "Converse returns no log probabilities; remove it or send false")
    if body.get("top_logprobs") is not None:
        raise _refuse("top_logprobs", provider, "Converse returns no log probabilities; remove it")
    if body.get("parallel_tool_calls") is False and body.get("tools") and body.get("tool_choice") != "none":
        raise _refuse("parallel_tool_calls", provider, "Converse cannot stop the model calling several tools at once")


def embedding_dimensions(target: str, dimensions: int | None, provider: str) -> int | None:
    """The ``dimensions`` to send to a Bedrock embedding model, or a 400 where it cannot be honoured."""
    if dimensions is None:
        return None
    if not target.startswith("amazon.titan-embed-text-v2"):
        raise _refuse("dimensions", provider, "this embedding model has a fixed size")
    if dimensions not in TITAN_V2_DIMENSIONS:
        raise InvalidRequest(
            f"dimensions must be one of {', '.join(map(str, TITAN_V2_DIMENSIONS))} for this model", param="dimensions"
        )
    return dimensions


def embedding_texts(inputs: list[str] | list[list[int]], provider: str) -> list[str]:
    """Bedrock's embedding models take text only: token-id arrays are a 400."""
    texts = [x for x in inputs if isinstance(x, str)]
    if len(texts) != len(inputs):
        raise _refuse("input", provider, "token-id arrays cannot be embedded by Bedrock models; send the input as text")
    return texts
