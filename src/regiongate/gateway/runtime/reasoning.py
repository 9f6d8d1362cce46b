"""Extended thinking of Claude on Bedrock for the OpenAI-shaped routes (protocol only: no transport, no pricing).

OpenAI clients ask for reasoning with an effort (chat's ``reasoning_effort``, the Responses API's
``reasoning.effort``); Converse takes ``additionalModelRequestFields.thinking = {type: enabled,
budget_tokens: N}`` and answers with ``reasoningContent`` blocks (text and signature, or redacted content).

Which models: a chat model on a Bedrock provider whose target is a Claude model (``translate_messages.anthropic_id``)
of generation 3.7 or later (Claude 3.7 Sonnet and every Claude 4 model; earlier Claude models have no extended
thinking). Decided from the catalogue's target id, so a new Claude model needs no code change.

Inside the gateway, reasoning travels in the chat format as ``thinking_blocks`` on the assistant message, in the
shape LiteLLM gives chat clients: ``{"type": "thinking", "thinking": text, "signature": sig}`` or
``{"type": "redacted_thinking", "data": base64}``. Nothing is stored: a client that wants the next turn to carry
the reasoning (Bedrock requires it while the model is calling tools) sends the blocks back, in chat as
``thinking_blocks``, in the Responses API as a reasoning item whose ``encrypted_content`` is
``encode_item(block)``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from regiongate.contract.document import ModelEntry, ProviderEntry
from regiongate.contract.errors import InvalidRequest
from regiongate.gateway.runtime.translate_messages import anthropic_id

# Thinking budget per effort (budget_tokens). Bedrock's floor is 1,024; "high" stays well inside the 32,000 output
# tokens of the smallest-output thinking models (Claude Opus 4 / 4.1) with room for the answer.
BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384}
OFF = "none"
MIN_BUDGET = 1024
# Without max_tokens the request's max_tokens becomes the budget + this room for the answer (Bedrock requires
# max_tokens > budget_tokens; the budget reservation then prices that maximum).
ANSWER_TOKENS = 4096
FIRST_GENERATION = (3, 7)
_GENERATION = re.compile(r"^claude-(?:[a-z]+-)?(\d{1,2})(?:-(\d{1,2}))?(?=-|$)")
ITEM_PREFIX = "rgthink1:"  # encrypted_content produced by this gateway: not encrypted, the model's signature signs it


def generation(target: str) -> tuple[int, int] | None:
    """The Claude generation of a Bedrock target (``eu.anthropic.claude-sonnet-4-5-20250929-v1:0`` → (4, 5),
    ``…claude-sonnet-4-20250514-v1:0`` → (4, 0), ``…claude-3-7-sonnet-…`` → (3, 7)); None if not Claude."""
    model_id = anthropic_id(target)
    match = _GENERATION.match(model_id or "")
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2) or 0)


def supports(model: ModelEntry, providers: Mapping[str, ProviderEntry]) -> bool:
    provider = providers.get(model.provider)
    if model.kind != "chat" or provider is None or provider.type != "bedrock":
        return False
    version = generation(model.target)
    return version is not None and version >= FIRST_GENERATION


def thinking_models(models: Mapping[str, ModelEntry], providers: Mapping[str, ProviderEntry]) -> list[str]:
    return sorted(m.name for m in models.values() if supports(m, providers))


def effort_of(body: Mapping[str, Any]) -> str | None:
    """The request's effort when it turns thinking on (validated by ``prepare``), else None."""
    effort = body.get("reasoning_effort")
    return effort if isinstance(effort, str) and effort in BUDGETS else None


def budget(body: Mapping[str, Any]) -> int | None:
    """budget_tokens for a prepared chat body: the effort's, or half of a smaller max_tokens."""
    effort = effort_of(body)
    if effort is None:
        return None
    wanted = BUDGETS[effort]
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(max_tokens, int) and max_tokens <= wanted:
        return max(MIN_BUDGET, max_tokens // 2)
    return wanted


def _has_blocks(body: Mapping[str, Any]) -> bool:
    return any(isinstance(m, dict) and m.get("thinking_blocks") for m in body.get("messages") or ())


def prepare(
    body: dict[str, Any],
    model: ModelEntry,
    models: Mapping[str, ModelEntry],
    providers: Mapping[str, ProviderEntry],
    *,
    param: str = "reasoning_effort",
    names: Mapping[str, str] | None = None,
) -> None:
    """Checks a validated chat body's reasoning against the model (a 400 naming the parameter) and sets
    ``max_tokens`` when thinking is on and the client set none. ``param`` is the name the client used for the
    effort, ``names`` the client's names of other chat fields (the Responses API's ``max_output_tokens``…)."""
    names = names or {}
    effort = body.get("reasoning_effort")
    if effort is not None and (not isinstance(effort, str) or effort not in (OFF, *BUDGETS)):
        raise InvalidRequest(f"{param} must be one of {', '.join((OFF, *BUDGETS))}", param=param)
    on = effort_of(body) is not None
    if not supports(model, providers):
        if on or _has_blocks(body):
            offered = thinking_models(models, providers)
            which = ", ".join(offered) if offered else "no model in this region"
            what = param if on else "reasoning sent back (thinking_blocks, reasoning items)"
            raise InvalidRequest(
                f"{what} is not supported by model {model.name}: extended thinking is offered for {which}",
                param=param if on else "messages",
            )
        return
    if not on:
        return
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens is None:
        body["max_tokens"] = BUDGETS[str(effort)] + ANSWER_TOKENS
    elif max_tokens <= MIN_BUDGET:
        name = "max_completion_tokens" if body.get("max_completion_tokens") else "max_tokens"
        name = names.get(name, name)
        raise InvalidRequest(
            f"{name} must be more than {MIN_BUDGET} with {param} (Bedrock's smallest thinking budget is "
            f"{MIN_BUDGET} tokens, which count towards it)",
            param=name,
        )
    if body.get("temperature") not in (None, 1):
        raise InvalidRequest(
            f"temperature must be 1 or absent with {param}: Claude's extended thinking takes no other temperature",
            param="temperature",
        )
    top_p = body.get("top_p")
    if top_p is not None and not 0.95 <= top_p <= 1:
        raise InvalidRequest(
            f"top_p must be between 0.95 and 1 or absent with {param} (Claude's extended thinking)", param="top_p"
        )
    choice = body.get("tool_choice")
    if choice == "required" or isinstance(choice, dict):
        raise InvalidRequest(
            f"tool_choice must be auto or none with {param}: Claude cannot be forced to call a tool while thinking",
            param="tool_choice",
        )
    if (body.get("response_format") or {}).get("type") in ("json_object", "json_schema"):
        name = names.get("response_format", "response_format")
        raise InvalidRequest(
            f"{name} json_object or json_schema is not supported with {param} on this model (it forces a tool "
            "call, which extended thinking does not allow); send one or the other",
            param=name,
        )


# --- Converse ---------------------------------------------------------------------------------------------
def thinking_config(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """``additionalModelRequestFields`` for a prepared chat body, or None when thinking is off."""
    tokens = budget(body)
    return None if tokens is None else {"thinking": {"type": "enabled", "budget_tokens": tokens}}


def converse_blocks(blocks: Any, where: str) -> list[dict[str, Any]]:
    """A message's ``thinking_blocks`` → Converse ``reasoningContent`` blocks (a 400 naming the field if malformed)."""
    if not isinstance(blocks, list):
        raise InvalidRequest(f"{where} must be an array of thinking blocks", param=where)
    out: list[dict[str, Any]] = []
    for i, block in enumerate(blocks):
        w = f"{where}[{i}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "thinking":
            text, signature = block.get("thinking"), block.get("signature")
            if not isinstance(text, str) or not isinstance(signature, str) or not signature:
                raise InvalidRequest(f"{w} needs its thinking text and signature (strings), unmodified", param=w)
            out.append({"reasoningContent": {"reasoningText": {"text": text, "signature": signature}}})
        elif kind == "redacted_thinking":
            try:
                data = base64.b64decode(str(block.get("data")), validate=True)
            except (binascii.Error, ValueError):
                raise InvalidRequest(f"{w}.data must be the base64 data the answer carried", param=w) from None
            out.append({"reasoningContent": {"redactedContent": data}})
        else:
            raise InvalidRequest(f"{w}.type must be thinking or redacted_thinking", param=w)
    return out


def check_tool_turn(messages: list[dict[str, Any]]) -> None:
    """Bedrock refuses a thinking request whose last assistant turn called tools without its reasoning first:
    the gateway says how to send it back (nothing is stored to fill it in)."""
    last = next((m for m in reversed(messages) if m["role"] == "assistant"), None)
    if last is None or not any("toolUse" in b for b in last["content"]):
        return
    if "reasoningContent" not in last["content"][0]:
        raise InvalidRequest(
            "with reasoning on, the assistant turn that called tools must be sent back with its reasoning, "
            "unmodified: in /v1/responses the reasoning item with its encrypted_content (ask for it with include: "
            '["reasoning.encrypted_content"]); in /v1/chat/completions the message\'s thinking_blocks. The gateway '
            "stores nothing to fill it in; or send this request without reasoning",
            param="messages",
        )


def from_converse_block(block: Mapping[str, Any]) -> dict[str, Any] | None:
    """A Converse ``reasoningContent`` answer block → a thinking block (None for an empty one)."""
    text = block.get("reasoningText")
    if isinstance(text, dict):
        return {"type": "thinking", "thinking": str(text.get("text", "")), "signature": str(text.get("signature", ""))}
    data = block.get("redactedContent")
    if isinstance(data, (bytes, bytearray)):
        return {"type": "redacted_thinking", "data": base64.b64encode(bytes(data)).decode("ascii")}
    return None


# --- the chat answer ----------------------------------------------------------------------------------------
def chat_fields(blocks: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The message's extension fields: ``reasoning_content`` (the thinking text) and ``thinking_blocks``."""
    blocks = list(blocks)
    if not blocks:
        return {}
    text = "".join(str(b.get("thinking", "")) for b in blocks if b.get("type") == "thinking")
    return {"reasoning_content": text, "thinking_blocks": blocks}


# --- Responses reasoning items ------------------------------------------------------------------------------
def encode_item(block: Mapping[str, Any]) -> str:
    raw = json.dumps(dict(block), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return ITEM_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii")


def decode_item(value: Any, where: str) -> dict[str, Any]:
    """A reasoning item's ``encrypted_content`` → its thinking block (a 400 for one this gateway did not make)."""
    if not isinstance(value, str) or not value.startswith(ITEM_PREFIX):
        raise InvalidRequest(
            f"{where}.encrypted_content was not produced by this gateway (reasoning of another service cannot be "
            "sent to these models); leave the item out",
            param=f"{where}.encrypted_content",
        )
    try:
        block = json.loads(base64.urlsafe_b64decode(value[len(ITEM_PREFIX) :].encode("ascii")))
    except (binascii.Error, ValueError, UnicodeError):
        raise InvalidRequest(
            f"{where}.encrypted_content is damaged; send it back as it came", param=f"{where}.encrypted_content"
        ) from None
    if not isinstance(block, dict) or block.get("type") not in ("thinking", "redacted_thinking"):
        raise InvalidRequest(
            f"{where}.encrypted_content is damaged; send it back as it came", param=f"{where}.encrypted_content"
        )
    return block
