"""Provider details through real clients against loopback fakes (boto3 error mapping, OpenAI-compatible in
China), provider and database credentials from Secrets Manager (moto), and per-org guardrail overrides."""

from __future__ import annotations

import json
from dataclasses import replace

import boto3
import pytest
from moto import mock_aws

from regiongate.config.gateway import runtime_document
from regiongate.contract.document import GuardrailPolicy, RuntimeConfig
from regiongate.contract.environment import Settings
from regiongate.gateway.runtime.providers.credentials import Credentials, secret_loader
from regiongate.gateway.runtime.transport import Request
from regiongate.store.connections import connection_params, secret_json_fetcher
from regiongate.store.memory import MemoryStore
from tests.fixtures.fakes import FakeOpenAI
from tests.fixtures.gateway import body_of, make_gateway, new_key, post

CHAT = "/v1/chat/completions"


def chat(model="claude-sonnet-4-5", content="Hello"):
    return {"model": model, "messages": [{"role": "user", "content": content}]}


@pytest.mark.parametrize(
    "status, code, expected_status, expected_type, attempts",
    [
        (429, "ThrottlingException", 429, "upstream_rate_limited", 3),
        (400, "ValidationException", 400, "upstream_invalid_request", 1),
        (403, "AccessDeniedException", 502, "upstream_error", 1),
        (424, "ModelErrorException", 400, "upstream_invalid_request", 1),
        (408, "ModelTimeoutException", 504, "upstream_timeout", 1),
    ],
)
def test_bedrock_errors_map_through_boto3(eu_runtime, bedrock, status, code, expected_status, expected_type, attempts):
    store = MemoryStore()
    gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock)
    bedrock.fail_next(3, status, code)
    response = post(gateway, CHAT, chat(), new_key(store))
    assert (response.status, body_of(response)["error"]["type"]) == (expected_status, expected_type)
    assert len(bedrock.requests) == attempts
    assert "(fake)" not in response.body.decode()  # the upstream's message text is not relayed


def test_openai_compatible_in_china(catalogue):
    runtime = RuntimeConfig.from_document(runtime_document(catalogue.region("cn")))
    store = MemoryStore()
    fake = FakeOpenAI(reply="你好")
    try:
        gateway, sink = make_gateway(runtime, store, openai_compatible=("qwen-cn", fake))
        key = new_key(store, region="cn")
        answer = body_of(post(gateway, CHAT, chat("qwen-plus"), key))
        assert answer["choices"][0]["message"]["content"] == "你好"
        sent = fake.requests[0]
        assert sent["path"] == "/v1/chat/completions" and sent["json"]["model"] == "qwen-plus"
        assert sent["headers"]["authorization"] == "Bearer azure-test-key"
        embedded = body_of(post(gateway, "/v1/embeddings", {"model": "text-embedding-v3", "input": ["a"]}, key))
        assert embedded["data"][0]["embedding"] == [0.5, -0.25, 1.0]
        eu_key = new_key(store, region="eu")
        assert body_of(post(gateway, CHAT, chat("qwen-plus"), eu_key))["error"]["message"] == (
            "API key is for region EU, but request was made to CN"
        )
    finally:
        fake.close()


def test_missing_provider_credentials_are_a_503_not_a_crash(eu_runtime, azure):
    from regiongate.audit.runtime.events import ListAuditSink
    from regiongate.gateway.runtime.providers import Registry
    from regiongate.gateway.runtime.service import Gateway

    store = MemoryStore()
    gateway = Gateway(
        eu_runtime,
        store=store,
        audit=ListAuditSink(),
        registry=Registry(eu_runtime.providers, Credentials(lambda: {}), overrides={"azure-weu": azure.url}),
    )
    response = post(gateway, CHAT, chat("gpt-4o"), new_key(store))
    assert response.status == 503 and "azure-weu" in body_of(response)["error"]["message"]
    assert azure.requests == []


def test_credentials_from_environment_win(monkeypatch):
    monkeypatch.setenv("REGIONGATE_PROVIDER_AZURE_WEU_API_KEY", "from-env")
    assert Credentials(lambda: {"azure-weu": {"api_key": "from-file"}}).api_key("azure-weu") == "from-env"
    assert Credentials(lambda: {"qwen-cn": "plain-string"}).api_key("qwen-cn") == "plain-string"


def test_secrets_are_fetched_lazily_once():
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="eu-central-1")
        arn = client.create_secret(Name="p", SecretString=json.dumps({"azure-weu": {"api_key": "k1"}}))["ARN"]
        calls = []
        loader = secret_loader(arn, "eu-central-1")
        credentials = Credentials(lambda: calls.append(1) or loader())
        assert calls == []  # nothing at construction
        assert credentials.api_key("azure-weu") == "k1" and credentials.api_key("azure-weu") == "k1"
        assert calls == [1]


def test_database_credentials_come_from_the_rds_secret_with_tls():
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="eu-central-1")
        arn = client.create_secret(
            Name="db", SecretString=json.dumps({"username": "regiongate_admin", "password": "pw", "engine": "postgres"})
        )["ARN"]
        settings = Settings.from_env(
            {
                "REGIONGATE_REGION_CODE": "eu",
                "REGIONGATE_CONFIG_PATH": "/x",
                "DB_HOST": "db.internal",
                "DB_PORT": "5432",
                "DB_NAME": "regiongate",
                "DB_SECRET_ARN": arn,
                "DB_CA_BUNDLE": "/var/task/regiongate/store/rds-ca/global-bundle.pem",
            }
        )
        params = connection_params(settings, secret_json_fetcher("eu-central-1"))
    assert (params.host, params.user, params.password, params.database) == (
        "db.internal",
        "regiongate_admin",
        "pw",
        "regiongate",
    )
    assert (params.ssl_mode, params.ca_bundle) == ("verify-full", "/var/task/regiongate/store/rds-ca/global-bundle.pem")


def test_org_guardrail_overrides(eu_runtime, bedrock):
    strict = GuardrailPolicy(
        max_request_bytes=2048,
        max_input_tokens=10,
        model_allowlist=("claude-sonnet-4-5",),
        detectors=({"name": "secret-project", "type": "regex", "pattern": "ORION", "action": "block"},),
    )
    runtime = replace(eu_runtime, org_guardrails={"strict-org": strict})
    store = MemoryStore()
    gateway, sink = make_gateway(runtime, store, bedrock=bedrock)
    strict_key, relaxed_key = new_key(store, org="strict-org"), new_key(store, org="acme")
    assert post(gateway, CHAT, chat(content="ORION"), relaxed_key).status == 200
    assert body_of(post(gateway, CHAT, chat(content="ORION"), strict_key))["error"]["type"] == "guardrail_violation"
    assert post(gateway, CHAT, chat("gpt-4o"), strict_key).status == 403
    assert post(gateway, CHAT, chat(content="word " * 20), strict_key).status == 400
    assert post(gateway, CHAT, chat(content="x" * 3000), strict_key).status == 413
    models = gateway.handle(Request("GET", "/v1/models", {"authorization": f"Bearer {strict_key}"}))
    assert [m["id"] for m in body_of(models)["data"]] == ["claude-sonnet-4-5"]
