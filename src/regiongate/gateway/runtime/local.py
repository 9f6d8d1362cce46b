"""The gateway's HTTP server for ``regiongate serve`` and the container: uvicorn (httptools) running
:class:`~regiongate.gateway.runtime.asgi.GatewayApp`.

``GatewayHTTPServer`` keeps the shape of a stdlib ``socketserver`` server (``server_address``,
``serve_forever``, ``shutdown``, ``server_close``) so a test can run it on a thread; ``regiongate serve`` runs
it on the main thread, where uvicorn handles SIGTERM and SIGINT: it stops accepting, lets in-flight requests
and streams finish for up to ``ServerLimits.graceful_shutdown`` seconds, then cancels the rest (each
cancelled stream is closed and recorded).
"""

from __future__ import annotations

import gc
import logging
import socket
import threading
from typing import TYPE_CHECKING

import uvicorn

from regiongate.gateway.runtime.asgi import GatewayApp, ServerLimits
from regiongate.gateway.runtime.asgi_httptools import direct_body, protocol_class

if TYPE_CHECKING:
    from regiongate.gateway.runtime.service import Gateway

log = logging.getLogger("regiongate.local")


BACKLOG = 2048


def listening_socket(address: tuple[str, int], backlog: int = BACKLOG) -> socket.socket:
    """The server's bound, listening TCP socket (bound once by the parent when several processes serve it,
    regiongate.gateway.runtime.processes)."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose proto says TCP; with
    # proto 0 every answer's body waited ~40 ms for the delayed ACK (measured in bench/bench_gateway.py).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


class GatewayHTTPServer:
    def __init__(
        self,
        address: tuple[str, int],
        gateway: Gateway,
        limits: ServerLimits = ServerLimits(),
        *,
        sock: socket.socket | None = None,
    ) -> None:
        """``sock``: an already bound and listening socket (``listening_socket``) to serve instead of binding
        ``address``: a worker process serves the socket its parent bound; closed by ``server_close``."""
        self.gateway = gateway
        self.limits = limits
        self.app = GatewayApp(gateway, limits, direct_body)
        self.socket = sock if sock is not None else listening_socket(address)
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        config = uvicorn.Config(
            self.app,
            http=protocol_class(limits),
            loop="asyncio",
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            date_header=True,
            timeout_keep_alive=int(limits.keep_alive),
            timeout_graceful_shutdown=int(limits.graceful_shutdown),
            backlog=BACKLOG,
        )
        self._server = uvicorn.Server(config)
        self._stopped = threading.Event()

    @property
    def started(self) -> bool:
        return bool(self._server.started)

    def serve_forever(self, poll_interval: float | None = None) -> None:
        """Serve until ``shutdown()`` or, on the main thread, SIGTERM/SIGINT. ``poll_interval`` is ignored."""
        self._stopped.clear()
        # Everything loaded so far (modules, botocore's service models, the region document) lives as long as the
        # process: out of the collector's sight, a full collection no longer walks it on the event loop while
        # streams wait (measured: ~150 ms pauses at 400 streams, docs/benchmarks.md). Garbage is collected first, so
        # none is kept for good.
        gc.collect()
        gc.freeze()
        try:
            self._server.run(sockets=[self.socket])
        finally:
            self._stopped.set()

    def request_stop(self) -> None:
        """What SIGTERM does, without waiting: no new connections, in-flight requests finish, then
        ``serve_forever`` returns (also before it started: it then stops as soon as it has started)."""
        self._server.should_exit = True

    def shutdown(self, timeout: float | None = None) -> None:
        """Graceful stop from another thread: no new connections, in-flight requests finish."""
        self._server.should_exit = True
        self._stopped.wait(timeout)

    def server_close(self) -> None:
        self.socket.close()
        self.app.close()
