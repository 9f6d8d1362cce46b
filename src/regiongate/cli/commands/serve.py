"""``regiongate serve``: the gateway's handler code behind a local HTTP server (no AWS account needed)."""

from __future__ import annotations

import argparse
import os
import signal
import sys

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
    from regiongate.contract.environment import DATABASE_URL, LOG_LEVEL, PROVIDER_CREDENTIALS_FILE, Settings
    from regiongate.gateway.runtime.app import local_gateway
    from regiongate.gateway.runtime.asgi import ServerLimits
    from regiongate.gateway.runtime.local import GatewayHTTPServer
    from regiongate.store.connections import postgres_store

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
    store = postgres_store(settings, runtime.aws_region, pool_size=8)
    store.migrate()
    store.maintain(runtime.audit_retention_months)
    gateway, sink = local_gateway(runtime, settings=settings, overrides=overrides, store=store)
    for name in runtime.providers:  # build clients now (boto3 import and client set-up), not on the first request
        provider = gateway.registry.get(name)
        if hasattr(provider, "client"):
            provider.client()
    limits = ServerLimits(graceful_shutdown=args.graceful_shutdown)
    server = GatewayHTTPServer((args.host, args.port), gateway, limits)
    # uvicorn handles SIGTERM/SIGINT while it serves (stop accepting, let in-flight streams finish) and raises
    # the signal again once it has stopped: these handlers make that second delivery a no-op, so the audit
    # events still queued are written below.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    print(f"regiongate {region.display_name} gateway on http://{args.host}:{server.server_address[1]}/v1", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        sink.close()
        store.pool.close()
    return 0
