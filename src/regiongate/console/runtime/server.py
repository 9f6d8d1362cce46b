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
    console = Console(
        region=settings.region,
        store=store,
        secure_cookies=settings.secure_cookies,
        oidc=oidc_client(settings),
        credentials=provider_credentials(settings, store),
    )
    return create_app(console), store


def provider_credentials(settings: ConsoleSettings, store: PostgresStore):
    """Orgs' own provider keys, sealed with the stack key (KMS client built on first use, in the region)."""
    from regiongate.store.provider_credentials import Envelope, ProviderCredentials

    document = settings.region.document
    if document is None:
        return None
    key = settings.credentials_key_arn
    envelope = Envelope(key, document.code, document.aws_region) if key else None
    return ProviderCredentials(store, envelope, document)


def oidc_client(settings: ConsoleSettings):
    """The single sign-on client when the region configures it; the client secret is read from Secrets Manager
    (in the console's own region) on first use and kept in memory."""
    oidc = settings.oidc
    if oidc is None:
        return None
    from regiongate.console.runtime.oidc import OidcClient, OidcError

    cached: list[str] = []

    def client_secret() -> str:
        if oidc.client_secret:
            return oidc.client_secret
        if not cached:
            import boto3

            assert oidc.client_secret_arn is not None
            region_name = oidc.client_secret_arn.split(":")[3]
            value = boto3.client("secretsmanager", region_name=region_name).get_secret_value(
                SecretId=oidc.client_secret_arn
            )["SecretString"]
            secret = _client_secret_value(value)
            if not secret:
                raise OidcError("Single sign-on is not ready: the client secret in Secrets Manager is not set yet.")
            cached.append(secret)
        return cached[0]

    return OidcClient(oidc, client_secret=client_secret)


def _client_secret_value(value: str) -> str:
    """The secret as plain text, or the ``client_secret`` of a JSON object (what the stack's own secret holds)."""
    import json

    text = value.strip()
    if text.startswith("{"):
        try:
            return str(json.loads(text).get("client_secret") or "")
        except ValueError:
            return ""
    return text


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
