"""Anthropic Messages API ↔ Bedrock's native Anthropic body (protocol only: no transport, no pricing).

Clients speak Anthropic's Messages API (``POST /v1/messages``); Bedrock's InvokeModel takes the same body
for Claude models with ``anthropic_version: bedrock-2023-05-31`` in place of the ``anthropic-version``
header, the betas in ``anthropic_beta`` and no ``model`` or ``stream`` field. This module validates the
request (a clear 400 naming the field), builds that body, maps Anthropic model ids to the region's
catalogue, renders Anthropic's SSE events and error envelope, and reads usage from the answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from regiongate.common.json_text import compact_unicode_json
from regiongate.contract.document import ModelEntry, ProviderEntry
from regiongate.contract.errors import GatewayError, InvalidRequest, UpstreamError

BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31"
# The Messages API version Bedrock's bedrock-2023-05-31 body corresponds to. Later dated versions (the SDKs
# send their own) are accepted and answered in that shape; earlier ones (2023-01-01: another streaming
# format) are refused. The header is optional here.
FIRST_API_VERSION = "2023-06-01"
_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Betas Bedrock's InvokeModel accepts for Claude (AWS user guide, "Anthropic Claude Messages API", request
# parameter anthropic_beta). Others are not sent to Bedrock, which rejects unknown betas; the answer names
# them in the x-regiongate-dropped-betas header.
BEDROCK_BETAS = frozenset(
    {
        "computer-use-2024-10-22",
        "computer-use-2025-01-24",
        "token-efficient-tools-2025-02-19",
        "interleaved-thinking-2025-05-14",
        "output-128k-2025-02-19",
        "dev-full-thinking-2025-05-14",
        "context-1m-2025-08-07",
        "context-management-2025-06-27",
        "effort-2025-11-24",
        "tool-search-tool-2025-10-19",
        "tool-examples-2025-10-29",
        "fine-grained-tool-streaming-2025-05-14",
    }
)
# Request fields passed to Bedrock as they are (after validation of their shape where it matters).
PASSED_FIELDS = frozenset(
    {
        "messages",
        "max_tokens",
        "system",
        "stop_sequences",
        "temperature",
        "top_p",
        "top_k",
        "tools",
        "tool_choice",
        "thinking",
        "context_management",
    }
)
# Accepted and not sent: ``metadata.user_id`` is Anthropic's abuse-tracking id, which Bedrock's body does not
# take (it rejects the field); ``model`` and ``stream`` select the route and the operation.
DROPPED_FIELDS = frozenset({"model", "stream", "metadata"})
BLOCK_TYPES = frozenset(
    {"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking", "search_result"}
)
# Anthropic's server tools run on Anthropic's side (web search and fetch reach the internet, code execution
# and MCP connectors run outside the region): Bedrock does not offer them.
SERVER_TOOL_PREFIXES = ("web_search", "web_fetch", "code_execution", "mcp")
MAX_MESSAGES = 4096
MAX_TOOLS = 512
MAX_STOP_SEQUENCES = 16
# The version suffix is optional: newer models have none (``us.anthropic.claude-sonnet-4-6``).
_PROFILE_PREFIX = re.compile(r"^(?:(?!global\.)[a-z][a-z-]*\.)?anthropic\.(?P<id>.+?)(?:-v\d+(?::\d+)?)?$")


# --- model names ------------------------------------------------------------------------------------------
def anthropic_id(target: str) -> str | None:
    """The Anthropic model id of a Bedrock target (``eu.anthropic.claude-3-7-sonnet-20250219-v1:0`` →
    ``claude-3-7-sonnet-20250219``, ``us.anthropic.claude-sonnet-4-6`` → ``claude-sonnet-4-6``); ``None`` for
    other models and for ``global.`` profiles."""
    match = _PROFILE_PREFIX.match(target)
    return match.group("id") if match else None


def foundation_model_id(target: str) -> str:
    """The foundation model behind an in-region profile (``eu.anthropic.x-v1:0`` → ``anthropic.x-v1:0``):
    CountTokens takes foundation model ids only."""
    head, _, rest = target.partition(".")
    return rest if head != "anthropic" and rest.startswith("anthropic.") else target


def claude_models(models: Mapping[str, ModelEntry], providers: Mapping[str, ProviderEntry]) -> list[ModelEntry]:
    """The region's chat models that are Claude on Bedrock (what ``/v1/messages`` serves)."""
    return [
        m
        for m in models.values()
        if m.kind == "chat"
        and providers.get(m.provider) is not None
        and providers[m.provider].type == "bedrock"
        and anthropic_id(m.target) is not None
    ]


def find_model(
    name: str, models: Mapping[str, ModelEntry], providers: Mapping[str, ProviderEntry]
) -> ModelEntry | None:
    """A catalogue name, or an Anthropic model id mapped to the region's in-region profile of that model."""
    entry = models.get(name)
    if entry is not None:
        return entry
    for model in claude_models(models, providers):
        if anthropic_id(model.target) == name:
            return model
    return None


# --- headers ----------------------------------------------------------------------------------------------
def check_version(headers: Mapping[str, str]) -> None:
    version = headers.get("anthropic-version")
    if version is None:
        return
    version = version.strip()
    if not _VERSION.match(version) or version < FIRST_API_VERSION:
        raise InvalidRequest(
            f"anthropic-version {version[:40]!r} is not supported; send {FIRST_API_VERSION} or a later dated version"
        )


def split_betas(headers: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(betas sent to Bedrock, betas dropped) from the ``anthropic-beta`` header (comma-separated)."""
    raw = headers.get("anthropic-beta") or ""
    names = [b.strip() for b in raw.split(",") if b.strip()]
    kept = [b for b in names if b in BEDROCK_BETAS]
    dropped = [b for b in names if b not in BEDROCK_BETAS]
    return kept, dropped


# --- validation -------------------------------------------------------------------------------------------
def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def _expect(value: Any, types: tuple[type, ...], where: str, what: str) -> Any:
    if isinstance(value, bool) and bool not in types:
        raise InvalidRequest(f"{where}: must be {what}, got boolean")
    if not isinstance(value, types):
        raise InvalidRequest(f"{where}: must be {what}, got {_type_name(value)}")
    return value


def _number(body: Mapping[str, Any], name: str, low: float, high: float) -> None:
    if body.get(name) is None:
        return
    value = _expect(body[name], (int, float), name, "a number")
    if not low <= value <= high:
        raise InvalidRequest(f"{name}: must be between {low} and {high}")


def _blocks(content: Any, where: str, allowed: frozenset[str]) -> None:
    if isinstance(content, str):
        return
    _expect(content, (list,), where, "a string or an array of content blocks")
    for j, block in enumerate(content):
        w = f"{where}.{j}"
        _expect(block, (dict,), w, "an object")
        kind = block.get("type")
        if kind not in allowed:
            raise InvalidRequest(f"{w}.type: {str(kind)[:40]!r} is not a content block type served here")
        if kind == "text":
            _expect(block.get("text"), (str,), f"{w}.text", "a string")
        elif kind in ("image", "document"):
            source = _expect(block.get("source"), (dict,), f"{w}.source", "an object")
            if source.get("type") not in ("base64", "text", "content"):
                raise InvalidRequest(
                    f"{w}.source.type: {str(source.get('type'))[:20]!r} is not supported; Bedrock takes base64 "
                    "(images, PDFs) or text sources only, never a URL or a file id"
                )
        elif kind == "tool_use":
            _expect(block.get("id"), (str,), f"{w}.id", "a string")
            _expect(block.get("name"), (str,), f"{w}.name", "a string")
            _expect(block.get("input"), (dict,), f"{w}.input", "an object")
        elif kind == "tool_result":
            _expect(block.get("tool_use_id"), (str,), f"{w}.tool_use_id", "a string")
            if block.get("content") is not None:
                _blocks(block["content"], f"{w}.content", frozenset({"text", "image", "document", "search_result"}))
        elif kind == "thinking":
            _expect(block.get("thinking"), (str,), f"{w}.thinking", "a string")
            _expect(block.get("signature"), (str,), f"{w}.signature", "a string")
        elif kind == "redacted_thinking":
            _expect(block.get("data"), (str,), f"{w}.data", "a string")


def validate(body: dict[str, Any]) -> dict[str, Any]:
    """A Messages request, checked field by field (``param`` names in the messages are Anthropic's paths)."""
    unknown = sorted(set(body) - PASSED_FIELDS - DROPPED_FIELDS)
    if unknown:
        raise InvalidRequest(f"{unknown[0][:60]}: this field is not supported for Claude models on Bedrock")
    _expect(body.get("model"), (str,), "model", "a string")
    max_tokens = _expect(body.get("max_tokens"), (int,), "max_tokens", "an integer")
    if not 1 <= max_tokens <= 1_000_000:
        raise InvalidRequest("max_tokens: must be between 1 and 1000000")
    messages = _expect(body.get("messages"), (list,), "messages", "an array of messages")
    if len(messages) > MAX_MESSAGES:
        raise InvalidRequest(f"messages: at most {MAX_MESSAGES} messages")
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        _expect(message, (dict,), where, "an object")
        if message.get("role") not in ("user", "assistant"):
            raise InvalidRequest(f"{where}.role: must be user or assistant (the system prompt goes in system)")
        _blocks(message.get("content"), f"{where}.content", BLOCK_TYPES)
    system = body.get("system")
    if system is not None:
        _blocks(system, "system", frozenset({"text"}))
    _number(body, "temperature", 0, 1)
    _number(body, "top_p", 0, 1)
    if body.get("top_k") is not None:
        _expect(body["top_k"], (int,), "top_k", "an integer")
    stops = body.get("stop_sequences")
    if stops is not None:
        _expect(stops, (list,), "stop_sequences", "an array of strings")
        if len(stops) > MAX_STOP_SEQUENCES or not all(isinstance(s, str) for s in stops):
            raise InvalidRequest(f"stop_sequences: at most {MAX_STOP_SEQUENCES} strings")
    if body.get("stream") is not None:
        _expect(body["stream"], (bool,), "stream", "a boolean")
    tools = body.get("tools")
    if tools is not None:
        _expect(tools, (list,), "tools", "an array")
        if len(tools) > MAX_TOOLS:
            raise InvalidRequest(f"tools: at most {MAX_TOOLS} tools")
        for i, tool in enumerate(tools):
            _expect(tool, (dict,), f"tools.{i}", "an object")
            _expect(tool.get("name"), (str,), f"tools.{i}.name", "a string")
            kind = tool.get("type")
            if isinstance(kind, str) and kind.startswith(SERVER_TOOL_PREFIXES):
                raise InvalidRequest(
                    f"tools.{i}.type: {kind[:40]!r} is one of Anthropic's server tools, which run outside this "
                    "region; Claude on Bedrock does not offer them"
                )
            if kind in (None, "custom"):
                _expect(tool.get("input_schema"), (dict,), f"tools.{i}.input_schema", "a JSON schema object")
                if tool.get("description") is not None:
                    _expect(tool["description"], (str,), f"tools.{i}.description", "a string")
    choice = body.get("tool_choice")
    if choice is not None:
        _expect(choice, (dict,), "tool_choice", "an object")
        if choice.get("type") not in ("auto", "any", "tool", "none"):
            raise InvalidRequest("tool_choice.type: must be auto, any, tool or none")
        if choice["type"] == "tool":
            _expect(choice.get("name"), (str,), "tool_choice.name", "a string")
    thinking = body.get("thinking")
    if thinking is not None:
        _expect(thinking, (dict,), "thinking", "an object")
        if thinking.get("type") not in ("enabled", "disabled", "adaptive"):
            raise InvalidRequest("thinking.type: must be enabled, disabled or adaptive")
        if thinking["type"] == "enabled":
            budget = _expect(thinking.get("budget_tokens"), (int,), "thinking.budget_tokens", "an integer")
            if budget < 1024 or budget >= max_tokens:
                raise InvalidRequest("thinking.budget_tokens: must be at least 1024 and less than max_tokens")
    return body


def count_tokens_request(body: dict[str, Any]) -> dict[str, Any]:
    """A count_tokens request is a Messages request without max_tokens or stream."""
    if "max_tokens" in body or "stream" in body:
        raise InvalidRequest("max_tokens: count_tokens takes no max_tokens or stream")
    validate({**body, "max_tokens": 1_000_000})
    return body


def texts(body: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Every piece of text the model will read, with where it is (for the input guardrails)."""

    def of_blocks(content: Any, where: str) -> Iterator[tuple[str, str]]:
        if isinstance(content, str):
            yield where, content
            return
        for j, block in enumerate(content or ()):
            w = f"{where}.{j}"
            kind = block.get("type")
            if kind == "text":
                yield f"{w}.text", block.get("text", "")
            elif kind == "thinking":
                yield f"{w}.thinking", block.get("thinking", "")
            elif kind == "tool_use":
                yield f"{w}.input", json.dumps(block.get("input"), ensure_ascii=False)
            elif kind == "tool_result" and block.get("content") is not None:
                yield from of_blocks(block["content"], f"{w}.content")
            elif kind in ("document", "search_result"):
                source = block.get("source")
                if isinstance(source, dict) and source.get("type") == "text":
                    yield f"{w}.source.data", str(source.get("data", ""))
                if kind == "search_result":
                    yield from of_blocks(block.get("content"), f"{w}.content")

    if body.get("system") is not None:
        yield from of_blocks(body["system"], "system")
    for i, message in enumerate(body["messages"]):
        yield from of_blocks(message.get("content"), f"messages.{i}.content")
    for i, tool in enumerate(body.get("tools") or ()):
        if tool.get("description"):
            yield f"tools.{i}.description", tool["description"]
        if tool.get("input_schema") is not None:
            yield f"tools.{i}.input_schema", json.dumps(tool["input_schema"], ensure_ascii=False)


def to_bedrock(body: Mapping[str, Any], betas: Sequence[str]) -> dict[str, Any]:
    """The validated request → the InvokeModel body."""
    native: dict[str, Any] = {"anthropic_version": BEDROCK_ANTHROPIC_VERSION}
    if betas:
        native["anthropic_beta"] = list(betas)
    native.update({k: v for k, v in body.items() if k in PASSED_FIELDS and v is not None})
    return native


# --- answers ----------------------------------------------------------------------------------------------
_MAX_TOKENS = 2**31 - 1


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    @property
    def billed_input(self) -> int:
        """Every input token the model read: uncached, written to the cache and read from it."""
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens


def _count(value: Any, what: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_TOKENS:
        raise UpstreamError(f"Bedrock reported an impossible {what}")
    return value


def usage_of(raw: Any, previous: Usage | None = None) -> Usage:
    """Anthropic usage (message or message_delta); counts absent from a delta keep their earlier value."""
    base = previous or Usage()
    if raw is None:
        return base
    if not isinstance(raw, dict):
        raise UpstreamError("Bedrock's answer has a usage that is not an object")
    names = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    values = {n: _count(raw[n], n) if raw.get(n) is not None else getattr(base, n) for n in names}
    return Usage(**values)


def message_id(request_id: str) -> str:
    return "msg_" + request_id.replace("-", "")


def message(answer: Any, *, request_id: str, model: str) -> tuple[dict[str, Any], Usage]:
    """Bedrock's InvokeModel answer → the client's Message (our id and the model name the client sent)."""
    if (
        not isinstance(answer, dict)
        or answer.get("type") != "message"
        or not isinstance(answer.get("content"), list)
        or not isinstance(answer.get("usage"), dict)
    ):
        raise UpstreamError("Bedrock answered with something that is not a Claude message")
    usage = usage_of(answer["usage"])
    return {**answer, "id": message_id(request_id), "model": model}, usage


def sse(event: str, data: Mapping[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + compact_unicode_json(data).encode("utf-8") + b"\n\n"


PING = sse("ping", {"type": "ping"})
STREAM_EVENTS = frozenset(
    {
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    }
)


class StreamState:
    """Follows one streamed message: rewrites what the client sees, keeps the usage for metering."""

    def __init__(self, *, request_id: str, model: str) -> None:
        self.request_id = request_id
        self.model = model
        self.usage = Usage()
        self.started = False
        self.stopped = False

    def event(self, data: Any) -> bytes:
        """One Bedrock chunk (an Anthropic stream event) → its SSE bytes."""
        if not isinstance(data, dict) or data.get("type") not in STREAM_EVENTS:
            raise UpstreamError("Bedrock streamed an event that is not a Claude stream event")
        kind = data["type"]
        if kind == "message_start":
            message = data.get("message")
            if not isinstance(message, dict):
                raise UpstreamError("Bedrock streamed a message_start without a message")
            self.usage = usage_of(message.get("usage"), self.usage)
            data = {**data, "message": {**message, "id": message_id(self.request_id), "model": self.model}}
            self.started = True
        elif kind == "content_block_start":
            block = data.get("content_block")
            if isinstance(block, dict) and block.get("type") == "thinking" and "signature" not in block:
                # Bedrock starts a thinking block without its signature (it comes in a signature_delta); the
                # SDK's ThinkingBlock requires one, so the start carries an empty one, as Anthropic's API sends.
                data = {**data, "content_block": {**block, "signature": ""}}
        elif kind == "message_delta":
            self.usage = usage_of(data.get("usage"), self.usage)
        elif kind == "message_stop":
            data = {k: v for k, v in data.items() if k != "amazon-bedrock-invocationMetrics"}
            self.stopped = True
        return sse(kind, data)


# Anthropic's error types by status. 413: Anthropic's error documentation names a ``request_too_large`` type, but
# the SDK's ErrorResponse (the conformance reference, tests/fixtures/conformance) has no such member, and the SDKs
# raise their too-large error by the status alone; so a 413 is an ``invalid_request_error`` (as Anthropic's own
# invalid requests are). 408 (a request that did not arrive in time) and 504 are ``timeout_error``.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "timeout_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_body(exc: BaseException) -> dict[str, Any]:
    """Anthropic's error envelope for any exception (unknown ones: a content-free api_error)."""
    if not isinstance(exc, GatewayError):
        return {"type": "error", "error": {"type": "api_error", "message": "internal error"}}
    kind = "billing_error" if exc.type == "budget_exceeded" else _ERROR_TYPES.get(exc.status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": exc.message}}


def error_response(exc: BaseException) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (``Retry-After``, ``WWW-Authenticate`` and ``Allow`` as on the OpenAI paths) and body."""
    status = exc.status if isinstance(exc, GatewayError) else 500
    body = error_body(exc)
    headers = {"content-type": "application/json"}
    if isinstance(exc, GatewayError):
        headers.update(exc.headers())
    else:
        body["error"]["message"] = "internal error; the request id identifies it in the gateway's logs"
    return status, headers, json.dumps(body).encode()


def error_event(exc: BaseException) -> bytes:
    return sse("error", error_body(exc))
