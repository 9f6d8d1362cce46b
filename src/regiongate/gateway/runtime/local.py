"""A local HTTP adapter for the gateway (``regiongate serve``): stdlib ThreadingHTTPServer, SSE chunk by chunk."""

from __future__ import annotations

import logging
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from regiongate.contract.errors import InvalidRequest, error_response
from regiongate.gateway.runtime.transport import Request

log = logging.getLogger("regiongate.local")


class GatewayHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # listen backlog: the stdlib default of 5 resets connections under concurrency

    def __init__(self, address: tuple[str, int], gateway: Any) -> None:
        self.gateway = gateway
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: GatewayHTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body are separate writes: without TCP_NODELAY, Nagle's algorithm and the client's delayed
        # ACK add ~40 ms to every response (and hold back SSE chunks).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # the gateway logs its own JSON lines
        return

    def _serve(self) -> None:
        received = time.perf_counter()
        gateway = self.server.gateway
        limit = gateway.max_request_bytes
        try:
            length = int(self.headers.get("content-length") or 0)
            if length < 0:
                raise ValueError
        except ValueError:
            self._send_error(InvalidRequest("Content-Length is not a number"))
            return
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            self._send_error(InvalidRequest("chunked request bodies are not supported; send Content-Length"))
            return
        body = self.rfile.read(min(length, limit + 1)) if length else b""
        if length > limit:
            self.close_connection = True  # the rest of the body is not read
        headers = {k.lower(): v for k, v in self.headers.items()}
        response = gateway.handle(
            Request(method=self.command, path=self.path, headers=headers, body=body, received=received)
        )
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.stream is None:
            self.send_header("content-length", str(len(response.body)))
            if self.close_connection:
                self.send_header("connection", "close")
            self.end_headers()
            self.wfile.write(response.body)
            return
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        stream = response.stream
        try:
            for piece in stream:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()

    def _send_error(self, exc: Exception) -> None:
        status, headers, body = error_response(exc)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve
