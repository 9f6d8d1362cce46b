"""The served process hides what it loaded at start from the cycle collector before it serves (``gc.freeze``): a
full collection otherwise walks every module, service model and document on the event loop while streams wait."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import gc
from regiongate.gateway.runtime import local

class Gateway:  # what GatewayApp reads of a Gateway before a request comes
    max_request_bytes = 1000

local.uvicorn.Server.run = lambda self, sockets=None: None  # serve nothing: only what happens before
server = local.GatewayHTTPServer(("127.0.0.1", 0), Gateway())
before = gc.get_freeze_count()
server.serve_forever()
server.server_close()
print(before, gc.get_freeze_count() > 0)
"""


def test_serving_starts_with_what_was_loaded_frozen():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["0", "True"], out.stdout + out.stderr
