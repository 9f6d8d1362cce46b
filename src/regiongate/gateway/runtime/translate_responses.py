"""OpenAI's Responses API ↔ the gateway's chat format (protocol only: no transport, no pricing).

``POST /v1/responses`` is served by the region's chat models: the request becomes a chat request
(``to_chat``, then the chat validation every provider relies on), the provider's ``ChatResult`` or
``Delta`` events become a Response object or the Responses stream events (``response.created`` …
``response.completed``). Nothing is stored: ``store: true`` and ``previous_response_id`` are refused with
a message that says how to send the conversation instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from regiongate.common.json_text import compact_unicode_json
from regiongate.contract.errors import GatewayError, InvalidRequest
from regiongate.gateway.runtime import reasoning as thinking
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
# The Responses names of the chat fields ``to_chat`` fills, for the errors a chat check raises about them.
CHAT_NAMES = {"max_tokens": "max_output_tokens", "response_format": "text.format"}


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
    if body.get("parallel_tool_calls") is not None:
        # Carried into chat as it is: OpenAI-format providers honour it; Bedrock refuses false with tools
        # offered (converse_params: Converse cannot stop the model calling several tools at once).
        chat["parallel_tool_calls"] = body["parallel_tool_calls"]
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
    if reasoning is not None:
        _where(reasoning, (dict,), "reasoning", "an object")
        if reasoning.get("effort") is not None:
            # Checked against the model with chat's reasoning_effort (reasoning.prepare, param reasoning.effort).
            chat["reasoning_effort"] = reasoning["effort"]
        # A summary alone changes nothing: the thinking text is the reasoning item's summary whenever there is one.
    for i, wanted in enumerate(_where(body.get("include") or [], (list,), "include", "an array")):
        if wanted != "reasoning.encrypted_content":
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
        # Only its encrypted_content can go back to the model (with the signature Bedrock checks); an item without
        # one is left out, as Claude leaves out the thinking of earlier turns.
        if item.get("encrypted_content") is not None:
            block = thinking.decode_item(item["encrypted_content"], where)
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and not last["content"] and "tool_calls" not in last:
                last.setdefault("thinking_blocks", []).append(block)  # the same turn's reasoning items
            else:
                messages.append({"role": "assistant", "content": "", "thinking_blocks": [block]})
    else:
        raise InvalidRequest(f"{where}.type {str(kind)[:40]!r} is not supported here")


# --- answers ----------------------------------------------------------------------------------------------
def response_id(request_id: str) -> str:
    return "resp_" + request_id.replace("-", "")


def usage(input_tokens: int, output_tokens: int, cache_read: int = 0, cache_write: int = 0) -> dict[str, Any]:
    """The Responses usage: ``input_tokens`` counts every input token, of which ``cached_tokens`` were read from
    the provider's prompt cache and ``cache_write_tokens`` written to it. ``reasoning_tokens`` stays 0: Converse
    reports no thinking tokens apart (they are in ``output_tokens``, and priced there)."""
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cache_write_tokens": cache_write, "cached_tokens": cache_read},
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
            "tools": [_tool_echo(tool) for tool in body.get("tools") or []],
            "tool_choice": body.get("tool_choice", "auto"),
            "parallel_tool_calls": body.get("parallel_tool_calls") is not False,
            "previous_response_id": None,
            "text": {"format": (body.get("text") or {}).get("format") or {"type": "text"}},
            "truncation": "disabled",
            "metadata": body.get("metadata") or {},
            "reasoning": _reasoning_echo(body.get("reasoning")),
            "error": None,
            "incomplete_details": None,
        }
        if body.get("user") is not None:  # a string in the OpenAPI document, not nullable: absent when not sent
            self.base["user"] = body["user"]
        # The signature goes to the client only when asked for (include), as OpenAI's encrypted reasoning does.
        self.encrypted = "reasoning.encrypted_content" in (body.get("include") or ())

    def reasoning_id(self, index: int) -> str:
        return f"rs_{self.hex}_{index}"

    def reasoning_item(self, index: int, block: dict[str, Any] | None, status: str = "completed") -> dict[str, Any]:
        """A reasoning item: the thinking text as its one summary part (none for redacted thinking), and the
        whole block, signature included, as ``encrypted_content`` when the request's include asked for it."""
        item: dict[str, Any] = {"type": "reasoning", "id": self.reasoning_id(index), "summary": [], "status": status}
        if block is not None and status == "completed":
            if block.get("type") == "thinking" and block.get("thinking"):
                item["summary"] = [{"type": "summary_text", "text": block["thinking"]}]
            if self.encrypted:
                item["encrypted_content"] = thinking.encode_item(block)
        return item

    def message_id(self, index: int) -> str:
        return f"msg_{self.hex}_{index}"

    def message_item(
        self, text: str, status: str = "completed", index: int = 0, kind: str = "output_text"
    ) -> dict[str, Any]:
        """A message item whose one content part is ``kind``: ``output_text``, or ``refusal`` (the upstream's
        refusal text, which chat completions carry in ``message.refusal``)."""
        return {
            "type": "message",
            "id": self.message_id(index),
            "status": status,
            "role": "assistant",
            "content": [content_part(kind, text)] if status == "completed" else [],
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
        answer = {**self.base, "status": status, "output": output}
        if usage_body is not None:  # not nullable in the OpenAPI document: absent until the usage is known
            answer["usage"] = usage_body
        if finish == "length":
            answer["status"] = "incomplete"
            answer["incomplete_details"] = {"reason": "max_output_tokens"}
        elif finish == "content_filter":
            answer["status"] = "incomplete"
            answer["incomplete_details"] = {"reason": "content_filter"}
        return answer

    def from_result(self, result: ChatResult, usage_body: dict[str, Any]) -> dict[str, Any]:
        output = [self.reasoning_item(i, block) for i, block in enumerate(result.reasoning)]
        if result.content:
            output.append(self.message_item(result.content))
        if result.refusal:
            output.append(self.message_item(result.refusal, index=len(output), kind="refusal"))
        for call in result.tool_calls:
            fn = call.get("function") or {}
            output.append(
                self.call_item(len(output), str(call.get("id")), str(fn.get("name")), str(fn.get("arguments", "")))
            )
        return self.response("completed", output, usage_body, result.finish_reason)


def _tool_echo(tool: Any) -> Any:
    """A request tool as the Response echoes it: a function tool with ``strict`` and ``parameters``, which the
    OpenAPI ``FunctionTool`` requires (null when the request left them out)."""
    if isinstance(tool, dict) and tool.get("type") == "function":
        return {**tool, "strict": tool.get("strict"), "parameters": tool.get("parameters")}
    return tool


def _reasoning_echo(requested: Any) -> dict[str, Any] | None:
    """The Response's ``reasoning``: the effort and summary asked for, when an effort was."""
    if not isinstance(requested, dict) or requested.get("effort") is None:
        return None
    return {"effort": requested["effort"], "summary": requested.get("summary")}


def content_part(kind: str, text: str) -> dict[str, Any]:
    if kind == "refusal":
        return {"type": "refusal", "refusal": text}
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def sse(event: Mapping[str, Any]) -> bytes:
    return (
        b"event: " + str(event["type"]).encode() + b"\ndata: " + compact_unicode_json(event).encode("utf-8") + b"\n\n"
    )


class EventWriter:
    """The Responses stream events for one answer, from the providers' ``Delta`` events. Output items are
    numbered as they open: a text item closes when a function call starts; calls close at the end."""

    def __init__(self, shape: ResponseShape) -> None:
        self.shape = shape
        self.sequence = 0
        self.items: dict[int, dict[str, Any]] = {}  # output index → finished item
        self.opened = 0
        # The open message item: its index, its text so far and its one part's kind (output_text or refusal).
        self.text: tuple[int, list[str], str] | None = None
        self.calls: dict[int, tuple[int, dict[str, Any]]] = {}  # delta index → (output index, item)
        self.finish: str | None = None
        # The open reasoning item: its thinking block's delta index (number), its output index, its text so far
        # (pieces), the block once its signature or redacted content arrived, and whether its summary part opened.
        self.thinking: dict[str, Any] | None = None
        self._pending: list[bytes] = []  # events of items closed and opened by a thinking delta, in order

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
        index, pieces, kind = self.text
        text = "".join(pieces)
        item = self.shape.message_item(text, index=index, kind=kind)
        if kind == "refusal":
            yield self._event(
                "response.refusal.done", item_id=item["id"], output_index=index, content_index=0, refusal=text
            )
        else:
            yield self._event(
                "response.output_text.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                text=text,
                logprobs=[],
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

    def _open_thinking(self, d: Delta) -> dict[str, Any]:
        """The open reasoning item of ``d``'s thinking block, opened now if another (or none) is open."""
        if self.thinking is not None and self.thinking["number"] == d.index:
            return self.thinking
        self._pending += list(self._close_thinking()) + list(self._close_text())
        index = self.opened
        self.opened += 1
        self.thinking = {"number": d.index, "index": index, "pieces": [], "block": None, "summary": False}
        item = self.shape.reasoning_item(index, None, status="in_progress")
        self._pending.append(self._event("response.output_item.added", output_index=index, item=item))
        return self.thinking

    def _close_thinking(self) -> Iterator[bytes]:
        state, self.thinking = self.thinking, None
        if state is None:
            return
        index, text = state["index"], "".join(state["pieces"])
        block = state["block"]
        item = self.shape.reasoning_item(index, block if block is not None else {"type": "thinking", "thinking": text})
        if block is None:  # no signature came (a cut stream): the text alone cannot go back to the model
            item.pop("encrypted_content", None)
        if state["summary"]:
            item_id = item["id"]
            yield self._event(
                "response.reasoning_summary_text.done", item_id=item_id, output_index=index, summary_index=0, text=text
            )
            part = {"type": "summary_text", "text": text}
            yield self._event(
                "response.reasoning_summary_part.done", item_id=item_id, output_index=index, summary_index=0, part=part
            )
        yield self._event("response.output_item.done", output_index=index, item=item)
        self.items[index] = item

    def _thinking_delta(self, d: Delta) -> Iterator[bytes]:
        state = self._open_thinking(d)
        yield from self._pending
        self._pending = []
        item_id, index = self.shape.reasoning_id(state["index"]), state["index"]
        if d.kind == "reasoning" and d.text:
            if not state["summary"]:
                state["summary"] = True
                yield self._event(
                    "response.reasoning_summary_part.added",
                    item_id=item_id,
                    output_index=index,
                    summary_index=0,
                    part={"type": "summary_text", "text": ""},
                )
            state["pieces"].append(d.text)
            yield self._event(
                "response.reasoning_summary_text.delta",
                item_id=item_id,
                output_index=index,
                summary_index=0,
                delta=d.text,
            )
        elif d.kind == "reasoning_signature":
            state["block"] = {"type": "thinking", "thinking": "".join(state["pieces"]), "signature": d.text}
        elif d.kind == "reasoning_redacted":
            state["block"] = {"type": "redacted_thinking", "data": d.text}

    def delta(self, d: Delta) -> Iterator[bytes]:
        if d.kind in ("reasoning", "reasoning_signature", "reasoning_redacted"):
            yield from self._thinking_delta(d)
            return
        if d.kind != "usage":
            yield from self._close_thinking()  # a thinking block ends where the answer's next block starts
        if d.kind in ("text", "refusal") and d.text:
            kind = "refusal" if d.kind == "refusal" else "output_text"
            if self.text is not None and self.text[2] != kind:
                yield from self._close_text()  # text, then a refusal (or back): one message item each
            if self.text is None:
                self.text = (self.opened, [], kind)
                self.opened += 1
                index = self.text[0]
                item = self.shape.message_item("", status="in_progress", index=index, kind=kind)
                yield self._event("response.output_item.added", output_index=index, item=item)
                yield self._event(
                    "response.content_part.added",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    part=content_part(kind, ""),
                )
            index, pieces, _ = self.text
            pieces.append(d.text)
            if kind == "refusal":
                yield self._event(
                    "response.refusal.delta",
                    item_id=self.shape.message_id(index),
                    output_index=index,
                    content_index=0,
                    delta=d.text,
                )
            else:
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
        yield from self._close_thinking()
        yield from self._close_text()
        for index, item in sorted(self.calls.values(), key=lambda c: c[0]):
            item = {**item, "status": "completed"}
            yield self._event(
                "response.function_call_arguments.done",
                item_id=item["id"],
                name=item["name"],
                output_index=index,
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
