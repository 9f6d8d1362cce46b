"""Wires settings, the shared store and the app together, and serves it with uvicorn."""

from __future__ import annotations

import logging
import signal

from regiongate.console.runtime.app import Console, create_app
from regiongate.console.runtime.settings import ConsoleSettings
from regiongate.store.postgres import ConnectionPool, PostgresStore

log = logging.getLogger("regiongate.console")


def open_store(settings: ConsoleSettings, pool_size: int = 8) -> PostgresStore:
    """The gateway's PostgresStore (same tables, same key code) on a pool of its own; no connection until used."""
    return PostgresStore(ConnectionPool(settings.connector(), size=pool_size))


def build(settings: ConsoleSettings, *, migrate: bool = True):
    store = open_store(settings)
    if migrate:
        # The gateway's numbered migrations, console tables included, under the migration advisory lock.
        applied = store.migrate()
        if applied:
            log.info("applied migrations %s", applied)
    console = Console(region=settings.region, store=store, secure_cookies=settings.secure_cookies)
    return create_app(console), store


def _exit_cleanly(*_: object) -> None:
    raise SystemExit(0)


def serve(settings: ConsoleSettings, *, announce: bool = True) -> int:
    import uvicorn

    app, store = build(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        server_header=False,
        proxy_headers=False,
        access_log=True,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    if announce:
        print(
            f"regiongate {settings.region.display_name} console on http://{settings.host}:{settings.port}/", flush=True
        )
    # uvicorn shuts down gracefully on SIGTERM (how ECS stops a task), then re-raises the signal to the handler
    # that was installed before it: make that a clean exit (status 0), before and after uvicorn runs.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        server.run()
    finally:
        store.pool.close()
    return 0
