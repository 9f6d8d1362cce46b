"""Validation of OpenAI request bodies: wrong types and shapes are a clear 400 naming the field."""

from __future__ import annotations

import json
import re
from typing import Any

from regiongate.contract.errors import InvalidRequest

ROLES = ("system", "developer", "user", "assistant", "tool")
MAX_MESSAGES = 2048
MAX_TOOLS = 128
MAX_STOP = 4
MAX_EMBEDDING_INPUTS = 2048
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def parse_json(body: bytes) -> dict[str, Any]:
    if not body:
        raise InvalidRequest("the request body is empty; send a JSON object")
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("the request body is not valid JSON") from None
    except RecursionError:
        raise InvalidRequest("the request body is nested too deeply") from None
    if not isinstance(value, dict):
        raise InvalidRequest("the request body must be a JSON object")
    if _SURROGATE_ESCAPE.search(body):
        # JSON allows "\ud800" escapes that decode to lone surrogates, which no upstream can encode.
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRequest("the request body contains an unpaired UTF-16 surrogate escape") from None
    return value


def _type_name(value: Any) -> str:
    return {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "integer",
        float: "number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _expect(value: Any, types: tuple[type, ...], where: str, what: str) -> Any:
    if isinstance(value, bool) and bool not in types:
        raise InvalidRequest(f"{where} must be {what}, got boolean", param=where)
    if not isinstance(value, types):
        raise InvalidRequest(f"{where} must be {what}, got {_type_name(value)}", param=where)
    return value


def _number(body: dict[str, Any], name: str, low: float, high: float) -> None:
    if body.get(name) is None:
        return
    value = _expect(body[name], (int, float), name, "a number")
    if not low <= value <= high:
        raise InvalidRequest(f"{name} must be between {low} and {high}", param=name)


def validate_chat(body: dict[str, Any]) -> dict[str, Any]:
    _expect(body.get("model"), (str,), "model", "a string")
    messages = _expect(body.get("messages"), (list,), "messages", "an array of messages")
    if not messages:
        raise InvalidRequest("messages must not be empty")
    if len(messages) > MAX_MESSAGES:
        raise InvalidRequest(f"messages may hold at most {MAX_MESSAGES} entries")
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        _expect(message, (dict,), where, "an object")
        role = message.get("role")
        if role not in ROLES:
            raise InvalidRequest(f"{where}.role must be one of {', '.join(ROLES)}")
        content = message.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise InvalidRequest(f"{where}.content must be a string or an array of parts, got {_type_name(content)}")
        if isinstance(content, list):
            for j, part in enumerate(content):
                _expect(part, (dict,), f"{where}.content[{j}]", "an object")
                if part.get("type") != "text":
                    raise InvalidRequest(
                        f"{where}.content[{j}].type {part.get('type')!r} is not supported; only text parts are"
                    )
                _expect(part.get("text"), (str,), f"{where}.content[{j}].text", "a string")
        if content is None and not (role == "assistant" and message.get("tool_calls")):
            raise InvalidRequest(f"{where}.content is required")
        if role == "tool":
            _expect(message.get("tool_call_id"), (str,), f"{where}.tool_call_id", "a string")
        tool_calls = message.get("tool_calls")
        if tool_calls is not None:
            if role != "assistant":
                raise InvalidRequest(f"{where}.tool_calls is only valid on assistant messages")
            _expect(tool_calls, (list,), f"{where}.tool_calls", "an array")
            for j, call in enumerate(tool_calls):
                w = f"{where}.tool_calls[{j}]"
                _expect(call, (dict,), w, "an object")
                _expect(call.get("id"), (str,), f"{w}.id", "a string")
                fn = _expect(call.get("function"), (dict,), f"{w}.function", "an object")
                _expect(fn.get("name"), (str,), f"{w}.function.name", "a string")
                _expect(fn.get("arguments", ""), (str,), f"{w}.function.arguments", "a JSON string")
        if message.get("name") is not None:
            _expect(message["name"], (str,), f"{where}.name", "a string")
    for name in ("max_tokens", "max_completion_tokens"):
        if body.get(name) is not None:
            value = _expect(body[name], (int,), name, "an integer")
            if not 1 <= value <= 1_000_000:
                raise InvalidRequest(f"{name} must be between 1 and 1000000")
    _number(body, "temperature", 0, 2)
    _number(body, "top_p", 0, 1)
    stop = body.get("stop")
    if stop is not None:
        if isinstance(stop, str):
            body["stop"] = [stop]
        else:
            _expect(stop, (list,), "stop", "a string or an array of strings")
            if len(stop) > MAX_STOP or not all(isinstance(s, str) for s in stop):
                raise InvalidRequest(f"stop must hold at most {MAX_STOP} strings")
    if body.get("stream") is not None:
        _expect(body["stream"], (bool,), "stream", "a boolean")
    if body.get("stream_options") is not None:
        opts = _expect(body["stream_options"], (dict,), "stream_options", "an object")
        if opts.get("include_usage") is not None:
            _expect(opts["include_usage"], (bool,), "stream_options.include_usage", "a boolean")
    if body.get("n") not in (None, 1):
        raise InvalidRequest("n must be 1 (one choice per request)")
    tools = body.get("tools")
    if tools is not None:
        _expect(tools, (list,), "tools", "an array")
        if len(tools) > MAX_TOOLS:
            raise InvalidRequest(f"tools may hold at most {MAX_TOOLS} entries")
        for i, tool in enumerate(tools):
            _expect(tool, (dict,), f"tools[{i}]", "an object")
            if tool.get("type") != "function":
                raise InvalidRequest(f"tools[{i}].type must be 'function'")
            fn = _expect(tool.get("function"), (dict,), f"tools[{i}].function", "an object")
            _expect(fn.get("name"), (str,), f"tools[{i}].function.name", "a string")
            if fn.get("description") is not None:
                _expect(fn["description"], (str,), f"tools[{i}].function.description", "a string")
            if fn.get("parameters") is not None:
                _expect(fn["parameters"], (dict,), f"tools[{i}].function.parameters", "a JSON schema object")
    choice = body.get("tool_choice")
    if choice is not None and not (
        choice in ("auto", "none", "required")
        or (
            isinstance(choice, dict)
            and isinstance(choice.get("function"), dict)
            and isinstance(choice["function"].get("name"), str)
        )
    ):
        raise InvalidRequest(
            'tool_choice must be auto, none, required or {"type": "function", "function": {"name": …}}'
        )
    if body.get("user") is not None:
        _expect(body["user"], (str,), "user", "a string")
    if body.get("seed") is not None:
        _expect(body["seed"], (int,), "seed", "an integer")
    _number(body, "presence_penalty", -2, 2)
    _number(body, "frequency_penalty", -2, 2)
    for name in ("logprobs", "parallel_tool_calls"):
        if body.get(name) is not None:
            _expect(body[name], (bool,), name, "a boolean")
    if body.get("top_logprobs") is not None:
        value = _expect(body["top_logprobs"], (int,), "top_logprobs", "an integer")
        if not 0 <= value <= 20:
            raise InvalidRequest("top_logprobs must be between 0 and 20", param="top_logprobs")
        if not body.get("logprobs"):
            raise InvalidRequest("top_logprobs needs logprobs: true", param="top_logprobs")
    return body


def _is_token(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2**31


def validate_embeddings(body: dict[str, Any]) -> tuple[str, list[str] | list[list[int]], str]:
    """Returns (model, inputs, encoding_format): inputs are strings, or token arrays (OpenAI's array of
    token ids, or array of such arrays, which LangChain sends by default)."""
    model = _expect(body.get("model"), (str,), "model", "a string")
    raw = body.get("input")
    inputs: list[str] | list[list[int]]
    if isinstance(raw, str):
        inputs = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
        inputs = raw
    elif isinstance(raw, list) and raw and all(_is_token(x) for x in raw):
        inputs = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(x, list) and all(map(_is_token, x)) for x in raw):
        inputs = raw
    else:
        raise InvalidRequest(
            "input must be a string, a non-empty array of strings, an array of token ids or an array of "
            "token-id arrays",
            param="input",
        )
    if len(inputs) > MAX_EMBEDDING_INPUTS:
        raise InvalidRequest(f"input may hold at most {MAX_EMBEDDING_INPUTS} entries", param="input")
    if any(not s for s in inputs):
        raise InvalidRequest("input strings and token arrays must not be empty", param="input")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise InvalidRequest("encoding_format must be float or base64", param="encoding_format")
    if body.get("dimensions") is not None:
        _expect(body["dimensions"], (int,), "dimensions", "an integer")
        if body["dimensions"] < 1:
            raise InvalidRequest("dimensions must be at least 1", param="dimensions")
    return model, inputs, encoding
