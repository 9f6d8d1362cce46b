"""OpenAI's Responses API ↔ the gateway's chat format (protocol only: no transport, no pricing).

``POST /v1/responses`` is served by the region's chat models: the request becomes a chat request
(``to_chat``, then the chat validation every provider relies on), the provider's ``ChatResult`` or
``Delta`` events become a Response object or the Responses stream events (``response.created`` …
``response.completed``). Nothing is stored: ``store: true`` and ``previous_response_id`` are refused with
a message that says how to send the conversation instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from regiongate.contract.errors import GatewayError, InvalidRequest
from regiongate.gateway.runtime.translate import ChatResult, Delta

STATELESS = (
    "prompts and answers are never stored in this region's gateway (zero retention): send the whole "
    "conversation in input (earlier output items and function_call_output items included) with store false"
)
# Accepted with the values that mean nothing to do: the gateway keeps nothing and adds nothing.
_ACCEPTED = frozenset(
    {
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "max_output_tokens",
        "temperature",
        "top_p",
        "stream",
        "store",
        "previous_response_id",
        "user",
        "metadata",
        "parallel_tool_calls",
        "text",
        "truncation",
        "include",
        "reasoning",
        "stream_options",
        # Hints for OpenAI's own service (prompt-cache routing, client telemetry): accepted, not sent on.
        "prompt_cache_key",
        "client_metadata",
    }
)
_ROLES = ("user", "assistant", "system", "developer")


def _where(value: Any, types: tuple[type, ...], where: str, what: str) -> Any:
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        raise InvalidRequest(f"{where} must be {what}")
    return value


def _text_parts(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    _where(content, (list,), where, "a string or an array of content parts")
    texts = []
    for j, part in enumerate(content):
        _where(part, (dict,), f"{where}[{j}]", "an object")
        kind = part.get("type")
        if kind not in ("input_text", "output_text", "text"):
            raise InvalidRequest(
                f"{where}[{j}].type {str(kind)[:40]!r} is not supported here; only text parts "
                "(input_text, output_text) are"
            )
        texts.append(_where(part.get("text"), (str,), f"{where}[{j}].text", "a string"))
    return "".join(texts)


def _check_stateless(body: Mapping[str, Any]) -> None:
    if body.get("store") not in (None, False):
        raise InvalidRequest(f"store must be false or absent: {STATELESS}")
    if body.get("previous_response_id") is not None:
        raise InvalidRequest(f"previous_response_id is not supported: {STATELESS}")


def to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """A Responses request → a chat request body (validated again by ``requests.validate_chat``)."""
    unknown = sorted(set(body) - _ACCEPTED)
    if unknown:
        raise InvalidRequest(f"{unknown[0][:60]} is not supported by this gateway's Responses API")
    _check_stateless(body)
    model = _where(body.get("model"), (str,), "model", "a string")
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if instructions is not None:
        messages.append({"role": "system", "content": _where(instructions, (str,), "instructions", "a string")})
    raw = body.get("input")
    if isinstance(raw, str):
        messages.append({"role": "user", "content": raw})
    else:
        items = _where(raw, (list,), "input", "a string or an array of input items")
        for i, item in enumerate(items):
            _item(messages, _where(item, (dict,), f"input[{i}]", "an object"), f"input[{i}]")
    chat: dict[str, Any] = {"model": model, "messages": messages}
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    for name in ("temperature", "top_p", "user", "stream"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("parallel_tool_calls") is False:
        raise InvalidRequest(
            "parallel_tool_calls false is not supported: the region's models may answer with several calls at once"
        )
    text_format = (body.get("text") or {}).get("format") or {"type": "text"}
    if text_format.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    elif text_format.get("type") == "json_schema":
        spec = {k: text_format[k] for k in ("name", "schema", "strict", "description") if k in text_format}
        chat["response_format"] = {"type": "json_schema", "json_schema": spec}
    elif text_format.get("type") != "text":
        raise InvalidRequest(f"text.format.type {str(text_format.get('type'))[:40]!r} is not supported here")
    if body.get("truncation") not in (None, "disabled"):
        raise InvalidRequest("truncation must be disabled: the gateway never drops part of the conversation")
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort") not in (None, "none"):
        # A summary alone is accepted: these models return no reasoning, so there is nothing to summarise.
        raise InvalidRequest("reasoning.effort is not supported by the region's chat models through this endpoint")
    for i, wanted in enumerate(body.get("include") or ()):
        if wanted != "reasoning.encrypted_content":  # nothing to include: these models return no reasoning items
            raise InvalidRequest(f"include[{i}] {str(wanted)[:60]!r} is not supported")
    tools = body.get("tools")
    if tools:
        chat_tools = []
        for i, tool in enumerate(_where(tools, (list,), "tools", "an array")):
            _where(tool, (dict,), f"tools[{i}]", "an object")
            if tool.get("type") != "function":
                raise InvalidRequest(
                    f"tools[{i}].type {str(tool.get('type'))[:40]!r} is not supported: only function tools are "
                    "(hosted tools such as web or file search would run outside the region)"
                )
            function = {"name": tool.get("name")}
            for name in ("description", "parameters"):
                if tool.get(name) is not None:
                    function[name] = tool[name]
            chat_tools.append({"type": "function", "function": function})
        chat["tools"] = chat_tools
    choice = body.get("tool_choice")
    if choice is not None:
        if isinstance(choice, dict) and choice.get("type") == "function":
            chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
        elif choice in ("auto", "none", "required"):
            chat["tool_choice"] = choice
        else:
            raise InvalidRequest('tool_choice must be auto, none, required or {"type": "function", "name": …}')
    return chat


def _item(messages: list[dict[str, Any]], item: dict[str, Any], where: str) -> None:
    kind = item.get("type", "message" if "role" in item else None)
    if kind == "message":
        role = item.get("role")
        if role not in _ROLES:
            raise InvalidRequest(f"{where}.role must be one of {', '.join(_ROLES)}")
        text = _text_parts(item.get("content"), f"{where}.content")
        if role == "assistant" and messages and messages[-1]["role"] == "assistant" and not messages[-1]["content"]:
            messages[-1]["content"] = text  # text after the same turn's function calls
        else:
            messages.append({"role": role, "content": text})
    elif kind == "function_call":
        call = {
            "id": _where(item.get("call_id"), (str,), f"{where}.call_id", "a string"),
            "type": "function",
            "function": {
                "name": _where(item.get("name"), (str,), f"{where}.name", "a string"),
                "arguments": _where(item.get("arguments", ""), (str,), f"{where}.arguments", "a JSON string"),
            },
        }
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant":  # one assistant turn: its text and its calls
            last.setdefault("tool_calls", []).append(call)
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        output = item.get("output")
        messages.append(
            {
                "role": "tool",
                "tool_call_id": _where(item.get("call_id"), (str,), f"{where}.call_id", "a string"),
                "content": _text_parts(output, f"{where}.output"),
            }
        )
    elif kind == "item_reference":
        raise InvalidRequest(f"{where}: item references are not supported: {STATELESS}")
    elif kind == "reasoning":
        raise InvalidRequest(f"{where}: reasoning items are not supported: the region's chat models produce none")
    else:
        raise InvalidRequest(f"{where}.type {str(kind)[:40]!r} is not supported here")


# --- answers ----------------------------------------------------------------------------------------------
def response_id(request_id: str) -> str:
    return "resp_" + request_id.replace("-", "")


def usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


class ResponseShape:
    """The Response object's fields that echo the request, and the ids of its output items."""

    def __init__(self, *, request_id: str, created: int, model: str, body: Mapping[str, Any]) -> None:
        self.id = response_id(request_id)
        self.hex = request_id.replace("-", "")
        self.base: dict[str, Any] = {
            "id": self.id,
            "object": "response",
            "created_at": created,
            "model": model,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "temperature": body.get("temperature"),
            "top_p": body.get("top_p"),
            "tools": list(body.get("tools") or []),
            "tool_choice": body.get("tool_choice", "auto"),
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "store": False,
            "text": {"format": (body.get("text") or {}).get("format") or {"type": "text"}},
            "truncation": "disabled",
            "metadata": body.get("metadata") or {},
            "user": body.get("user"),
            "reasoning": None,
            "error": None,
            "incomplete_details": None,
        }

    def message_id(self, index: int) -> str:
        return f"msg_{self.hex}_{index}"

    def message_item(self, text: str, status: str = "completed", index: int = 0) -> dict[str, Any]:
        return {
            "type": "message",
            "id": self.message_id(index),
            "status": status,
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}] if status == "completed" else [],
        }

    def call_item(
        self, index: int, call_id: str, name: str, arguments: str, status: str = "completed"
    ) -> dict[str, Any]:
        return {
            "type": "function_call",
            "id": f"fc_{self.hex}_{index}",
            "call_id": call_id,
            "name": name,
            "arguments": arguments,
            "status": status,
        }

    def response(
        self, status: str, output: list[dict[str, Any]], usage_body: dict[str, Any] | None, finish: str | None = None
    ) -> dict[str, Any]:
        answer = {**self.base, "status": status, "output": output, "usage": usage_body}
        if finish == "length":
            answer["status"] = "incomplete"
            answer["incomplete_details"] = {"reason": "max_output_tokens"}
        elif finish == "content_filter":
            answer["status"] = "incomplete"
            answer["incomplete_details"] = {"reason": "content_filter"}
        return answer

    def from_result(self, result: ChatResult, usage_body: dict[str, Any]) -> dict[str, Any]:
        output = []
        if result.content:
            output.append(self.message_item(result.content))
        for call in result.tool_calls:
            fn = call.get("function") or {}
            output.append(
                self.call_item(len(output), str(call.get("id")), str(fn.get("name")), str(fn.get("arguments", "")))
            )
        return self.response("completed", output, usage_body, result.finish_reason)


def sse(event: Mapping[str, Any]) -> bytes:
    return (
        b"event: "
        + str(event["type"]).encode()
        + b"\ndata: "
        + json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        + b"\n\n"
    )


class EventWriter:
    """The Responses stream events for one answer, from the providers' ``Delta`` events. Output items are
    numbered as they open: a text item closes when a function call starts; calls close at the end."""

    def __init__(self, shape: ResponseShape) -> None:
        self.shape = shape
        self.sequence = 0
        self.items: dict[int, dict[str, Any]] = {}  # output index → finished item
        self.opened = 0
        self.text: tuple[int, list[str]] | None = None  # the open message item: its index and text
        self.calls: dict[int, tuple[int, dict[str, Any]]] = {}  # delta index → (output index, item)
        self.finish: str | None = None

    def _event(self, kind: str, **fields: Any) -> bytes:
        event = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return sse(event)

    def output(self) -> list[dict[str, Any]]:
        return [self.items[i] for i in sorted(self.items)]

    def start(self) -> Iterator[bytes]:
        created = self.shape.response("in_progress", [], None)
        yield self._event("response.created", response=created)
        yield self._event("response.in_progress", response=created)

    def _close_text(self) -> Iterator[bytes]:
        if self.text is None:
            return
        index, pieces = self.text
        text = "".join(pieces)
        item = self.shape.message_item(text, index=index)
        yield self._event(
            "response.output_text.done", item_id=item["id"], output_index=index, content_index=0, text=text, logprobs=[]
        )
        yield self._event(
            "response.content_part.done",
            item_id=item["id"],
            output_index=index,
            content_index=0,
            part=item["content"][0],
        )
        yield self._event("response.output_item.done", output_index=index, item=item)
        self.items[index] = item
        self.text = None

    def delta(self, d: Delta) -> Iterator[bytes]:
        if d.kind == "text" and d.text:
            if self.text is None:
                self.text = (self.opened, [])
                self.opened += 1
                index = self.text[0]
                item = self.shape.message_item("", status="in_progress", index=index)
                yield self._event("response.output_item.added", output_index=index, item=item)
                yield self._event(
                    "response.content_part.added",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    part={"type": "output_text", "text": "", "annotations": []},
                )
            index, pieces = self.text
            pieces.append(d.text)
            yield self._event(
                "response.output_text.delta",
                item_id=self.shape.message_id(index),
                output_index=index,
                content_index=0,
                delta=d.text,
                logprobs=[],
            )
        elif d.kind == "tool_start":
            yield from self._close_text()
            index = self.opened
            self.opened += 1
            item = self.shape.call_item(index, d.tool_id, d.name, "", status="in_progress")
            self.calls[d.index] = (index, item)
            yield self._event("response.output_item.added", output_index=index, item=item)
        elif d.kind == "tool_args" and d.index in self.calls:
            index, item = self.calls[d.index]
            item["arguments"] += d.text
            yield self._event(
                "response.function_call_arguments.delta", item_id=item["id"], output_index=index, delta=d.text
            )
        elif d.kind == "finish":
            self.finish = d.finish_reason

    def done(self, usage_body: dict[str, Any]) -> Iterator[bytes]:
        yield from self._close_text()
        for index, item in sorted(self.calls.values(), key=lambda c: c[0]):
            item = {**item, "status": "completed"}
            yield self._event(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                name=item["name"],
                arguments=item["arguments"],
            )
            yield self._event("response.output_item.done", output_index=index, item=item)
            self.items[index] = item
        self.calls = {}
        answer = self.shape.response("completed", self.output(), usage_body, self.finish)
        kind = "response.completed" if answer["status"] == "completed" else "response.incomplete"
        yield self._event(kind, response=answer)

    def failed(self, exc: GatewayError, usage_body: dict[str, Any]) -> Iterator[bytes]:
        yield self._event("error", code=exc.type, message=exc.message, param=None)
        answer = self.shape.response("failed", self.output(), usage_body)
        answer["error"] = {"code": "server_error" if exc.status >= 500 else exc.type, "message": exc.message}
        yield self._event("response.failed", response=answer)
