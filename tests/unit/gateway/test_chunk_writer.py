"""ChunkWriter.text, the stream's common chunk written from a prebuilt start, is the chunk the generic form writes."""

from __future__ import annotations

import json

from regiongate.gateway.runtime.responses import ChunkWriter
from regiongate.gateway.runtime.translate import Delta

TEXTS = ["", "tok ", "Paris é 巴黎 😀", 'quote " backslash \\ nl \n tab \t', "\x00\x1f\x7f", "</script>", "}]}"]


def test_a_text_chunk_is_the_generic_chunk_byte_for_byte_before_and_after_a_fingerprint() -> None:
    writer = ChunkWriter(request_id="req-1é", created=1_700_000_000, model='gpt-4o "eu"')
    for fingerprint in (None, "fp_1", "fp_2 é"):
        if fingerprint is not None:
            assert writer.delta(Delta("fingerprint", text=fingerprint)) is None
        for text in TEXTS:
            generic = writer.chunk({"content": text})
            assert writer.text(text) == generic
            assert writer.delta(Delta("text", text=text)) == generic
        assert json.loads(writer.text("x")[6:]).get("system_fingerprint") == fingerprint


def test_a_text_delta_with_logprobs_keeps_them() -> None:
    writer = ChunkWriter(request_id="r", created=1, model="m")
    logprobs = {"content": [{"token": "a", "logprob": -0.1, "bytes": [97], "top_logprobs": []}]}
    chunk = json.loads(writer.delta(Delta("text", text="a", logprobs=logprobs))[6:])  # type: ignore[index]
    assert chunk["choices"][0]["logprobs"]["content"] == logprobs["content"]
    assert chunk["choices"][0]["logprobs"]["refusal"] is None
