"""The region document contract: what synthesis writes is exactly what every runtime reads, and anything else is
refused with a message that names the key (unknown, missing, wrong type) or the version (what was found, what this
runtime reads, what to do)."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest

from regiongate.config.gateway import runtime_config, runtime_document
from regiongate.config.regions import load_catalogue
from regiongate.contract import document as contract
from regiongate.contract.document import CONTRACT_VERSION, DocumentError, RuntimeConfig

CATALOGUE = load_catalogue()
SHIPPED = [region.code for region in CATALOGUE.regions]


def eu_document() -> dict[str, Any]:
    return copy.deepcopy(runtime_document(CATALOGUE.region("eu")))


def test_every_shipped_region_is_shipped():
    assert set(SHIPPED) >= {"eu", "us", "sg", "cn"}


@pytest.mark.parametrize("code", SHIPPED)
def test_every_shipped_regions_document_round_trips(code):
    region = CATALOGUE.region(code)
    document = runtime_document(region)
    assert document["contract_version"] == CONTRACT_VERSION
    parsed = RuntimeConfig.from_document(json.loads(json.dumps(document)))  # through JSON, as the runtimes read it
    assert parsed == runtime_config(region)
    assert parsed.to_document() == document
    assert RuntimeConfig.from_json(parsed.to_json(), "env") == parsed


def test_the_typed_values_are_the_catalogues():
    parsed = RuntimeConfig.from_document(eu_document())
    gateway = CATALOGUE.region("eu").gateway
    assert list(parsed.models) == [m.name for m in gateway.models]
    assert all(isinstance(m.input_usd_per_mtok, Decimal) for m in parsed.models.values())
    assert parsed.key_cache_ttl_seconds == gateway.key_cache_ttl_seconds
    assert parsed.audit_retention_months == gateway.audit_retention_months


def test_load_checks_the_region(tmp_path):
    path = tmp_path / "region.json"
    path.write_text(json.dumps(eu_document()))
    assert RuntimeConfig.load(str(path), "eu").code == "eu"
    with pytest.raises(DocumentError, match="document of region eu, but this runtime is us"):
        RuntimeConfig.load(str(path), "us")
    with pytest.raises(DocumentError, match="file not found"):
        RuntimeConfig.load(str(tmp_path / "missing.json"))
    path.write_text("{not json")
    with pytest.raises(DocumentError, match=r"region\.json: not JSON"):
        RuntimeConfig.load(str(path))


# --- unknown keys -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "change, key",
    [
        (lambda d: d.update(extra=1), r"^extra: unknown key"),
        (lambda d: d["providers"][0].update(api_key="x"), r"^providers\[0\]\.api_key: unknown key"),
        (lambda d: d["providers"][0].update(base_url="https://x"), r"^providers\[0\]\.base_url: unknown key"),
        (lambda d: d["models"][1].update(context_window=8), r"^models\[1\]\.context_window: unknown key"),
        (lambda d: d["guardrails"].update(max_output_tokens=1), r"^guardrails\.max_output_tokens: unknown key"),
        (
            lambda d: d["guardrails"]["detectors"][0].update(pattern="x"),
            r"^guardrails\.detectors\[0\]\.pattern: unknown key",
        ),
    ],
)
def test_unknown_keys_are_refused_by_name(change, key):
    document = eu_document()
    change(document)
    with pytest.raises(DocumentError, match=key):
        RuntimeConfig.from_document(document)


# --- missing keys -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "change, key",
    [
        (lambda d: d.pop("key_cache_ttl_seconds"), r"^key_cache_ttl_seconds: missing key"),
        (lambda d: d.pop("contract_version"), r"^contract_version: missing key"),
        (lambda d: d["providers"][0].pop("aws_region"), r"^providers\[0\]\.aws_region: missing key"),
        (lambda d: d["models"][0].pop("kind"), r"^models\[0\]\.kind: missing key"),
        (lambda d: d["guardrails"].pop("model_allowlist"), r"^guardrails\.model_allowlist: missing key"),
        (lambda d: d["guardrails"]["detectors"][0].pop("action"), r"^guardrails\.detectors\[0\]\.action: missing key"),
    ],
)
def test_missing_keys_are_refused_by_name(change, key):
    document = eu_document()
    change(document)
    with pytest.raises(DocumentError, match=key):
        RuntimeConfig.from_document(document)


def test_a_regex_detector_without_its_pattern_is_refused():
    document = eu_document()
    document["guardrails"]["detectors"].append({"name": "orion", "type": "regex", "action": "block"})
    with pytest.raises(DocumentError, match=r"^guardrails\.detectors\[\d+\]\.pattern: missing key"):
        RuntimeConfig.from_document(document)


# --- wrong types --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update(key_cache_ttl_seconds="30"), r"^key_cache_ttl_seconds: must be an integer, got str"),
        (lambda d: d.update(audit_retention_months=True), r"^audit_retention_months: must be an integer, got bool"),
        (lambda d: d.update(code=None), r"^code: must be a string, got null"),
        (lambda d: d.update(inference_regions="eu-central-1"), r"^inference_regions: must be a list, got str"),
        (lambda d: d.update(inference_regions=[1]), r"^inference_regions\[0\]: must be a string, got int"),
        (lambda d: d.update(guardrails=[]), r"^guardrails: must be an object, got list"),
        (lambda d: d["models"][0].update(input_usd_per_mtok=3), r"^models\[0\]\.input_usd_per_mtok: must be a string"),
        (
            lambda d: d["models"][0].update(input_usd_per_mtok="cheap"),
            r"^models\[0\]\.input_usd_per_mtok: 'cheap' is not a decimal",
        ),
        (lambda d: d["models"][0].update(kind="audio"), r"^models\[0\]\.kind: 'audio' is not one of chat, embedding"),
        (lambda d: d["models"][0].update(provider="nowhere"), r"^models\[0\]\.provider: 'nowhere' is not one of the"),
        (lambda d: d["providers"][0].update(type="vertex"), r"^providers\[0\]\.type: 'vertex' is not one of bedrock"),
        (
            lambda d: d["guardrails"].update(model_allowlist=[None]),
            r"^guardrails\.model_allowlist\[0\]: must be a string",
        ),
        (lambda d: d.update(models=d["models"] + d["models"][:1]), r"^models\[\d+\]\.name: '[^']+' is listed twice"),
    ],
)
def test_wrong_types_and_values_are_refused_by_name(change, message):
    document = eu_document()
    change(document)
    with pytest.raises(DocumentError, match=message):
        RuntimeConfig.from_document(document)


def test_a_document_that_is_not_an_object_is_refused():
    with pytest.raises(DocumentError, match=r"^the region document: must be an object, got list"):
        RuntimeConfig.from_document([])


# --- versions -----------------------------------------------------------------------------------------------
def _version(major: int, minor: int) -> str:
    return f"{major}.{minor}"


def _ours() -> tuple[int, int]:
    major, minor = CONTRACT_VERSION.split(".")
    return int(major), int(minor)


@pytest.mark.parametrize("found", [_version(_ours()[0] + 1, 0), _version(_ours()[0] - 1, 9)])
def test_another_major_version_is_refused_with_what_to_do(found):
    document = eu_document()
    document["contract_version"] = found
    with pytest.raises(DocumentError, match=r"^contract_version: ") as refused:
        RuntimeConfig.from_document(document)
    message = str(refused.value)
    assert f"the document is version {found}" in message  # what was found
    assert f"this runtime reads {_ours()[0]}.0 to {CONTRACT_VERSION}" in message  # what this runtime supports
    assert "deploy the runtime of the same regiongate release" in message  # what to do


def test_a_newer_minor_version_is_refused_as_documented():
    """A newer minor may add keys this runtime does not know (contract.document's docstring): refused, not guessed."""
    assert "a newer minor may carry keys this runtime does not know, so it is refused" in contract.__doc__.replace(
        "\n", " "
    )
    document = eu_document()
    newer = _version(_ours()[0], _ours()[1] + 1)
    document["contract_version"] = newer
    with pytest.raises(DocumentError, match=rf"the document is version {newer}, this runtime reads"):
        RuntimeConfig.from_document(document)


def test_the_same_and_older_minor_versions_of_the_major_are_read():
    major, minor = _ours()
    for older in range(minor + 1):
        document = eu_document()
        document["contract_version"] = _version(major, older)
        assert RuntimeConfig.from_document(document).code == "eu"


@pytest.mark.parametrize("found", ["1", "v1.0", "1.0.0", 1.0])
def test_a_malformed_version_is_refused(found):
    document = eu_document()
    document["contract_version"] = found
    with pytest.raises(DocumentError, match=r"^contract_version: "):
        RuntimeConfig.from_document(document)


# --- 1.1: max_generation_seconds ----------------------------------------------------------------------------
def test_a_document_of_the_previous_minor_reads_with_the_lambdas_deadline():
    """1.0 documents have no max_generation_seconds: the Lambda's upstream deadline, as before."""
    from regiongate.contract.limits import UPSTREAM_DEADLINE_SECONDS

    document = eu_document()
    document["contract_version"] = "1.0"
    del document["max_generation_seconds"]
    assert RuntimeConfig.from_document(document).max_generation_seconds == UPSTREAM_DEADLINE_SECONDS


@pytest.mark.parametrize(("value", "message"), [("600", "must be an integer, got str"), (0, "must be a positive")])
def test_a_generation_limit_that_is_not_a_positive_integer_is_refused(value, message):
    document = eu_document()
    document["max_generation_seconds"] = value
    with pytest.raises(DocumentError, match=rf"^max_generation_seconds: {message}"):
        RuntimeConfig.from_document(document)
