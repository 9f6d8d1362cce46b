"""OpenAI chat format ↔ Bedrock Converse, and the normalised results every provider returns.

Providers return a ``ChatResult`` (non-streaming) or yield ``Delta`` events (streaming); the service turns
both into OpenAI responses and SSE chunks, so every provider streams the same way.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, TypedDict

from regiongate.contract.errors import InvalidRequest, UpstreamError
from regiongate.gateway.runtime import reasoning
from regiongate.gateway.runtime.guardrails import estimate_tokens

MAX_USAGE_TOKENS = 2**31 - 1  # what the audit store's integer columns hold; no real request comes near it


def usage_tokens(usage: Any, name: str) -> int:
    """A token count an upstream reported: an integer from 0 to ``MAX_USAGE_TOKENS``, or the answer is refused
    (a negative or absurd count would be billed and rolled up as it is)."""
    value = usage.get(name, 0) if isinstance(usage, dict) else 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_USAGE_TOKENS:
        raise UpstreamError(
            f"the provider reported a token usage ({name}) that is not a count from 0 to {MAX_USAGE_TOKENS}"
        )
    return value


STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "content_filtered": "content_filter",
    "guardrail_intervened": "content_filter",
}


@dataclass
class ChatResult:
    content: str | None
    tool_calls: list[dict[str, Any]]
    finish_reason: str
    input_tokens: int
    output_tokens: int
    refusal: str | None = None  # the upstream's refusal text (OpenAI models); Bedrock has none
    logprobs: Any = None  # the upstream's choice logprobs, passed on as they came
    system_fingerprint: str | None = None
    # Of input_tokens (every input token the model read): read from / written to the provider's prompt cache.
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    # Claude's extended thinking (Bedrock reasoningContent) in order, as thinking blocks (``reasoning``).
    reasoning: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Delta:
    """One streaming event: kind is text, refusal, tool_start, tool_args, fingerprint (``text`` holds the
    upstream's system_fingerprint), finish or usage. A text delta may carry the upstream's logprobs.
    Extended thinking: reasoning (``text``), reasoning_signature (``text``: the block's signature, at its end)
    and reasoning_redacted (``text``: base64 of the redacted content), ``index`` numbering the thinking blocks."""

    kind: str
    text: str = ""
    index: int = 0
    tool_id: str = ""
    name: str = ""
    finish_reason: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    logprobs: Any = field(default=None, compare=False, hash=False)
    cache_read_tokens: int = 0  # of input_tokens, as in ChatResult
    cache_write_tokens: int = 0


NO_USAGE = Delta("usage")


def text_delta(text: str, logprobs: Any = None) -> Delta:
    """``Delta("text", text=text, logprobs=logprobs)``, equal to it, made without the frozen dataclass's eleven
    ``object.__setattr__`` calls in ``__init__`` (2.0 against 0.4 µs, once per streamed token; issue 12): the
    instance holds the three fields, the others are the class's defaults, as dataclass fields with defaults are."""
    delta: Delta = object.__new__(Delta)
    delta.__dict__.update(kind="text", text=text, logprobs=logprobs)
    return delta


def abort_usage(reported: Delta | None, prompt: Iterable[tuple[str, str]], streamed: int) -> Delta:
    """What a stream the client closed is metered at. The upstream's usage when it reported one before the
    close (some OpenAI-compatible servers send it with every chunk; Bedrock and Azure only at the end), its
    output at least the content deltas relayed; otherwise an estimate: the prompt's estimated tokens and one
    output token per content delta relayed."""
    if reported is not None:
        return replace(reported, output_tokens=max(reported.output_tokens, streamed))
    return Delta("usage", input_tokens=estimate_tokens(prompt), output_tokens=streamed)


@dataclass
class EmbeddingResult:
    vectors: list[list[float]]
    input_tokens: int
    extra: dict[str, Any] = field(default_factory=dict)


class UsageFields(TypedDict):
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int


def converse_usage(usage: Any) -> UsageFields:
    """Converse's usage → input (every token read: Converse's inputTokens counts the uncached ones only), output
    and the cache reads and writes among the input."""
    read, write = usage_tokens(usage, "cacheReadInputTokens"), usage_tokens(usage, "cacheWriteInputTokens")
    uncached = usage_tokens(usage, "inputTokens")
    if uncached + read + write > MAX_USAGE_TOKENS:
        raise UpstreamError(f"the provider reported more than {MAX_USAGE_TOKENS} input tokens")
    return {
        "input_tokens": uncached + read + write,
        "output_tokens": usage_tokens(usage, "outputTokens"),
        "cache_read_tokens": read,
        "cache_write_tokens": write,
    }


def openai_usage(usage: Any) -> UsageFields:
    """An OpenAI-format usage → the same fields: prompt_tokens counts the cached ones (prompt_tokens_details)."""
    prompt = usage_tokens(usage, "prompt_tokens")
    details = usage.get("prompt_tokens_details") if isinstance(usage, dict) else None
    cached = usage_tokens(details, "cached_tokens") if isinstance(details, dict) else 0
    if cached > prompt:
        raise UpstreamError("the provider reported more cached prompt tokens than prompt tokens")
    return {
        "input_tokens": prompt,
        "output_tokens": usage_tokens(usage, "completion_tokens"),
        "cache_read_tokens": cached,
        "cache_write_tokens": 0,
    }


def finish_reason(stop_reason: str | None) -> str:
    return STOP_REASONS.get(stop_reason or "", "stop")


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content)


def _tool_input(arguments: str, where: str) -> Any:
    if not arguments:
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        raise InvalidRequest(f"{where}.function.arguments is not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidRequest(f"{where}.function.arguments must be a JSON object")
    return value


def _sends_tools(body: dict[str, Any]) -> bool:
    return bool(body.get("tools")) and body.get("tool_choice") != "none"


def _tool_use(call: dict[str, Any], where: str, as_text: bool) -> dict[str, Any]:
    name, arguments = call["function"]["name"], call["function"].get("arguments", "")
    tool_input = _tool_input(arguments, where)
    if as_text:  # no toolConfig is sent, and Bedrock refuses toolUse blocks without one
        rendered = json.dumps(tool_input, ensure_ascii=False)
        return {"text": f"[earlier tool call {call['id']}: {name}({rendered})]"}
    return {"toolUse": {"toolUseId": call["id"], "name": name, "input": tool_input}}


def _tool_result(message: dict[str, Any], as_text: bool) -> dict[str, Any]:
    text = _text_of(message.get("content"))
    if as_text:
        return {"text": f"[result of tool call {message['tool_call_id']}: {text}]"}
    return {"toolResult": {"toolUseId": message["tool_call_id"], "content": [{"text": text}]}}


def to_converse(body: dict[str, Any]) -> dict[str, Any]:
    """A validated OpenAI chat request → Converse keyword arguments (without modelId).

    Without a toolConfig (no tools, or ``tool_choice: "none"``) earlier tool calls and results are rendered
    as text: Converse rejects toolUse/toolResult blocks in a request that declares no tools, and a model
    shown no tools cannot call one.
    """
    tools_as_text = not _sends_tools(body)
    thinking = reasoning.thinking_config(body)
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []

    def append(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)  # Converse needs alternating roles
        else:
            messages.append({"role": role, "content": blocks})

    for i, message in enumerate(body["messages"]):
        role = message["role"]
        if role in ("system", "developer"):
            text = _text_of(message.get("content"))
            if text:
                system.append({"text": text})
        elif role == "user":
            text = _text_of(message.get("content"))
            append("user", [{"text": text}] if text else [])
        elif role == "assistant":
            blocks: list[dict[str, Any]] = []
            if message.get("thinking_blocks") and thinking is not None:  # only with thinking on (else unread)
                blocks += reasoning.converse_blocks(message["thinking_blocks"], f"messages[{i}].thinking_blocks")
            text = _text_of(message.get("content"))
            if text:
                blocks.append({"text": text})
            for j, call in enumerate(message.get("tool_calls") or ()):
                blocks.append(_tool_use(call, f"messages[{i}].tool_calls[{j}]", tools_as_text))
            append("assistant", blocks)
        elif role == "tool":
            append("user", [_tool_result(message, tools_as_text)])
    if not messages or messages[0]["role"] != "user":
        raise InvalidRequest("the conversation must start with a user message (after any system messages)")

    request: dict[str, Any] = {"messages": messages}
    if thinking is not None:
        reasoning.check_tool_turn(messages)
        request["additionalModelRequestFields"] = thinking
    if system:
        request["system"] = system
    inference: dict[str, Any] = {}
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens is not None:
        inference["maxTokens"] = max_tokens
    if body.get("temperature") is not None:
        inference["temperature"] = body["temperature"]
    if body.get("top_p") is not None:
        inference["topP"] = body["top_p"]
    if body.get("stop"):
        inference["stopSequences"] = list(body["stop"])
    if inference:
        request["inferenceConfig"] = inference
    tools = body.get("tools")
    if tools and not tools_as_text:
        config: dict[str, Any] = {
            "tools": [
                {
                    "toolSpec": {
                        "name": t["function"]["name"],
                        **({"description": t["function"]["description"]} if t["function"].get("description") else {}),
                        "inputSchema": {
                            "json": t["function"].get("parameters") or {"type": "object", "properties": {}}
                        },
                    }
                }
                for t in tools
            ]
        }
        choice = body.get("tool_choice")
        if choice == "required":
            config["toolChoice"] = {"any": {}}
        elif isinstance(choice, dict):
            config["toolChoice"] = {"tool": {"name": choice["function"]["name"]}}
        elif choice == "auto":
            config["toolChoice"] = {"auto": {}}
        request["toolConfig"] = config
    return request


def from_converse(response: dict[str, Any]) -> ChatResult:
    blocks = response.get("output", {}).get("message", {}).get("content", [])
    texts = []
    tool_calls = []
    thinking: list[dict[str, Any]] = []
    for block in blocks:
        if "reasoningContent" in block:
            found = reasoning.from_converse_block(block["reasoningContent"])
            if found is not None:
                thinking.append(found)
        elif "text" in block:
            texts.append(block["text"])
        elif "toolUse" in block:
            use = block["toolUse"]
            tool_calls.append(
                {
                    "id": use["toolUseId"],
                    "type": "function",
                    "function": {
                        "name": use["name"],
                        "arguments": json.dumps(use.get("input", {}), ensure_ascii=False),
                    },
                }
            )
    usage = response.get("usage", {})
    return ChatResult(
        content="".join(texts) if texts or not tool_calls else None,
        tool_calls=tool_calls,
        finish_reason=finish_reason(response.get("stopReason")),
        **converse_usage(usage),
        reasoning=thinking,
    )


def from_converse_stream(events: Iterable[dict[str, Any]]) -> Iterator[Delta]:
    """ConverseStream events → deltas. Tool blocks are numbered in order of appearance (OpenAI's index), and so
    are thinking blocks (Converse streams them as reasoningContent deltas, with no contentBlockStart)."""
    tool_index: dict[int, int] = {}
    thinking_index: dict[int, int] = {}
    for event in events:
        if "contentBlockStart" in event:
            start = event["contentBlockStart"]
            use = start.get("start", {}).get("toolUse")
            if use:
                index = tool_index[start.get("contentBlockIndex", 0)] = len(tool_index)
                yield Delta("tool_start", index=index, tool_id=use["toolUseId"], name=use["name"])
        elif "contentBlockDelta" in event:
            block = event["contentBlockDelta"]
            delta = block.get("delta", {})
            if "text" in delta:
                yield text_delta(delta["text"])
            elif "reasoningContent" in delta:
                yield from _reasoning_delta(
                    delta["reasoningContent"], block.get("contentBlockIndex", 0), thinking_index
                )
            elif "toolUse" in delta:
                index = tool_index.get(block.get("contentBlockIndex", 0), 0)
                yield Delta("tool_args", index=index, text=delta["toolUse"].get("input", ""))
        elif "messageStop" in event:
            yield Delta("finish", finish_reason=finish_reason(event["messageStop"].get("stopReason")))
        elif "metadata" in event:
            yield Delta("usage", **converse_usage(event["metadata"].get("usage", {})))


def _reasoning_delta(delta: Any, block: int, numbers: dict[int, int]) -> Iterator[Delta]:
    index = numbers.setdefault(block, len(numbers))
    if not isinstance(delta, dict):
        return
    if isinstance(delta.get("text"), str):
        yield Delta("reasoning", text=delta["text"], index=index)
    elif isinstance(delta.get("signature"), str):
        yield Delta("reasoning_signature", text=delta["signature"], index=index)
    elif isinstance(delta.get("redactedContent"), (bytes, bytearray)):
        data = base64.b64encode(bytes(delta["redactedContent"])).decode("ascii")
        yield Delta("reasoning_redacted", text=data, index=index)


def from_openai(response: dict[str, Any]) -> ChatResult:
    """An upstream OpenAI-format completion (Azure, openai_compatible) → ChatResult."""
    try:
        choice = response["choices"][0]
        message = choice.get("message") or {}
    except (KeyError, IndexError, TypeError):
        raise ValueError("upstream response has no choices") from None
    usage = response.get("usage") or {}
    return ChatResult(
        content=message.get("content"),
        tool_calls=list(message.get("tool_calls") or []),
        finish_reason=choice.get("finish_reason") or "stop",
        **openai_usage(usage),
        refusal=_string_or_none(message.get("refusal")),
        logprobs=choice.get("logprobs"),
        system_fingerprint=_string_or_none(response.get("system_fingerprint")),
    )


def _string_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def from_openai_chunks(chunks: Iterable[dict[str, Any]]) -> Iterator[Delta]:
    started: set[int] = set()
    fingerprint: str | None = None
    for chunk in chunks:
        usage = chunk.get("usage")
        if isinstance(chunk.get("system_fingerprint"), str) and chunk["system_fingerprint"] != fingerprint:
            fingerprint = chunk["system_fingerprint"]
            yield Delta("fingerprint", text=fingerprint)
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("content") or (delta.get("content") == "" and choice.get("logprobs")):
                yield text_delta(delta["content"], choice.get("logprobs"))
            if isinstance(delta.get("refusal"), str) and delta["refusal"]:
                yield Delta("refusal", text=delta["refusal"])
            for call in delta.get("tool_calls") or ():
                index = int(call.get("index", 0))
                fn = call.get("function") or {}
                if index not in started:
                    started.add(index)
                    yield Delta(
                        "tool_start", index=index, tool_id=call.get("id", f"call_{index}"), name=fn.get("name", "")
                    )
                if fn.get("arguments"):
                    yield Delta("tool_args", index=index, text=fn["arguments"])
            if choice.get("finish_reason"):
                yield Delta("finish", finish_reason=choice["finish_reason"])
        if usage:
            yield Delta("usage", **openai_usage(usage))
