"""Composition: builds a Gateway (and the writer's store) from settings, lazily, for Lambda and local use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from regiongate.contract.document import RuntimeConfig
from regiongate.contract.environment import Settings
from regiongate.gateway.runtime.providers import Registry
from regiongate.gateway.runtime.providers.credentials import Credentials, file_loader, secret_loader
from regiongate.gateway.runtime.providers.org_credentials import OrgCredentialResolver
from regiongate.gateway.runtime.providers.retries import RetryPolicy
from regiongate.store.connections import postgres_store

if TYPE_CHECKING:  # imported where they are built: the service and the sinks load on first invocation
    from regiongate.audit.runtime.events import BackgroundAuditSink
    from regiongate.gateway.runtime.service import Gateway


def credentials_for(settings: Settings, region_name: str) -> Credentials:
    if settings.provider_secret_arn:
        return Credentials(secret_loader(settings.provider_secret_arn, region_name))
    if settings.provider_credentials_file:
        return Credentials(file_loader(settings.provider_credentials_file))
    return Credentials(lambda: {})


def registry_for(
    runtime: RuntimeConfig, settings: Settings, store: Any, overrides: Mapping[str, str] | None = None
) -> Registry:
    """The region's providers with the platform's credentials, and the orgs' own ones (``org_credentials_for``)."""
    return Registry(
        runtime.providers,
        credentials_for(settings, runtime.aws_region),
        overrides=overrides,
        org_credentials=org_credentials_for(settings, runtime, store),
    )


def org_credentials_for(settings: Settings, runtime: RuntimeConfig, store: Any) -> OrgCredentialResolver:
    """Orgs' own credentials, opened with the stack key (none set: an org's API key cannot be opened, 503),
    cached as long as API keys are (``key_cache_ttl_seconds``)."""
    from regiongate.gateway.runtime.providers.org_credentials import sts_assume_role
    from regiongate.store.provider_credentials import Envelope

    envelope = (
        Envelope(settings.credentials_key_arn, runtime.code, runtime.aws_region)
        if settings.credentials_key_arn
        else None
    )
    return OrgCredentialResolver(
        store,
        envelope,
        runtime.code,
        assume_role=sts_assume_role(runtime.aws_region),
        ttl=float(runtime.key_cache_ttl_seconds),
    )


def lambda_gateway(settings: Settings) -> Gateway:
    """The gateway as the ALB-fronted Lambda runs it: SQS audit, whole (non-streamed) responses."""
    from regiongate.audit.runtime.events import SqsAuditSink
    from regiongate.contract.errors import ServiceUnavailable
    from regiongate.gateway.runtime.service import Gateway

    runtime = settings.region_document()
    if not settings.audit_queue_url:
        raise ServiceUnavailable("AUDIT_QUEUE_URL is not set: the gateway refuses to serve without an audit trail")
    store = postgres_store(settings, runtime.aws_region)
    return Gateway(
        runtime,
        store=store,
        registry=registry_for(runtime, settings, store),
        audit=SqsAuditSink(settings.audit_queue_url, runtime.aws_region),
        whole_responses=True,
        upstream_deadline=runtime.max_generation_seconds,  # gateway.max_generation_seconds (at most 100 s here)
    )


# The store's reads behind the gateway's caches (keys, limits, budgets, orgs' credentials): asked once by all the
# requests that miss the same entry at the same moment (cooperative.OffLoop).
SHARED_STORE_READS = (
    "find_key_by_hash",
    "rate_limits",
    "org_budget",
    "team_budget",
    "provider_credential",
    "platform_fallback",
)


def served_gateway(
    runtime: RuntimeConfig,
    *,
    settings: Settings,
    store: Any,
    audit: Any,
    overrides: Mapping[str, str] | None = None,
    **options: Any,
) -> Gateway:
    """The gateway as the served process runs it (``regiongate serve``, the container): each request in a greenlet
    on the event loop (``cooperative``), so its store calls run on the blocking-call threads and its back-off waits
    on the loop. ``options``: further ``Gateway`` arguments (retry, key_cache_ttl, upstream_deadline)."""
    from regiongate.gateway.runtime import cooperative
    from regiongate.gateway.runtime.service import Gateway
    from regiongate.store.memory_facts import PostgresMemoryStore

    pool = getattr(store, "pool", None)
    served_store = cooperative.OffLoop(store, shared=SHARED_STORE_READS)
    return Gateway(
        runtime,
        store=served_store,
        registry=registry_for(runtime, settings, served_store, overrides),
        audit=audit,
        memory=cooperative.OffLoop(PostgresMemoryStore(pool)) if pool is not None else None,
        sleep=cooperative.sleep,
        **options,
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
) -> tuple[Gateway, BackgroundAuditSink]:
    """The same gateway for ``regiongate serve``: streams, and writes audit events through the writer code."""
    from regiongate.audit.runtime.events import BackgroundAuditSink
    from regiongate.audit.runtime.writer import write_bodies
    from regiongate.common import logs

    logs.write_in_background()  # log lines are written by a thread, off the request path (see logs.BackgroundHandler)
    store = store or postgres_store(settings, runtime.aws_region, pool_size=8)
    sink = BackgroundAuditSink(lambda bodies: write_bodies(store, bodies), interval=audit_interval)
    gateway = served_gateway(
        runtime,
        settings=settings,
        store=store,
        audit=sink,
        overrides=overrides,
        retry=retry,
        key_cache_ttl=key_cache_ttl,
    )
    return gateway, sink
