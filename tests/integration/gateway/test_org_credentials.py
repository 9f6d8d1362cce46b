"""The gateway serves an org's requests with the org's own provider credential (sealed in the region's
PostgreSQL with moto's KMS), falls back to the platform's only where the org allows it, and the audit row
says which served (never the credential). The upstream is a loopback fake OpenAI-compatible provider."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from regiongate.audit.runtime.events import ListAuditSink
from regiongate.config.gateway import runtime_document
from regiongate.contract.document import RuntimeConfig
from regiongate.gateway.runtime.providers import Registry
from regiongate.gateway.runtime.providers.credentials import Credentials
from regiongate.gateway.runtime.providers.org_credentials import OrgCredentialResolver
from regiongate.gateway.runtime.providers.retries import RetryPolicy
from regiongate.gateway.runtime.service import Gateway
from regiongate.store.provider_credentials import Envelope, ProviderCredentials
from tests.fixtures.clock import pinned
from tests.fixtures.fakes import FakeOpenAI
from tests.fixtures.gateway import AZURE_KEY, body_of, new_key, post

CHAT = "/v1/chat/completions"
ACME_KEY = "sk-acme-own-qwen-key-0123456789"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def cn(catalogue) -> RuntimeConfig:
    return RuntimeConfig.from_document(runtime_document(catalogue.region("cn")))


@pytest.fixture
def world(cn, pg_store):
    with pg_store.pool.connection() as conn:
        conn.run("TRUNCATE org_provider_credentials")
    fake = FakeOpenAI(reply="你好")
    with mock_aws():
        kms = boto3.client("kms", region_name=cn.aws_region)
        key_arn = kms.create_key()["KeyMetadata"]["Arn"]
        envelope = Envelope(key_arn, cn.code, cn.aws_region, client=kms)
        service = ProviderCredentials(pg_store, envelope, cn, clock=pinned())
        monotonic = Clock()
        sink = ListAuditSink()
        resolver = OrgCredentialResolver(pg_store, envelope, cn.code, ttl=30.0, monotonic=monotonic)
        registry = Registry(
            cn.providers,
            Credentials(lambda: {name: {"api_key": AZURE_KEY} for name in cn.providers}),
            overrides={"qwen-cn": fake.url + "/v1", "deepseek-cn": fake.url + "/v1"},
            org_credentials=resolver,
        )
        gateway = Gateway(
            cn,
            store=pg_store,
            registry=registry,
            audit=sink,
            retry=RetryPolicy(attempts=1, base_delay=0.0),
            sleep=lambda s: None,
            clock=pinned(),
            monotonic=monotonic,
        )
        try:
            yield gateway, sink, service, fake, monotonic, pg_store
        finally:
            fake.close()


def chat(model: str = "qwen-plus", stream: bool = False) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": "你好"}], "stream": stream}


def audit_sources(store, sink) -> dict:
    assert store.write_audit_events(sink.events) == len(sink.events)
    with store.pool.connection() as conn:
        rows = conn.run("SELECT org_id, status, credential_source FROM audit_events ORDER BY created_at, org_id")
    return rows


def test_org_key_serves_the_org_and_the_platform_key_the_others(world):
    gateway, sink, service, fake, _, store = world
    service.put(org_id="acme", provider="qwen-cn", set_by="usr_admin", secret=ACME_KEY)
    acme, globex = new_key(store, region="cn", org="acme"), new_key(store, region="cn", org="globex")

    assert post(gateway, CHAT, chat(), acme).status == 200
    assert fake.requests[-1]["headers"]["authorization"] == f"Bearer {ACME_KEY}"
    assert post(gateway, CHAT, chat(stream=True), acme).status == 200
    assert fake.requests[-1]["headers"]["authorization"] == f"Bearer {ACME_KEY}"
    # Another org cannot use it: globex has none of its own and is served with the platform's key.
    assert post(gateway, CHAT, chat(), globex).status == 200
    assert fake.requests[-1]["headers"]["authorization"] == f"Bearer {AZURE_KEY}"
    # Embeddings on the same provider: the org's key too.
    assert post(gateway, "/v1/embeddings", {"model": "text-embedding-v3", "input": ["a"]}, acme).status == 200
    assert fake.requests[-1]["headers"]["authorization"] == f"Bearer {ACME_KEY}"
    # A provider the org has no credential for: the platform's (acme allows the fallback, the default).
    assert post(gateway, CHAT, chat("deepseek-chat"), acme).status == 200
    assert fake.requests[-1]["headers"]["authorization"] == f"Bearer {AZURE_KEY}"

    events = sink.events
    assert [e["credential_source"] for e in events] == ["org", "org", "platform", "org", "platform"]
    assert all(ACME_KEY not in str(e) for e in events)
    rows = audit_sources(store, sink)
    assert sorted((r[0], r[2]) for r in rows) == [
        ("acme", "org"),
        ("acme", "org"),
        ("acme", "org"),
        ("acme", "platform"),
        ("globex", "platform"),
    ]


def test_no_fallback_means_a_clear_refusal_and_no_upstream_call(world):
    gateway, sink, service, fake, _, store = world
    service.set_platform_fallback("initech", False)
    key = new_key(store, region="cn", org="initech")
    response = post(gateway, CHAT, chat(), key)
    error = body_of(response)["error"]
    assert (response.status, error["type"]) == (403, "org_credential_missing")
    assert "org initech has no credential of its own for provider qwen-cn" in error["message"]
    assert fake.requests == []
    assert sink.events[-1]["credential_source"] is None
    # Once it adds its own, the same request is served with it.
    service.put(org_id="initech", provider="qwen-cn", set_by="usr_admin", secret="sk-initech-1")
    world[4].now += 31  # the cached refusal expires
    assert post(gateway, CHAT, chat(), key).status == 200
    assert fake.requests[-1]["headers"]["authorization"] == "Bearer sk-initech-1"
    assert [r[2] for r in audit_sources(store, sink)] == [None, "org"]


def test_replace_and_delete_take_effect_within_the_cache_time(world):
    gateway, sink, service, fake, monotonic, store = world
    service.put(org_id="acme", provider="qwen-cn", set_by="usr_admin", secret=ACME_KEY)
    key = new_key(store, region="cn", org="acme")
    assert post(gateway, CHAT, chat(), key).status == 200
    service.put(org_id="acme", provider="qwen-cn", set_by="usr_admin", secret="sk-acme-2", replace_existing=True)
    assert post(gateway, CHAT, chat(), key).status == 200
    assert fake.requests[-1]["headers"]["authorization"] == f"Bearer {ACME_KEY}"  # still cached
    monotonic.now += 31
    assert post(gateway, CHAT, chat(), key).status == 200
    assert fake.requests[-1]["headers"]["authorization"] == "Bearer sk-acme-2"
    service.delete("acme", "qwen-cn")
    monotonic.now += 31
    assert post(gateway, CHAT, chat(), key).status == 200
    assert fake.requests[-1]["headers"]["authorization"] == f"Bearer {AZURE_KEY}"
    assert [e["credential_source"] for e in sink.events] == ["org", "org", "org", "platform"]


def test_an_undecryptable_credential_is_a_503_that_names_no_secret(world):
    gateway, sink, service, fake, _, store = world
    service.put(org_id="acme", provider="qwen-cn", set_by="usr_admin", secret=ACME_KEY)
    with store.pool.connection() as conn:  # a row moved to another org: its encryption context no longer matches
        conn.run("UPDATE org_provider_credentials SET org_id = 'globex' WHERE org_id = 'acme'")
    response = post(gateway, CHAT, chat(), new_key(store, region="cn", org="globex"))
    error = body_of(response)["error"]
    assert (
        response.status == 503
        and "org globex's credential for provider qwen-cn could not be decrypted" in (error["message"])
    )
    assert fake.requests == [] and ACME_KEY not in response.body.decode()


def test_bedrock_role_of_the_org_is_assumed_in_region_with_its_external_id(catalogue, pg_store):
    from regiongate.store.provider_credentials import external_id
    from tests.fixtures.fakes import FakeBedrock

    eu = RuntimeConfig.from_document(runtime_document(catalogue.region("eu")))
    with pg_store.pool.connection() as conn:
        conn.run("TRUNCATE org_provider_credentials")
    fake = FakeBedrock(reply="Paris")
    calls = []
    with mock_aws():
        sts = boto3.client("sts", region_name=eu.aws_region)

        def assume(**kwargs):
            calls.append(kwargs)
            return sts.assume_role(**kwargs)

        service = ProviderCredentials(pg_store, None, eu, clock=pinned())
        role = f"arn:{eu.partition}:iam::123456789012:role/regiongate/acme-bedrock"
        service.put(org_id="acme", provider="bedrock-eu", set_by="usr_admin", role_arn=role)
        sink = ListAuditSink()
        bedrock = next(p for p in eu.providers.values() if p.type == "bedrock").name
        gateway = Gateway(
            eu,
            store=pg_store,
            registry=Registry(
                eu.providers,
                Credentials(lambda: {}),
                overrides={bedrock: fake.url},
                org_credentials=OrgCredentialResolver(pg_store, None, eu.code, assume_role=assume),
            ),
            audit=sink,
            retry=RetryPolicy(attempts=1, base_delay=0.0),
            sleep=lambda s: None,
            clock=pinned(),
        )
        try:
            assert post(gateway, CHAT, chat("claude-sonnet-4-5"), new_key(pg_store, org="acme")).status == 200
            signed = {k.lower(): v for k, v in fake.requests[-1]["headers"].items()}["authorization"]
            assert post(gateway, CHAT, chat("claude-sonnet-4-5"), new_key(pg_store, org="globex")).status == 200
            platform_signed = {k.lower(): v for k, v in fake.requests[-1]["headers"].items()}["authorization"]
        finally:
            fake.close()
    assert calls == [
        {
            "RoleArn": role,
            "RoleSessionName": "regiongate-eu-acme",
            "ExternalId": external_id("eu", "acme"),
            "DurationSeconds": 900,
        }
    ]
    assert "Credential=ASIA" in signed and f"/{eu.providers[bedrock].aws_region}/bedrock/" in signed
    assert "Credential=local/" in platform_signed  # globex: the platform's (here the loopback's throw-away) credentials
    assert [e["credential_source"] for e in sink.events] == ["org", "platform"]
