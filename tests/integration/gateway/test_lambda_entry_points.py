"""The two Lambda entry points with real ALB and SQS event payloads: moto for SQS and Secrets Manager,
a loopback Azure OpenAI fake, the real PostgreSQL. ALB event → gateway → SQS → writer → database."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from regiongate.audit.runtime import writer as audit_writer
from regiongate.config.gateway import runtime_document
from regiongate.contract import environment as settings_module
from regiongate.gateway.runtime import handler
from regiongate.store.keys import KeyService
from tests.fixtures.gateway_db import dump_database
from tests.paths import REPO_ROOT

pytestmark = pytest.mark.postgres
EVENTS = REPO_ROOT / "tests" / "fixtures" / "events"


def load_event(name: str, key: str = "") -> dict:
    return json.loads((EVENTS / name).read_text().replace("__KEY__", key))


@pytest.fixture
def lambda_env(monkeypatch, tmp_path, catalogue, database_url, pg_store, azure):
    """What the stack gives the functions, with the Azure endpoint pointed at the loopback fake."""
    document = runtime_document(catalogue.region("eu"))
    for provider in document["providers"]:
        if provider["type"] == "azure_openai":
            provider["endpoint"] = azure.url
    config = tmp_path / "region.json"
    config.write_text(json.dumps(document))
    with mock_aws():
        sqs = boto3.client("sqs", region_name="eu-central-1")
        queue_url = sqs.create_queue(QueueName="regiongate-eu-audit")["QueueUrl"]
        secrets = boto3.client("secretsmanager", region_name="eu-central-1")
        secret_arn = secrets.create_secret(
            Name="regiongate/eu/provider-credentials",
            SecretString=json.dumps({"azure-weu": {"api_key": "from-secrets-manager"}}),
        )["ARN"]
        env = {
            "REGIONGATE_REGION_CODE": "eu",
            "REGIONGATE_CONFIG_PATH": str(config),
            "DATABASE_URL": database_url,
            "AUDIT_QUEUE_URL": queue_url,
            "PROVIDER_SECRET_ARN": secret_arn,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        settings_module.settings.cache_clear()
        monkeypatch.setattr(handler, "_gateway", None)
        monkeypatch.setattr(audit_writer, "_store", None)
        yield {"sqs": sqs, "queue_url": queue_url, "store": pg_store}
        settings_module.settings.cache_clear()


def drain(sqs, queue_url) -> list[dict]:
    records = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return records
        records += [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "eventSource": "aws:sqs",
                "awsRegion": "eu-central-1",
            }
            for m in batch
        ]


def test_health_event(lambda_env):
    response = handler.handle(load_event("alb_health.json"), None)
    assert response["statusCode"] == 200 and response["statusDescription"] == "200 OK"
    assert json.loads(response["body"]) == {"status": "ok", "region": "eu"}


def test_alb_chat_goes_through_sqs_and_the_writer_into_postgres(lambda_env, azure):
    store = lambda_env["store"]
    key = KeyService(store).create(region_code="eu", org_id="acme", team_id="ml").key
    response = handler.handle(load_event("alb_chat.json", key), None)
    assert response["statusCode"] == 200, response["body"]
    assert response["isBase64Encoded"] is False
    assert json.loads(response["body"])["choices"][0]["message"]["content"] == "Hello from Azure"
    assert azure.requests[0]["headers"]["api-key"] == "from-secrets-manager"

    stream = handler.handle(load_event("alb_stream_base64.json", key), None)
    assert stream["statusCode"] == 200 and stream["headers"]["content-type"] == "text/event-stream"
    assert stream["body"].endswith("data: [DONE]\n\n") and '"usage"' in stream["body"]  # sent whole behind an ALB

    records = drain(lambda_env["sqs"], lambda_env["queue_url"])
    assert len(records) == 2
    # First writer invocation migrates (advisory lock) and writes; redelivery of the batch adds nothing.
    assert audit_writer.handle({"Records": records}, None) == {"batchItemFailures": []}
    assert audit_writer.handle({"Records": records}, None) == {"batchItemFailures": []}
    [row] = store.spend(scope="team", scope_id="acme/ml")
    assert row.requests == 2 and row.input_tokens == 22 and row.output_tokens == 10
    dump = dump_database(store)
    assert dump.count(response["headers"]["x-request-id"]) == 1


def test_writer_reports_only_bad_messages_as_failures(lambda_env):
    records = [{"messageId": "m1", "body": "{}"}, {"messageId": "m2", "body": "garbage"}]
    assert audit_writer.handle({"Records": records}, None) == {
        "batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]
    }


def test_missing_settings_give_a_503_naming_nothing_secret(monkeypatch):
    monkeypatch.delenv("REGIONGATE_REGION_CODE", raising=False)
    settings_module.settings.cache_clear()
    monkeypatch.setattr(handler, "_gateway", None)
    response = handler.handle(load_event("alb_health.json"), None)
    settings_module.settings.cache_clear()
    assert response["statusCode"] == 503
    assert json.loads(response["body"])["error"]["type"] == "service_unavailable"


def test_settings_name_the_missing_variable():
    from regiongate.contract.environment import Settings, SettingsError

    with pytest.raises(SettingsError, match="REGIONGATE_CONFIG_PATH"):
        Settings.from_env({"REGIONGATE_REGION_CODE": "eu"})
    with pytest.raises(SettingsError, match="DB_HOST, DB_NAME, DB_SECRET_ARN"):
        Settings.from_env({"REGIONGATE_REGION_CODE": "eu", "REGIONGATE_CONFIG_PATH": "/x"})
    ok = Settings.from_env(
        {
            "REGIONGATE_REGION_CODE": "eu",
            "REGIONGATE_CONFIG_PATH": "/x",
            "DB_HOST": "h",
            "DB_NAME": "regiongate",
            "DB_SECRET_ARN": "arn",
            "DB_PORT": "5432",
            "DB_CA_BUNDLE": "/ca.pem",
        }
    )
    assert ok.db_port == 5432 and ok.database_url is None


def test_an_unreachable_audit_queue_withholds_the_answer_with_503_audit_unavailable(lambda_env, azure, monkeypatch):
    """The Lambda sends the event before it answers: no ALB answer is ever given whose audit event was lost."""
    store = lambda_env["store"]
    key = KeyService(store).create(region_code="eu", org_id="acme", team_id="ml").key
    # moto answers only AWS endpoints; nothing listens on loopback port 9: every send is refused.
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9")
    withheld = []
    for name in ("alb_chat.json", "alb_stream_base64.json"):
        response = handler.handle(load_event(name, key), None)
        assert response["statusCode"] == 503 and response["statusDescription"] == "503 Service Unavailable"
        assert response["headers"]["content-type"] == "application/json"
        error = json.loads(response["body"])["error"]
        assert set(error) == {"message", "type", "param", "code"}  # OpenAI's error shape
        assert error["type"] == "audit_unavailable" and "retry later" in error["message"]
        assert "Hello from Azure" not in response["body"]
        withheld.append(response["headers"]["x-request-id"])
    assert len(azure.requests) == 2  # the upstream answered; the gateway withheld it
    assert drain(lambda_env["sqs"], lambda_env["queue_url"]) == []

    # The queue is reachable again (a new instance: the unreachable endpoint was fixed in the old one's client).
    monkeypatch.delenv("AWS_ENDPOINT_URL_SQS")
    monkeypatch.setattr(handler, "_gateway", None)
    response = handler.handle(load_event("alb_chat.json", key), None)
    assert response["statusCode"] == 200, response["body"]
    records = drain(lambda_env["sqs"], lambda_env["queue_url"])
    # Requests answered == audit events: exactly the one answered request, none of the withheld ones.
    assert [json.loads(r["body"])["request_id"] for r in records] == [response["headers"]["x-request-id"]]
    assert not set(withheld) & {json.loads(r["body"])["request_id"] for r in records}


def test_a_withheld_answer_is_a_503_in_its_metric_and_releases_its_budget_reservation(
    lambda_env, azure, monkeypatch, capsys
):
    """What the client got is what CloudWatch counts; the spend it was never answered for is not held."""
    from decimal import Decimal

    from regiongate.contract import metrics as names

    store = lambda_env["store"]
    key = KeyService(store).create(region_code="eu", org_id="acme", team_id="ml", monthly_budget_usd=Decimal("5")).key
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9")  # nothing listens: every send is refused

    response = handler.handle(load_event("alb_chat.json", key), None)

    assert response["statusCode"] == 503 and len(azure.requests) == 1
    # The function's stdout, where CloudWatch Logs reads the embedded metric format line.
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    (document,) = [line for line in lines if line.get("logger") == "regiongate.metrics"]
    assert document[names.ERRORS_5XX] == 1
    assert document[names.DIMENSION_ERROR_TYPE] == "audit_unavailable"
    with store.pool.connection() as conn:
        assert conn.run("SELECT count(*) FROM spend_holds") == [[0]]  # released, not settled
