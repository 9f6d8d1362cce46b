"""``python -m regiongate_console``: a stdlib HTTP server with the health endpoint the platform relies on."""

from __future__ import annotations

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from regiongate_console import PORT


class Handler(BaseHTTPRequestHandler):
    server_version = "regiongate-console"
    sys_version = ""

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/healthz":
            self._send(200, {"status": "ok"})
        else:
            self._send(404, {"error": "not found"})

    do_HEAD = do_GET

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        # One line per request on stdout (the awslogs driver ships it); health checks are not logged.
        if self.path != "/healthz":
            print(f"{self.address_string()} {format % args}", flush=True)


def main() -> int:
    port = int(os.environ.get("CONSOLE_PORT", PORT))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)  # noqa: S104 - inside the task's network namespace
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # ECS stops tasks with SIGTERM
    print(f"regiongate console listening on :{port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
