"""``Registry.warm()``: a served process loads the platform's provider credentials and builds the clients before its
first request (one event loop serves every request, and these loads would block it). A provider that cannot be
warmed is named and left to be retried on first use, never a reason not to start."""

from __future__ import annotations

from regiongate.contract.document import ProviderEntry
from regiongate.gateway.runtime.providers import Registry
from regiongate.gateway.runtime.providers.credentials import Credentials

PROVIDERS = {
    "azure-weu": ProviderEntry(name="azure-weu", type="azure_openai", endpoint="https://x", location="westeurope"),
    "bedrock-eu": ProviderEntry(name="bedrock-eu", type="bedrock", aws_region="eu-central-1"),
}


def test_warm_loads_the_credentials_once_and_builds_every_provider():
    loads = []

    def loader():
        loads.append(1)
        return {"azure-weu": {"api_key": "k"}}

    registry = Registry(PROVIDERS, Credentials(loader, env={}))
    assert registry.warm() == []
    assert loads == [1]
    assert registry.get("bedrock-eu")._client is not None  # boto3's client is built, not on the first request
    registry.get("azure-weu").credentials.api_key("azure-weu")
    assert loads == [1]  # the first request finds them loaded


def test_a_provider_that_cannot_be_warmed_is_named_and_retried_on_first_use():
    calls = []

    def loader():
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("secrets manager unreachable")
        return {"azure-weu": {"api_key": "k"}}

    registry = Registry(PROVIDERS, Credentials(loader, env={}))
    assert registry.warm() == ["azure-weu (ServiceUnavailable)"]
    assert registry.get("azure-weu").credentials.api_key("azure-weu") == "k"
    assert len(calls) == 2
