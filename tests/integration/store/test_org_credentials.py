"""Organisations' own provider credentials in PostgreSQL, sealed with moto's KMS: the round trip, the context
that must match, and a database dump that never contains the key."""

import os
import subprocess
from dataclasses import replace
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from pg8000.exceptions import DatabaseError

from regiongate.config.gateway import runtime_document
from regiongate.config.regions import load_catalogue
from regiongate.contract.document import RuntimeConfig
from regiongate.store.provider_credentials import (
    CredentialNotFound,
    CredentialRefused,
    Envelope,
    ProviderCredentials,
    SecretDoesNotOpen,
    aead_open,
    encryption_context,
)
from tests.fixtures.clock import pinned
from tests.fixtures.gateway_db import dump_database

SECRET = "sk-acme-0123456789abcdefSECRET"


@pytest.fixture
def pg_store(pg_store):
    """The emptied store, without any org credentials of other tests either."""
    with pg_store.pool.connection() as conn:
        conn.run("TRUNCATE org_provider_credentials")
    return pg_store


@pytest.fixture
def kms():
    with mock_aws():
        client = boto3.client("kms", region_name="eu-central-1")
        key_arn = client.create_key(Description="stack key")["KeyMetadata"]["Arn"]
        yield client, key_arn


@pytest.fixture(scope="module")
def eu():
    return RuntimeConfig.from_document(runtime_document(load_catalogue().region("eu")))


def envelope(kms, region_code="eu"):
    client, key_arn = kms
    return Envelope(key_arn, region_code, "eu-central-1", client=client)


def test_round_trip_with_a_data_key_per_secret(kms):
    env = envelope(kms)
    first = env.seal("acme", "azure-weu", SECRET.encode())
    second = env.seal("acme", "azure-weu", SECRET.encode())
    assert env.open("acme", "azure-weu", first) == SECRET.encode()
    assert first.encrypted_data_key != second.encrypted_data_key  # a new data key every time
    assert first.nonce != second.nonce and first.ciphertext != second.ciphertext
    assert SECRET.encode() not in first.ciphertext + first.encrypted_data_key


@pytest.mark.parametrize(
    "org, provider, region", [("globex", "azure-weu", "eu"), ("acme", "bedrock-eu", "eu"), ("acme", "azure-weu", "us")]
)
def test_a_wrong_encryption_context_fails(kms, org, provider, region):
    sealed = envelope(kms).seal("acme", "azure-weu", SECRET.encode())
    with pytest.raises(ClientError, match="InvalidCiphertext"):
        envelope(kms, region).open(org, provider, sealed)


def test_kms_context_alone_is_not_enough(kms):
    """The same data key with another context as associated data does not open it either (the AAD binds it)."""
    client, key_arn = kms
    env = envelope(kms)
    sealed = env.seal("acme", "azure-weu", SECRET.encode())
    data_key = client.decrypt(
        CiphertextBlob=sealed.encrypted_data_key, EncryptionContext=encryption_context("acme", "eu", "azure-weu")
    )["Plaintext"]
    with pytest.raises(SecretDoesNotOpen, match="does not decrypt"):
        aead_open(data_key, sealed.nonce, sealed.ciphertext, b'{"org":"globex","provider":"azure-weu","region":"eu"}')


def test_kms_calls_carry_the_context(kms):
    calls = []
    client, key_arn = kms

    class Recording:
        def generate_data_key(self, **kw):
            calls.append(("generate", kw))
            return client.generate_data_key(**kw)

        def decrypt(self, **kw):
            calls.append(("decrypt", kw))
            return client.decrypt(**kw)

    env = Envelope(key_arn, "eu", "eu-central-1", client=Recording())
    env.open("acme", "azure-weu", env.seal("acme", "azure-weu", b"k-1"))
    context = {"org": "acme", "region": "eu", "provider": "azure-weu"}
    assert [(name, kw["EncryptionContext"], kw["KeyId"]) for name, kw in calls] == [
        ("generate", context, key_arn),
        ("decrypt", context, key_arn),
    ]
    assert calls[0][1]["KeySpec"] == "AES_256"


def test_service_in_postgres_never_returns_or_stores_the_key(kms, pg_store, eu, database_url):
    service = ProviderCredentials(pg_store, envelope(kms), eu, clock=pinned())
    record = service.put(org_id="acme", provider="azure-weu", set_by="usr_1", secret=SECRET + "\n")
    assert (record.kind, record.endpoint, record.replaced_at, record.set_by) == ("api_key", None, None, "usr_1")
    assert SECRET not in repr(service.list("acme")) and service.list("globex") == []
    stored = pg_store.provider_credential("acme", "azure-weu")
    assert envelope(kms).open("acme", "azure-weu", stored.sealed) == SECRET.encode()

    # Every column of every row, as text, and a real pg_dump of the database: the key is nowhere.
    dump = dump_database(pg_store)
    assert "org_provider_credentials" in dump and SECRET not in dump
    url = urlsplit(database_url)
    pg_dump = subprocess.run(
        ["pg_dump", "--data-only", "-h", url.hostname, "-p", str(url.port), "-U", url.username, url.path.lstrip("/")],
        env={**os.environ, "PGPASSWORD": url.password},
        capture_output=True,
        check=True,
    ).stdout
    assert b"COPY public.org_provider_credentials" in pg_dump
    assert SECRET.encode() not in pg_dump and SECRET.encode().hex().encode() not in pg_dump

    with pytest.raises(CredentialRefused, match="already has a credential for azure-weu; replace it"):
        service.put(org_id="acme", provider="azure-weu", set_by="usr_1", secret="sk-other")
    replaced = service.put(
        org_id="acme", provider="azure-weu", set_by="usr_2", secret="sk-new-key", replace_existing=True
    )
    assert replaced.created_at == record.created_at and replaced.replaced_at is not None and replaced.set_by == "usr_2"
    assert envelope(kms).open("acme", "azure-weu", pg_store.provider_credential("acme", "azure-weu").sealed) == (
        b"sk-new-key"
    )
    with pytest.raises(CredentialNotFound, match="has no credential for bedrock-eu to replace"):
        service.put(
            org_id="acme",
            provider="bedrock-eu",
            set_by="usr_1",
            role_arn="arn:aws:iam::123456789012:role/regiongate/x",
            replace_existing=True,
        )
    role = service.put(
        org_id="acme", provider="bedrock-eu", set_by="usr_1", role_arn="arn:aws:iam::123456789012:role/regiongate/x"
    )
    assert pg_store.provider_credential("acme", "bedrock-eu").sealed is None and role.kind == "bedrock_role"
    assert [r.provider for r in service.list()] == ["azure-weu", "bedrock-eu"]
    assert service.delete("acme", "azure-weu") and not service.delete("acme", "azure-weu")
    assert pg_store.provider_credential("acme", "azure-weu") is None


def test_platform_fallback_defaults_to_allowed(pg_store, eu):
    service = ProviderCredentials(pg_store, None, eu, clock=pinned())
    assert service.platform_fallback("acme")  # no org row yet
    pg_store.ensure_org("acme")
    assert service.platform_fallback("acme")  # an existing org: allowed, as before
    service.set_platform_fallback("acme", False)
    assert not service.platform_fallback("acme") and service.platform_fallback("globex")
    with pytest.raises(CredentialRefused, match="no KMS key for org credentials"):
        service.put(org_id="acme", provider="azure-weu", set_by="usr_1", secret="sk-x")


def test_the_table_refuses_a_half_envelope(pg_store, kms, eu):
    from regiongate.store.provider_credentials import StoredCredential

    service = ProviderCredentials(pg_store, envelope(kms), eu, clock=pinned())
    service.put(org_id="acme", provider="azure-weu", set_by="usr_1", secret="sk-x")
    stored = pg_store.provider_credential("acme", "azure-weu")
    with pytest.raises(DatabaseError, match="check constraint"):
        pg_store.put_provider_credential(StoredCredential(record=stored.record, sealed=None))
    with pytest.raises(DatabaseError, match="check constraint"):
        pg_store.put_provider_credential(replace(stored, record=replace(stored.record, endpoint="http://x")))
