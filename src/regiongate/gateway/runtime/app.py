"""Composition: builds a Gateway (and the writer's store) from settings, lazily, for Lambda and local use."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from regiongate.contract.settings import RuntimeConfig, Settings
from regiongate.gateway.runtime.providers import Credentials, Registry, RetryPolicy, file_loader, secret_loader
from regiongate.store.postgres import ConnectionPool, PostgresStore, RefreshingConnect, connection_params


def secret_json_fetcher(region_name: str) -> Callable[[str], Mapping[str, Any]]:
    """Reads a JSON secret from Secrets Manager in ``region_name`` (a client per call: it runs once per
    connection-parameter load, not per request)."""

    def fetch(arn: str) -> Mapping[str, Any]:
        import boto3

        return json.loads(
            boto3.client("secretsmanager", region_name=region_name).get_secret_value(SecretId=arn)["SecretString"]
        )

    return fetch


def postgres_store(settings: Settings, region_name: str, pool_size: int = 2) -> PostgresStore:
    """A store whose first connection (and, in AWS, the secret lookup) happens on first use. When the
    database rejects the password (the secret was rotated), the secret is read again once."""
    connect = RefreshingConnect(lambda: connection_params(settings, secret_json_fetcher(region_name)))
    return PostgresStore(ConnectionPool(connect, size=pool_size))


def credentials_for(settings: Settings, region_name: str) -> Credentials:
    if settings.provider_secret_arn:
        return Credentials(secret_loader(settings.provider_secret_arn, region_name))
    if settings.provider_credentials_file:
        return Credentials(file_loader(settings.provider_credentials_file))
    return Credentials(lambda: {})


def lambda_gateway(settings: Settings):
    """The gateway as the ALB-fronted Lambda runs it: SQS audit, whole (non-streamed) responses."""
    from regiongate.audit.runtime.events import SqsAuditSink
    from regiongate.contract.errors import ServiceUnavailable
    from regiongate.gateway.runtime.service import Gateway

    runtime = RuntimeConfig.load(settings.config_path, settings.region_code)
    if not settings.audit_queue_url:
        raise ServiceUnavailable("AUDIT_QUEUE_URL is not set: the gateway refuses to serve without an audit trail")
    return Gateway(
        runtime,
        store=postgres_store(settings, runtime.aws_region),
        registry=Registry(runtime.providers, credentials_for(settings, runtime.aws_region)),
        audit=SqsAuditSink(settings.audit_queue_url, runtime.aws_region),
        whole_responses=True,
    )


def local_gateway(
    runtime: RuntimeConfig,
    *,
    settings: Settings,
    overrides: Mapping[str, str] | None = None,
    store: Any = None,
    retry: RetryPolicy = RetryPolicy(),
    key_cache_ttl: float | None = None,
    audit_interval: float = 0.2,
):
    """The same gateway for ``regiongate serve``: streams, and writes audit events through the writer code."""
    from regiongate.audit.runtime.events import BackgroundAuditSink
    from regiongate.audit.runtime.writer import write_bodies
    from regiongate.common import logs
    from regiongate.gateway.runtime.service import Gateway

    logs.write_in_background()  # log lines are written by a thread, off the request path (see logs.BackgroundHandler)
    store = store or postgres_store(settings, runtime.aws_region, pool_size=8)
    sink = BackgroundAuditSink(lambda bodies: write_bodies(store, bodies), interval=audit_interval)
    gateway = Gateway(
        runtime,
        store=store,
        registry=Registry(runtime.providers, credentials_for(settings, runtime.aws_region), overrides=overrides),
        audit=sink,
        retry=retry,
        key_cache_ttl=key_cache_ttl,
    )
    return gateway, sink
