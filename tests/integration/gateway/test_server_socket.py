"""The local/container server's accepted connections have Nagle's algorithm off (TCP_NODELAY).

asyncio sets TCP_NODELAY only on sockets created with proto IPPROTO_TCP; a listening socket made with proto 0 gave
every answer body a ~40 ms delayed-ACK wait (bench/bench_gateway.py measured it). The option is asserted, not the time.
"""

from __future__ import annotations

import socket

from regiongate.gateway.runtime.local import GatewayHTTPServer
from regiongate.store.memory import MemoryStore
from tests.fixtures.gateway import make_gateway


def test_the_listening_socket_is_a_tcp_socket_so_asyncio_disables_nagle(eu_runtime):
    gateway, _ = make_gateway(eu_runtime, MemoryStore())
    server = GatewayHTTPServer(("127.0.0.1", 0), gateway)
    try:
        assert server.socket.proto == socket.IPPROTO_TCP
    finally:
        server.server_close()
