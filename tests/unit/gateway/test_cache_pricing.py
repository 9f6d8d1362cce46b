"""Prompt-cache prices (#13): regions.yaml ``cache_read_usd_per_mtok`` / ``cache_write_usd_per_mtok`` parsed, carried
in the region document (contract 1.3; older documents read with the input price), reported by the providers'
usage (Converse, OpenAI format) and priced; and what an aborted stream is metered at."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest
import yaml

from regiongate.config.gateway import runtime_document
from regiongate.config.regions import DEFAULT_CONFIG_PATH, ConfigError, parse_catalogue
from regiongate.contract.document import RuntimeConfig
from regiongate.contract.errors import UpstreamError
from regiongate.gateway.runtime import responses, translate_responses
from regiongate.gateway.runtime.pricing import cost_usd
from regiongate.gateway.runtime.translate import Delta, abort_usage, converse_usage, openai_usage
from tests.fixtures.processing_area import opted_in_eu

RAW = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
D = Decimal


def eu_document() -> dict:
    """regions.eu of the test catalogue: Claude with its cache prices, as the opt-in example in regions.yaml."""
    return copy.deepcopy(runtime_document(opted_in_eu()))


# --- pricing ------------------------------------------------------------------------------------------------
def test_cache_reads_and_writes_are_priced_at_their_own_prices():
    # 1000 input tokens of which 200 read and 100 written: 700 * 3 + 200 * 0.30 + 100 * 3.75 + 10 * 15.
    cost = cost_usd(
        1000,
        10,
        D("3.00"),
        D("15.00"),
        cache_read_tokens=200,
        cache_write_tokens=100,
        cache_read_per_mtok=D("0.30"),
        cache_write_per_mtok=D("3.75"),
    )
    assert cost == D("0.0026850000")  # 2100 + 60 + 375 + 150 micro-dollars
    # Without cache prices, cache tokens cost what input tokens cost (as before).
    assert cost_usd(1000, 10, D(3), D(15), cache_read_tokens=200, cache_write_tokens=100) == cost_usd(
        1000, 10, D(3), D(15)
    )


def test_cache_tokens_beyond_the_input_are_refused():
    with pytest.raises(ValueError, match="part of the input tokens"):
        cost_usd(10, 0, D(3), D(15), cache_read_tokens=8, cache_write_tokens=3)
    with pytest.raises(ValueError, match="never negative"):
        cost_usd(10, 0, D(3), D(15), cache_read_tokens=-1)


# --- configuration and the region document ---------------------------------------------------------------------
def test_regions_yaml_prices_reach_the_runtime_document():
    runtime = RuntimeConfig.from_document(eu_document())
    claude = runtime.models["claude-sonnet-4-5"]
    assert (claude.cache_read_usd_per_mtok, claude.cache_write_usd_per_mtok) == (D("0.30"), D("3.75"))
    assert claude.highest_input_price == D("3.75")
    nova = runtime.models["nova-pro"]  # no cache prices: the input price
    assert nova.cache_read_usd_per_mtok is None and nova.cache_read_price == nova.input_usd_per_mtok
    assert nova.highest_input_price == nova.input_usd_per_mtok
    document = eu_document()
    assert document["contract_version"] == "1.3"
    [entry] = [m for m in document["models"] if m["name"] == "claude-sonnet-4-5"]
    assert (entry["cache_read_usd_per_mtok"], entry["cache_write_usd_per_mtok"]) == ("0.30", "3.75")
    assert "cache_read_usd_per_mtok" not in next(m for m in document["models"] if m["name"] == "nova-pro")
    assert RuntimeConfig.from_document(runtime.to_document()) == runtime


def test_a_document_of_the_previous_minor_reads_with_cache_at_the_input_price():
    document = eu_document()
    document["contract_version"] = "1.2"
    for model in document["models"]:
        model.pop("cache_read_usd_per_mtok", None)
        model.pop("cache_write_usd_per_mtok", None)
    claude = RuntimeConfig.from_document(document).models["claude-sonnet-4-5"]
    assert claude.cache_read_price == claude.cache_write_price == claude.input_usd_per_mtok == D("3.00")


def _catalogue_with(edit):
    data = copy.deepcopy(RAW)
    edit(data["regions"]["eu"]["gateway"]["models"])
    return parse_catalogue(data, "regions.yaml")


def test_a_bad_or_misplaced_cache_price_is_refused_naming_the_key():
    with pytest.raises(ConfigError, match=r"models\[0\]\.cache_read_usd_per_mtok") as bad:
        _catalogue_with(lambda models: models[0].update(cache_read_usd_per_mtok="cheap"))
    assert "not a number" in str(bad.value)
    with pytest.raises(ConfigError, match=r"models\[0\]\.cache_write_usd_per_mtok"):
        _catalogue_with(lambda models: models[0].update(cache_write_usd_per_mtok=-1))

    def on_embeddings(models):
        next(m for m in models if m.get("kind") == "embedding")["cache_write_usd_per_mtok"] = "1"

    with pytest.raises(ConfigError, match=r"cache_write_usd_per_mtok: .*only chat models"):
        _catalogue_with(on_embeddings)


# --- the providers' usage ---------------------------------------------------------------------------------------
def test_converse_counts_cache_tokens_as_input_and_reports_them():
    usage = converse_usage(
        {"inputTokens": 12, "outputTokens": 7, "cacheReadInputTokens": 200, "cacheWriteInputTokens": 100}
    )
    assert usage == {"input_tokens": 312, "output_tokens": 7, "cache_read_tokens": 200, "cache_write_tokens": 100}
    assert converse_usage({"inputTokens": 5, "outputTokens": 1})["cache_read_tokens"] == 0
    with pytest.raises(UpstreamError, match="cacheReadInputTokens"):
        converse_usage({"inputTokens": 5, "outputTokens": 1, "cacheReadInputTokens": -3})


def test_openai_cached_tokens_are_part_of_the_prompt_tokens():
    usage = openai_usage({"prompt_tokens": 100, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 64}})
    assert usage == {"input_tokens": 100, "output_tokens": 5, "cache_read_tokens": 64, "cache_write_tokens": 0}
    assert (
        openai_usage({"prompt_tokens": 3, "completion_tokens": 1, "prompt_tokens_details": None})["cache_read_tokens"]
        == 0
    )
    with pytest.raises(UpstreamError, match="more cached prompt tokens"):
        openai_usage({"prompt_tokens": 3, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 4}})


def test_cached_tokens_are_passed_on_in_both_openai_usages():
    assert responses.usage_body(100, 5, cached_tokens=64)["prompt_tokens_details"] == {"cached_tokens": 64}
    assert "prompt_tokens_details" not in responses.usage_body(100, 5)
    details = translate_responses.usage(312, 7, 200, 100)["input_tokens_details"]
    assert details == {"cached_tokens": 200, "cache_write_tokens": 100}


# --- an aborted stream ------------------------------------------------------------------------------------------
def test_an_aborted_stream_uses_the_usage_reported_before_the_close_else_an_estimate():
    prompt = [("messages[0].content", "x" * 40)]  # 10 estimated tokens
    assert abort_usage(None, prompt, streamed=3) == Delta("usage", input_tokens=10, output_tokens=3)
    reported = Delta("usage", input_tokens=50, output_tokens=2, cache_read_tokens=20)
    # The upstream's counts; its output at least the content deltas relayed after it reported.
    assert abort_usage(reported, prompt, streamed=5) == Delta(
        "usage", input_tokens=50, output_tokens=5, cache_read_tokens=20
    )
    assert abort_usage(reported, prompt, streamed=1).output_tokens == 2
