"""``regiongate org-credentials add|replace|delete|list`` against the real PostgreSQL and moto's KMS: the key is
read from stdin (never an argument), sealed, never printed; endpoints off the allowlist are refused."""

from __future__ import annotations

import io

import boto3
import pytest
from moto import mock_aws

from regiongate.cli.main import main
from tests.fixtures.gateway_db import dump_database

pytestmark = pytest.mark.postgres
SECRET = "sk-cli-acme-0123456789SECRET"


@pytest.fixture
def cli(monkeypatch, database_url, pg_store, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    with pg_store.pool.connection() as conn:
        conn.run("TRUNCATE org_provider_credentials")
    with mock_aws():
        key_arn = boto3.client("kms", region_name="eu-central-1").create_key()["KeyMetadata"]["Arn"]
        monkeypatch.setenv("REGIONGATE_CREDENTIALS_KEY_ARN", key_arn)

        def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
            code = main(list(argv))
            out, err = capsys.readouterr()
            return code, out, err

        yield run


def test_add_list_replace_delete(cli, pg_store):
    base = ("--region", "eu", "--org", "acme")
    code, out, err = cli("org-credentials", "add", *base, "--provider", "azure-weu", "--by", "ops", stdin=SECRET + "\n")
    assert code == 0, err
    assert "added org acme's api_key for azure-weu" in out and SECRET not in out + err
    code, out, _ = cli("org-credentials", "list", *base, "--platform-fallback", "deny")
    assert code == 0 and "azure-weu\tapi_key" in out and "by ops" in out and SECRET not in out
    assert "platform credentials as fallback: denied" in out
    assert not pg_store.platform_fallback("acme")

    code, _, err = cli("org-credentials", "add", *base, "--provider", "azure-weu", stdin="sk-2")
    assert code == 2 and "already has a credential for azure-weu; replace it instead" in err
    code, out, err = cli("org-credentials", "replace", *base, "--provider", "azure-weu", stdin="sk-2")
    assert code == 0 and "replaced" in out, err
    code, out, _ = cli("org-credentials", "list", "--region", "eu", "--org", "globex")
    assert "org globex has no credentials of its own" in out and "allowed" in out

    role = "arn:aws:iam::123456789012:role/regiongate/acme-bedrock"
    code, out, err = cli("org-credentials", "add", *base, "--provider", "bedrock-eu", "--role-arn", role)
    assert code == 0, err
    code, out, _ = cli("org-credentials", "list", *base)
    assert role in out and "sts:ExternalId regiongate:eu:acme" in out
    assert SECRET not in dump_database(pg_store)

    code, out, _ = cli("org-credentials", "delete", *base, "--provider", "azure-weu")
    assert code == 0 and pg_store.provider_credential("acme", "azure-weu") is None
    code, _, err = cli("org-credentials", "delete", *base, "--provider", "azure-weu")
    assert code == 1 and "has no credential for azure-weu" in err


def test_refusals(cli, pg_store):
    base = ("--region", "eu", "--org", "acme")
    code, _, err = cli(
        "org-credentials", "add", *base, "--provider", "azure-weu", "--endpoint", "https://evil.example.com", stdin="k"
    )
    assert code == 2 and "host evil.example.com is not on region eu's allowlist" in err
    code, _, err = cli(
        "org-credentials",
        "add",
        *base,
        "--provider",
        "bedrock-eu",
        "--role-arn",
        "arn:aws-cn:iam::123456789012:role/regiongate/x",
    )
    assert code == 2 and "is in partition aws-cn, but region eu is in aws" in err
    code, _, err = cli(
        "org-credentials",
        "add",
        *base,
        "--provider",
        "azure-weu",
        "--kms-key-arn",
        "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000",
        stdin="k",
    )
    assert code == 2 and "--kms-key-arn must be the stack's key in aws/eu-central-1" in err
    with pytest.raises(SystemExit, match="2"):  # there is no argument that takes the key
        main(["org-credentials", "add", *base, "--provider", "azure-weu", "--api-key", SECRET])
    assert pg_store.list_provider_credentials() == []
