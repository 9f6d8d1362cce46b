"""Loopback fakes of the upstreams: Bedrock runtime (what boto3 really sends and parses, including the
binary event stream of ConverseStream) and OpenAI-format servers (Azure OpenAI and OpenAI-compatible).

Each fake records every request it gets and answers from a script (``fail_next``) or its defaults.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit


def event_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One message of the AWS event-stream encoding (what ConverseStream sends)."""
    encoded = b""
    for name, value in headers.items():
        n, v = name.encode(), value.encode()
        encoded += struct.pack("!B", len(n)) + n + b"\x07" + struct.pack("!H", len(v)) + v
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack("!II", total, len(encoded))
    prelude += struct.pack("!I", zlib.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + encoded + payload
    return message + struct.pack("!I", zlib.crc32(message) & 0xFFFFFFFF)


def converse_event(event_type: str, body: dict) -> bytes:
    return event_message(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
        json.dumps(body).encode(),
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class FakeUpstream:
    """Base: a threaded loopback server; subclasses implement ``answer(handler, path, body)``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.failures: list[tuple[int, str]] = []  # (status, error code) for the next requests
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                parts = urlsplit(self.path)
                record = {"path": unquote(parts.path), "query": parts.query, "headers": dict(self.headers), "json": body, "raw": raw}
                with fake.lock:
                    fake.requests.append(record)
                    failure = fake.failures.pop(0) if fake.failures else None
                if failure:
                    fake.fail(self, *failure)
                    return
                fake.answer(self, record["path"], body)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, count: int, status: int = 503, code: str = "ServiceUnavailableException") -> None:
        with self.lock:
            self.failures.extend([(status, code)] * count)

    @staticmethod
    def send(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str = "application/json",
             headers: dict[str, str] | None = None) -> None:
        handler.send_response(status)
        handler.send_header("content-type", content_type)
        handler.send_header("content-length", str(len(body)))
        for k, v in (headers or {}).items():
            handler.send_header(k, v)
        handler.end_headers()
        handler.wfile.write(body)

    def fail(self, handler, status: int, code: str) -> None:
        raise NotImplementedError

    def answer(self, handler, path: str, body: Any) -> None:
        raise NotImplementedError


class FakeBedrock(FakeUpstream):
    """Answers Converse, ConverseStream and InvokeModel (Titan embeddings) like bedrock-runtime."""

    def __init__(self, reply: str = "Hello from Bedrock", tool_call: dict | None = None, usage: tuple[int, int] = (12, 7)) -> None:
        self.reply = reply
        self.tool_call = tool_call  # {"name": ..., "input": {...}} → answer with a toolUse block
        self.usage = usage
        self.stream_error_after: int | None = None
        super().__init__()

    def fail(self, handler, status: int, code: str) -> None:
        self.send(handler, status, json.dumps({"message": f"{code} (fake)"}).encode(), headers={"x-amzn-ErrorType": f"{code}:http://internal"})

    def _content(self) -> list[dict]:
        content = [{"text": self.reply}] if self.reply else []
        if self.tool_call:
            content.append({"toolUse": {"toolUseId": "tooluse_fake1", "name": self.tool_call["name"], "input": self.tool_call["input"]}})
        return content

    def answer(self, handler, path: str, body: Any) -> None:
        if path.endswith("/converse"):
            answer = {
                "output": {"message": {"role": "assistant", "content": self._content()}},
                "stopReason": "tool_use" if self.tool_call else "end_turn",
                "usage": {"inputTokens": self.usage[0], "outputTokens": self.usage[1], "totalTokens": sum(self.usage)},
                "metrics": {"latencyMs": 1},
            }
            self.send(handler, 200, json.dumps(answer).encode())
        elif path.endswith("/converse-stream"):
            self.send(handler, 200, b"".join(self.stream_events()), content_type="application/vnd.amazon.eventstream")
        elif path.endswith("/invoke"):
            text = (body or {}).get("inputText", "")
            vector = [round((len(text) % 7) / 10 + i / 100, 4) for i in range(8)]
            self.send(handler, 200, json.dumps({"embedding": vector, "inputTextTokenCount": max(1, len(text) // 4)}).encode())
        else:
            self.send(handler, 404, b'{"message":"unknown path"}', headers={"x-amzn-ErrorType": "UnknownOperationException"})

    def stream_events(self) -> list[bytes]:
        events = [converse_event("messageStart", {"role": "assistant"})]
        index = 0
        if self.reply:
            words = self.reply.split(" ")
            for i, word in enumerate(words):
                piece = word if i == 0 else " " + word
                events.append(converse_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}}))
            events.append(converse_event("contentBlockStop", {"contentBlockIndex": 0}))
            index = 1
        if self.tool_call:
            events.append(converse_event("contentBlockStart", {
                "contentBlockIndex": index, "start": {"toolUse": {"toolUseId": "tooluse_fake1", "name": self.tool_call["name"]}}}))
            args = json.dumps(self.tool_call["input"])
            half = len(args) // 2
            for piece in (args[:half], args[half:]):
                events.append(converse_event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"toolUse": {"input": piece}}}))
            events.append(converse_event("contentBlockStop", {"contentBlockIndex": index}))
        if self.stream_error_after is not None:
            events = events[: self.stream_error_after] + [event_message(
                {":message-type": "exception", ":exception-type": "modelStreamErrorException", ":content-type": "application/json"},
                b'{"message":"stream broke"}',
            )]
            return events
        events.append(converse_event("messageStop", {"stopReason": "tool_use" if self.tool_call else "end_turn"}))
        events.append(converse_event("metadata", {
            "usage": {"inputTokens": self.usage[0], "outputTokens": self.usage[1], "totalTokens": sum(self.usage)},
            "metrics": {"latencyMs": 1}}))
        return events


class FakeOpenAI(FakeUpstream):
    """Answers OpenAI-format chat completions (streaming too) and embeddings, on Azure's and plain paths."""

    def __init__(self, reply: str = "Hello from Azure", tool_call: dict | None = None, usage: tuple[int, int] = (11, 5),
                 chunk_delay: float = 0.0) -> None:
        self.reply = reply
        self.tool_call = tool_call
        self.usage = usage
        self.chunk_delay = chunk_delay
        self.gate: threading.Event | None = None  # when set up, the stream pauses after its first content chunk
        self.gate_timed_out = False
        super().__init__()

    def fail(self, handler, status: int, code: str) -> None:
        self.send(handler, status, json.dumps({"error": {"message": f"{code} (fake)", "code": code}}).encode())

    def answer(self, handler, path: str, body: Any) -> None:
        if path.endswith("/embeddings"):
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            data = [{"object": "embedding", "index": i, "embedding": [0.5, -0.25, float(len(t))]} for i, t in enumerate(inputs)]
            self.send(handler, 200, json.dumps({"object": "list", "data": data, "model": "x",
                                                "usage": {"prompt_tokens": 3 * len(inputs), "total_tokens": 3 * len(inputs)}}).encode())
            return
        if not path.endswith("/chat/completions"):
            self.send(handler, 404, b'{"error":{"message":"no such path","code":"404"}}')
            return
        if body.get("stream"):
            self.stream(handler)
            return
        message: dict[str, Any] = {"role": "assistant", "content": self.reply}
        if self.tool_call:
            message["tool_calls"] = [{"id": "call_fake1", "type": "function",
                                      "function": {"name": self.tool_call["name"], "arguments": json.dumps(self.tool_call["input"])}}]
        answer = {"id": "chatcmpl-up", "object": "chat.completion", "created": 1, "model": "up",
                  "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if self.tool_call else "stop"}],
                  "usage": {"prompt_tokens": self.usage[0], "completion_tokens": self.usage[1], "total_tokens": sum(self.usage)}}
        self.send(handler, 200, json.dumps(answer).encode())

    def stream(self, handler) -> None:
        import time

        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream")
        handler.send_header("transfer-encoding", "chunked")
        handler.end_headers()

        def emit(obj: Any) -> None:
            data = b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n"
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            handler.wfile.flush()
            if self.chunk_delay:
                time.sleep(self.chunk_delay)

        base = {"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1, "model": "up"}
        emit({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
        for i, word in enumerate(self.reply.split(" ") if self.reply else []):
            emit({**base, "choices": [{"index": 0, "delta": {"content": word if i == 0 else " " + word}, "finish_reason": None}]})
            if i == 0 and self.gate is not None and not self.gate.wait(timeout=20):
                self.gate_timed_out = True
        if self.tool_call:
            emit({**base, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_fake1", "type": "function",
                  "function": {"name": self.tool_call["name"], "arguments": ""}}]}, "finish_reason": None}]})
            emit({**base, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {
                  "arguments": json.dumps(self.tool_call["input"])}}]}, "finish_reason": None}]})
        emit({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls" if self.tool_call else "stop"}]})
        emit({**base, "choices": [], "usage": {"prompt_tokens": self.usage[0], "completion_tokens": self.usage[1],
                                               "total_tokens": sum(self.usage)}})
        emit(b"[DONE]")
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()


