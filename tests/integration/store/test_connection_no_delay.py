"""The store's connections turn Nagle's algorithm off (as libpq does): pg8000 writes a large Bind, such as a
memory search's 1024-dimension embedding, in several segments between waits, and with Nagle on the last one
waited for the server's delayed ACK (~40 ms on Linux: a memory search took ~45 ms instead of ~5)."""

from __future__ import annotations

import socket

from regiongate.store.postgres import ConnectionParams


def test_a_store_connection_has_tcp_nodelay(database_url):
    conn = ConnectionParams.from_url(database_url).connect()
    try:
        assert conn._usock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert conn.run("SELECT 1") == [[1]]
    finally:
        conn.close()
