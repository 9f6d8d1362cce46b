"""How the runtimes reach the audit store: ``DATABASE_URL`` locally; in AWS, the RDS secret read from Secrets
Manager on first connection and again when PostgreSQL rejects the password (after a rotation)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from regiongate.store import tls
from regiongate.store.postgres import ConnectionParams, ConnectionPool, PostgresStore, RefreshingConnect

SecretFetcher = Callable[[str], Mapping[str, Any]]


class DatabaseSettings(Protocol):
    """Where the database is: the functions' ``Settings`` and the console's settings both have these."""

    @property
    def database_url(self) -> str | None: ...
    @property
    def db_host(self) -> str | None: ...
    @property
    def db_port(self) -> int: ...
    @property
    def db_name(self) -> str | None: ...
    @property
    def db_secret_arn(self) -> str | None: ...
    @property
    def db_ca_bundle(self) -> str | None: ...
    @property
    def db_tls(self) -> str | None: ...


def secret_json_fetcher(region_name: str) -> SecretFetcher:
    """Reads a JSON secret from Secrets Manager in ``region_name`` (a client per call: it runs once per
    connection-parameter load, not per request)."""

    def fetch(arn: str) -> Mapping[str, Any]:
        import boto3  # not at import: the Lambda's cold start pays for it only when it connects

        value: Mapping[str, Any] = json.loads(
            boto3.client("secretsmanager", region_name=region_name).get_secret_value(SecretId=arn)["SecretString"]
        )
        return value

    return fetch


def connection_params(settings: DatabaseSettings, secret_fetcher: SecretFetcher | None = None) -> ConnectionParams:
    """From ``DATABASE_URL`` locally (verified when it names a CA or DB_CA_BUNDLE is set), or DB_HOST/DB_PORT/DB_NAME
    + the RDS secret in AWS: verified against DB_CA_BUNDLE, refused without it unless the deployment acknowledged
    an unverified connection (regiongate.store.tls)."""
    if settings.database_url:
        return ConnectionParams.from_url(settings.database_url, settings.db_ca_bundle)
    if settings.db_secret_arn is None or settings.db_host is None or settings.db_name is None:
        raise ValueError("DB_HOST, DB_NAME and DB_SECRET_ARN are needed without DATABASE_URL")
    if secret_fetcher is None:
        raise ValueError("DB_SECRET_ARN is set but no secret fetcher was given")
    ssl_mode, ca_bundle = tls.aws_ssl(settings.db_ca_bundle, settings.db_tls, settings.db_host)
    secret = secret_fetcher(settings.db_secret_arn)
    return ConnectionParams(
        host=settings.db_host,
        port=settings.db_port,
        database=settings.db_name,
        user=secret["username"],
        password=secret["password"],
        ssl_mode=ssl_mode,
        ca_bundle=ca_bundle,
    )


def refreshing_connect(settings: DatabaseSettings, region_name: str) -> RefreshingConnect:
    """Opens connections; reads the secret (in ``region_name``) on first use and again after a rejected password."""
    return RefreshingConnect(lambda: connection_params(settings, secret_json_fetcher(region_name)))


def postgres_store(settings: DatabaseSettings, region_name: str, pool_size: int = 2) -> PostgresStore:
    """A store whose first connection (and, in AWS, the secret lookup) happens on first use. When the
    database rejects the password (the secret was rotated), the secret is read again once."""
    return PostgresStore(ConnectionPool(refreshing_connect(settings, region_name), size=pool_size))
