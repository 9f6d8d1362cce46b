"""The gateway's normalised results → OpenAI response bodies and SSE chunks (protocol, not transport).

Providers return ``ChatResult``, ``Delta`` and ``EmbeddingResult`` (``translate``); this module renders
them the way OpenAI clients expect. Pricing and auditing stay in the service.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence
from typing import Any

from regiongate.common.json_text import compact_unicode_json, encode_string
from regiongate.contract import processing
from regiongate.contract.document import ModelEntry
from regiongate.gateway.runtime import reasoning
from regiongate.gateway.runtime.translate import ChatResult, Delta

SSE_DONE = b"data: [DONE]\n\n"


def sse(value: Any) -> bytes:
    return b"data: " + compact_unicode_json(value).encode("utf-8") + b"\n\n"


def completion_id(request_id: str) -> str:
    return "chatcmpl-" + request_id.replace("-", "")


def usage_body(input_tokens: int, output_tokens: int, *, cached_tokens: int = 0) -> dict[str, Any]:
    """OpenAI's usage; ``prompt_tokens_details.cached_tokens`` when the provider read some from its cache."""
    usage: dict[str, Any] = {
        "prompt_tokens": input_tokens,
        "completion_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }
    if cached_tokens:
        usage["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
    return usage


def chat_completion(
    *, request_id: str, created: int, model: str, result: ChatResult, usage: dict[str, Any]
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": result.content, "refusal": result.refusal}
    if result.tool_calls:
        message["tool_calls"] = result.tool_calls
    message.update(reasoning.chat_fields(result.reasoning))  # only when the client asked for reasoning_effort
    choice = {
        "index": 0,
        "message": message,
        "finish_reason": result.finish_reason,
        "logprobs": choice_logprobs(result.logprobs),
    }
    answer: dict[str, Any] = {
        "id": completion_id(request_id),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [choice],
        "usage": usage,
    }
    if result.system_fingerprint is not None:  # a string in the OpenAPI document, not nullable: absent when unknown
        answer["system_fingerprint"] = result.system_fingerprint
    return answer


def choice_logprobs(upstream: Any) -> Any:
    """A choice's logprobs as the upstream sent them, with both ``content`` and ``refusal``, which the OpenAPI
    document requires of the object (either may be null); ``None`` when the upstream sent none."""
    if not isinstance(upstream, dict):
        return upstream
    return {"content": upstream.get("content"), "refusal": upstream.get("refusal"), **upstream}


# The end of a text chunk without logprobs, after its content (``ChunkWriter.text``).
_TEXT_CHUNK_END = '},"finish_reason":null,"logprobs":null}]}\n\n'


class ChunkWriter:
    """SSE chunks of one streamed chat completion."""

    def __init__(self, *, request_id: str, created: int, model: str) -> None:
        self.base = {
            "id": completion_id(request_id),
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
        }
        self.thinking: dict[int, list[str]] = {}  # thinking block → its text so far (for its final block)
        self._text_start = ""  # of a text chunk, up to its content; "" until the first (and when base changes)

    def chunk(self, delta: dict[str, Any], finish: str | None = None, logprobs: Any = None) -> bytes:
        return sse(
            {
                **self.base,
                "choices": [
                    {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": choice_logprobs(logprobs)}
                ],
            }
        )

    def text(self, text: str) -> bytes:
        """``chunk({"content": text})``, the same bytes, with only ``text`` encoded: the chunk nearly every event of
        a stream is (its start is encoded once, and again only after the base changes)."""
        if not self._text_start:
            self._text_start = (
                "data: " + compact_unicode_json(self.base)[:-1] + ',"choices":[{"index":0,"delta":{"content":'
            )
        return (self._text_start + encode_string(text) + _TEXT_CHUNK_END).encode("utf-8")

    def delta(self, d: Delta) -> bytes | None:
        """The chunk for a content delta; ``None`` for finish and usage events, which the caller keeps (and
        for the upstream's system_fingerprint, which the chunks from then on carry)."""
        if d.kind == "text":
            if d.logprobs is None:
                return self.text(d.text)
            return self.chunk({"content": d.text}, logprobs=d.logprobs)
        if d.kind == "fingerprint":
            self.base["system_fingerprint"] = d.text
            self._text_start = ""
            return None
        if d.kind == "refusal":
            return self.chunk({"refusal": d.text})
        if d.kind == "tool_start":
            return self.chunk(
                {
                    "tool_calls": [
                        {
                            "index": d.index,
                            "id": d.tool_id,
                            "type": "function",
                            "function": {"name": d.name, "arguments": ""},
                        }
                    ]
                }
            )
        if d.kind == "tool_args":
            return self.chunk({"tool_calls": [{"index": d.index, "function": {"arguments": d.text}}]})
        if d.kind == "reasoning":
            self.thinking.setdefault(d.index, []).append(d.text)
            return self.chunk({"reasoning_content": d.text})
        if d.kind == "reasoning_signature":  # the block is complete: the whole of it, to send back next turn
            text = "".join(self.thinking.pop(d.index, []))
            block = {"type": "thinking", "thinking": text, "signature": d.text}
            return self.chunk({"thinking_blocks": [block]})
        if d.kind == "reasoning_redacted":
            return self.chunk({"thinking_blocks": [{"type": "redacted_thinking", "data": d.text}]})
        return None

    def usage(self, usage: dict[str, Any]) -> bytes:
        return sse({**self.base, "choices": [], "usage": usage})


def embedding_list(
    *, model: str, vectors: Sequence[Sequence[float]], encoding: str, prompt_tokens: int
) -> dict[str, Any]:
    data = []
    for i, vector in enumerate(vectors):
        value: Any = vector
        if encoding == "base64":
            value = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
        data.append({"object": "embedding", "index": i, "embedding": value})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def model_card(model: ModelEntry, region_code: str) -> dict[str, Any]:
    """The OpenAI Model object, plus ``regiongate_processing_area`` (name, regions) for a model the operator opted
    into a wider processing area than the region's inference_regions (an extension field; absent otherwise)."""
    return {
        "id": model.name,
        "object": "model",
        "created": 0,
        "owned_by": f"regiongate-{region_code}",
        **processing.model_extension(model),
    }
