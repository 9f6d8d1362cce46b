"""``regiongate serve``: the gateway's handler code behind a local HTTP server (no AWS account needed)."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
from typing import Any

from regiongate.config.gateway import runtime_document
from regiongate.config.regions import DEFAULT_CONFIG_PATH, load_catalogue


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run a region's gateway locally (database from DATABASE_URL)",
        description="Serve the OpenAI-compatible gateway of one region on a local port. Audit events are written "
        "by the same writer code, in process. Provider credentials come from REGIONGATE_PROVIDER_<NAME>_API_KEY "
        "or the JSON file at REGIONGATE_PROVIDER_CREDENTIALS_FILE (see docs/gateway.md).",
    )
    parser.add_argument("--region", required=True, help="region code from regions.yaml (eu, us, sg, cn)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--upstream",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="point provider NAME at a loopback base URL (repeatable); only 127.0.0.1, localhost or ::1",
    )
    parser.add_argument("--config", default=str(DEFAULT_CONFIG_PATH), help="path of regions.yaml")
    parser.add_argument(
        "--graceful-shutdown",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="on SIGTERM, how long in-flight requests and streams may take to finish (default 300)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help="server processes sharing the port, one per CPU to use (default 1: one process, one CPU at most)",
    )
    parser.set_defaults(func=run)


def parse_upstreams(values: list[str]) -> dict[str, str]:
    from regiongate.gateway.runtime.providers.base import is_loopback_url

    result = {}
    for value in values:
        name, sep, url = value.partition("=")
        if not sep or not name or not url:
            raise SystemExit(f"regiongate serve: --upstream {value!r}: expected NAME=URL")
        if not is_loopback_url(url):
            raise SystemExit(
                f"regiongate serve: --upstream {name}={url}: only loopback URLs (127.0.0.1, localhost, ::1) are accepted"
            )
        result[name] = url
    return result


def run(args: argparse.Namespace) -> int:
    from regiongate.common import logs
    from regiongate.contract.document import RuntimeConfig
    from regiongate.contract.environment import (
        DATABASE_URL,
        LOG_LEVEL,
        MAX_GATEWAY_PROCESSES,
        PROVIDER_CREDENTIALS_FILE,
        Settings,
    )
    from regiongate.store.connections import postgres_store

    if not 1 <= args.processes <= MAX_GATEWAY_PROCESSES:
        print(f"regiongate serve: --processes must be from 1 to {MAX_GATEWAY_PROCESSES}", file=sys.stderr)
        return 2
    region = load_catalogue(args.config).region(args.region)
    if region.gateway is None:
        print(f"regiongate serve: regions.{args.region}.gateway is not configured", file=sys.stderr)
        return 2
    overrides = parse_upstreams(args.upstream)
    unknown = [name for name in overrides if name not in {p.name for p in region.gateway.providers}]
    if unknown:
        valid = ", ".join(p.name for p in region.gateway.providers)
        print(
            f"regiongate serve: --upstream {unknown[0]}: no such provider in {args.region}; valid: {valid}",
            file=sys.stderr,
        )
        return 2
    database_url = os.environ.get(DATABASE_URL)
    if not database_url:
        print("regiongate serve: set DATABASE_URL (postgresql://user:password@host:port/db)", file=sys.stderr)
        return 2
    logs.configure(os.environ.get(LOG_LEVEL, "INFO"))
    runtime = RuntimeConfig.from_document(runtime_document(region))
    settings = Settings(
        region_code=region.code,
        config_path=args.config,
        database_url=database_url,
        provider_credentials_file=os.environ.get(PROVIDER_CREDENTIALS_FILE) or None,
    )
    if args.processes == 1:
        return serve(args, region.display_name, runtime, settings, overrides)
    if threading.active_count() > 1:
        # A fork copies only the forking thread: a lock another thread holds stays held in every worker. Nothing
        # starts a thread before this point (the CLI loads no CDK: shared_constructs.region_key_statements).
        names = ", ".join(t.name for t in threading.enumerate() if t is not threading.current_thread())
        print(f"regiongate serve: cannot start worker processes while other threads run ({names})", file=sys.stderr)
        return 2

    from regiongate.gateway.runtime.local import listening_socket
    from regiongate.gateway.runtime.processes import serve_workers

    # Once, before the workers exist; the connection is closed before the fork (none may cross it).
    store = postgres_store(settings, runtime.aws_region, pool_size=1)
    try:
        store.migrate()
        store.maintain(runtime.audit_retention_months)
    finally:
        store.pool.close()
    listener = listening_socket((args.host, args.port))
    port = listener.getsockname()[1]
    print(
        f"regiongate {region.display_name} gateway on http://{args.host}:{port}/v1 ({args.processes} processes)",
        flush=True,
    )
    return serve_workers(
        args.processes,
        listener,
        lambda sock, stop: serve(args, region.display_name, runtime, settings, overrides, sock, stop, migrate=False),
    )


def serve(
    args: argparse.Namespace,
    display_name: str,
    runtime: Any,
    settings: Any,
    overrides: dict[str, str],
    listener: socket.socket | None = None,
    stop: Any = None,
    *,
    migrate: bool = True,
) -> int:
    """One server process: all of ``regiongate serve``, or (``listener`` and ``stop`` given) one worker of
    several (regiongate.gateway.runtime.processes), with its own pool, audit sink and gateway."""
    from regiongate.gateway.runtime.app import local_gateway
    from regiongate.gateway.runtime.asgi import ServerLimits
    from regiongate.gateway.runtime.local import GatewayHTTPServer
    from regiongate.store.connections import postgres_store

    store = postgres_store(settings, runtime.aws_region, pool_size=8)
    if migrate:
        store.migrate()
        store.maintain(runtime.audit_retention_months)
    gateway, sink = local_gateway(runtime, settings=settings, overrides=overrides, store=store)
    not_warmed = gateway.registry.warm()  # clients and credentials now, not on the loop during the first requests
    if not_warmed:
        print(f"regiongate serve: not ready yet (retried on first use): {', '.join(not_warmed)}", file=sys.stderr)
    limits = ServerLimits(graceful_shutdown=args.graceful_shutdown)
    server = GatewayHTTPServer((args.host, args.port), gateway, limits, sock=listener)
    if stop is not None:
        # A worker: a stop before the server existed stops it once started; the signal uvicorn raises again
        # after stopping is a no-op (StopRequest), so the audit events still queued are written below.
        stop.on_request(server.request_stop)
    else:
        # uvicorn handles SIGTERM/SIGINT while it serves (stop accepting, let in-flight streams finish) and raises
        # the signal again once it has stopped: these handlers make that second delivery a no-op, so the audit
        # events still queued are written below.
        signal.signal(signal.SIGTERM, lambda signum, frame: None)
        signal.signal(signal.SIGINT, lambda signum, frame: None)
        print(f"regiongate {display_name} gateway on http://{args.host}:{server.server_address[1]}/v1", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        sink.close()
        store.pool.close()
    return 0
