"""Residency checks of an org's own provider credential when it is added (pure: the region document only)."""

import pytest

from regiongate.config.gateway import runtime_document
from regiongate.config.regions import load_catalogue
from regiongate.contract.document import RuntimeConfig
from regiongate.store.provider_credentials import (
    API_KEY,
    BEDROCK_ROLE,
    CredentialRecord,
    CredentialRefused,
    SealedSecret,
    check_credential,
    check_secret,
)


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


def runtime(catalogue, code: str) -> RuntimeConfig:
    return RuntimeConfig.from_document(runtime_document(catalogue.region(code)))


def azure_host(rt: RuntimeConfig) -> str:
    provider = next(p for p in rt.providers.values() if p.type == "azure_openai")
    return provider.endpoint.split("//", 1)[1]


def test_azure_endpoint_on_the_allowlist_is_accepted(catalogue):
    eu = runtime(catalogue, "eu")
    checked = check_credential(eu, "azure-weu", endpoint=f"https://{azure_host(eu)}/")
    assert (checked.kind, checked.endpoint, checked.role_arn) == (API_KEY, f"https://{azure_host(eu)}", None)
    # No endpoint: the key is used at the provider's configured endpoint.
    assert check_credential(eu, "azure-weu").endpoint is None


def test_endpoint_outside_the_allowlist_is_refused_naming_the_allowed_hosts(catalogue):
    eu = runtime(catalogue, "eu")
    allowed = ", ".join(eu.allowed_hosts)
    with pytest.raises(CredentialRefused, match="is not on region eu's allowlist") as refused:
        check_credential(eu, "azure-weu", endpoint="https://acme-eastus.openai.azure.com")
    assert allowed in str(refused.value) and "acme-eastus.openai.azure.com" in str(refused.value)
    cn = runtime(catalogue, "cn")
    with pytest.raises(CredentialRefused, match=r"api\.openai\.com is not on region cn's allowlist"):
        check_credential(cn, "qwen-cn", endpoint="https://api.openai.com/v1")


@pytest.mark.parametrize(
    "endpoint, problem",
    [
        ("http://{host}", "must be an https:// URL"),
        ("https://user:pw@{host}", "must be an https:// URL"),
        ("https://{host}/?x=1", "must be an https:// URL"),
        ("https://{host}:8443", "only the https port 443"),
        ("https://{host}/openai/deployments", "not an Azure OpenAI resource endpoint"),
    ],
)
def test_endpoint_shape(catalogue, endpoint, problem):
    eu = runtime(catalogue, "eu")
    with pytest.raises(CredentialRefused, match=problem):
        check_credential(eu, "azure-weu", endpoint=endpoint.format(host=azure_host(eu)))


def test_openai_compatible_endpoint_on_the_allowlist_keeps_its_path(catalogue):
    cn = runtime(catalogue, "cn")
    checked = check_credential(cn, "deepseek-cn", endpoint="https://api.deepseek.com/v1/")
    assert checked.endpoint == "https://api.deepseek.com/v1"


def test_bedrock_role_in_the_stack_partition(catalogue):
    eu = runtime(catalogue, "eu")
    arn = f"arn:{eu.partition}:iam::123456789012:role/regiongate/acme-bedrock"
    checked = check_credential(eu, "bedrock-eu", role_arn=arn)
    assert (checked.kind, checked.role_arn, checked.endpoint) == (BEDROCK_ROLE, arn, None)


@pytest.mark.parametrize(
    "arn, problem",
    [
        ("arn:aws-cn:iam::123456789012:role/acme", "is in partition aws-cn, but region eu is in aws"),
        ("arn:aws-us-gov:iam::123456789012:role/acme", "is in partition aws-us-gov"),
        ("arn:aws:iam::123456789012:user/acme", "is not an IAM role ARN"),
        ("arn:aws:sts::123456789012:assumed-role/acme/x", "is not an IAM role ARN"),
        ("arn:aws:iam::12345:role/acme", "is not an IAM role ARN"),
        ("arn:aws:iam::123456789012:role/acme", "must be under the IAM path /regiongate/"),
        ("arn:aws:iam::123456789012:role/admin/regiongate/acme", "must be under the IAM path /regiongate/"),
        ("", "is not an IAM role ARN"),
    ],
)
def test_bedrock_role_refusals(catalogue, arn, problem):
    with pytest.raises(CredentialRefused, match=problem):
        check_credential(runtime(catalogue, "eu"), "bedrock-eu", role_arn=arn)


def test_kind_must_fit_the_provider(catalogue):
    eu = runtime(catalogue, "eu")
    with pytest.raises(CredentialRefused, match="its org credential is a bedrock_role, not api_key"):
        check_credential(eu, "bedrock-eu", kind=API_KEY)
    with pytest.raises(CredentialRefused, match="takes an API key, not a role"):
        check_credential(eu, "azure-weu", role_arn="arn:aws:iam::123456789012:role/x")
    with pytest.raises(CredentialRefused, match="a Bedrock credential has no endpoint"):
        check_credential(eu, "bedrock-eu", endpoint=f"https://{azure_host(eu)}")
    with pytest.raises(CredentialRefused, match="has no provider 'qwen-cn'; its providers: bedrock-eu, azure-weu"):
        check_credential(eu, "qwen-cn")


def test_secret_checks():
    assert check_secret("sk-abc123\n") == b"sk-abc123"
    for bad, problem in (
        ("", "empty"),
        ("sk abc", "printable ASCII"),
        ("sk-ä", "printable ASCII"),
        ("x" * 5000, "longer"),
    ):
        with pytest.raises(CredentialRefused, match=problem):
            check_secret(bad)


def test_no_read_type_can_show_the_secret():
    assert "secret" not in " ".join(CredentialRecord.__dataclass_fields__)
    assert "api_key" not in CredentialRecord.__dataclass_fields__
    assert repr(SealedSecret(b"k" * 10, b"n" * 12, b"sk-visible-ciphertext")) == "SealedSecret(<21 bytes sealed>)"
