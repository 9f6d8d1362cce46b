"""OpenAI's ``response_format`` (JSON mode and JSON schemas) on Bedrock, which has no such parameter: the
model is made to call one tool whose input schema is the requested schema, and that call's input comes back
as the message's content (``finish_reason`` ``stop``), streamed as text deltas. Never silently dropped:
a format that cannot be honoured is a 400.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from regiongate.contract.errors import InvalidRequest
from regiongate.gateway.runtime.translate import ChatResult, Delta

TOOL_NAME = "json_response"
_DESCRIPTION = "Give the whole answer by calling this tool once: its input is the answer, as JSON."


def apply(request: dict[str, Any], body: dict[str, Any]) -> str | None:
    """Adds the forced tool to a Converse request when ``body`` asks for JSON; returns its name, else None."""
    fmt = body.get("response_format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema"):
        raise InvalidRequest("response_format.type must be text, json_object or json_schema")
    if fmt["type"] == "text":
        return None
    if body.get("tools") and body.get("tool_choice") != "none":
        raise InvalidRequest(
            "response_format json_object or json_schema together with tools is not supported for this model; "
            "send one or the other"
        )
    if fmt["type"] == "json_object":
        schema: Any = {"type": "object"}
        description = _DESCRIPTION
    else:
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
            raise InvalidRequest("response_format.json_schema.schema must be a JSON schema object")
        schema = spec["schema"]
        if schema.get("type") != "object":
            raise InvalidRequest(
                "response_format.json_schema.schema must describe an object for this model (Bedrock tool input)"
            )
        description = _DESCRIPTION + (f" {spec['description']}" if isinstance(spec.get("description"), str) else "")
    request["toolConfig"] = {
        "tools": [{"toolSpec": {"name": TOOL_NAME, "description": description, "inputSchema": {"json": schema}}}],
        "toolChoice": {"tool": {"name": TOOL_NAME}},
    }
    return TOOL_NAME


def result(answer: ChatResult, forced: str | None) -> ChatResult:
    """The forced tool's input as the message's content."""
    if forced is None:
        return answer
    calls = [c for c in answer.tool_calls if c.get("function", {}).get("name") == forced]
    if not calls:
        return answer
    content = calls[0]["function"].get("arguments") or "{}"
    return replace(answer, content=content, tool_calls=[], finish_reason=_finish(answer.finish_reason))


def deltas(events: Iterator[Delta], forced: str | None) -> Iterator[Delta]:
    """The forced tool's argument deltas as text deltas; its start is not shown."""
    return events if forced is None else _forced(events, forced)


def _forced(events: Iterator[Delta], forced: str) -> Iterator[Delta]:
    forced_index: int | None = None
    try:
        for d in events:
            if d.kind == "tool_start" and d.name == forced:
                forced_index = d.index
            elif d.kind == "tool_args" and d.index == forced_index:
                if d.text:
                    yield Delta("text", text=d.text)
            elif d.kind == "finish":
                yield replace(d, finish_reason=_finish(d.finish_reason))
            else:
                yield d
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()  # the upstream stream, now, on this thread


def _finish(reason: str) -> str:
    return "stop" if reason == "tool_calls" else reason
