"""The gateway's CloudWatch metrics: one embedded metric format (EMF) line per request, shaped as the EMF
specification requires, holding counts, tokens, dollars and milliseconds, never content or key values."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import pytest

from regiongate.common.logs import JsonFormatter
from regiongate.contract import metrics as names
from regiongate.gateway.runtime.metrics import MetricsEmitter, emf_document

BASE = {
    "region": "eu",
    "model": "gpt-4o",
    "provider": "azure-eu",
    "status": 200,
    "error_type": None,
    "input_tokens": 12,
    "output_tokens": 7,
    "cost_usd": Decimal("0.000123"),
    "total_ms": 41.5,
    "upstream_ms": 30.25,
    "timestamp_ms": 1_772_366_400_000,
}


def assert_emf(document: dict) -> None:
    """The specification's rules: a root ``_aws`` object with an integer Timestamp and CloudWatchMetrics
    directives; each directive has a Namespace, Dimensions (arrays of at most 30 names, each a root string
    member) and Metrics (at most 100, each a Name that is a root number member, with a valid Unit)."""
    meta = document["_aws"]
    assert set(meta) == {"Timestamp", "CloudWatchMetrics"}
    assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 0
    assert meta["CloudWatchMetrics"]
    for directive in meta["CloudWatchMetrics"]:
        assert set(directive) == {"Namespace", "Dimensions", "Metrics"}
        assert isinstance(directive["Namespace"], str) and 0 < len(directive["Namespace"]) <= 255
        for dimension_set in directive["Dimensions"]:
            assert 0 < len(dimension_set) <= 30
            for name in dimension_set:
                assert isinstance(document[name], str) and document[name]
        assert 0 < len(directive["Metrics"]) <= 100
        for metric in directive["Metrics"]:
            assert set(metric) <= {"Name", "Unit", "StorageResolution"}
            assert metric["Unit"] in {"Count", "Milliseconds", "None"}
            value = document[metric["Name"]]
            assert isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def test_a_successful_request_is_one_emf_document_by_region_and_by_model_and_provider():
    document = emf_document(**BASE)
    assert_emf(document)
    [directive] = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == names.NAMESPACE == "Regiongate/Gateway"
    assert directive["Dimensions"] == [["Region"], ["Region", "Model", "Provider"]]
    assert [m["Name"] for m in directive["Metrics"]] == [
        "Requests",
        "Errors4xx",
        "Errors5xx",
        "Throttles",
        "InputTokens",
        "OutputTokens",
        "CostUSD",
        "Latency",
        "UpstreamLatency",
    ]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]}["Latency"] == "Milliseconds"
    assert (document["Region"], document["Model"], document["Provider"]) == ("eu", "gpt-4o", "azure-eu")
    assert (document["Requests"], document["Errors4xx"], document["Errors5xx"], document["Throttles"]) == (1, 0, 0, 0)
    assert (document["InputTokens"], document["OutputTokens"]) == (12, 7)
    assert document["CostUSD"] == pytest.approx(0.000123)
    assert (document["Latency"], document["UpstreamLatency"]) == (41.5, 30.25)
    assert document["_aws"]["Timestamp"] == 1_772_366_400_000


@pytest.mark.parametrize(
    ("status", "error_type", "counts"),
    [
        (429, "rate_limit_exceeded", (1, 0, 1)),
        (400, "invalid_request_error", (1, 0, 0)),
        (502, "upstream_error", (0, 1, 0)),
        (504, "upstream_timeout", (0, 1, 0)),
    ],
)
def test_errors_are_counted_by_class_and_by_type(status, error_type, counts):
    document = emf_document(**{**BASE, "status": status, "error_type": error_type})
    assert_emf(document)
    assert (document["Errors4xx"], document["Errors5xx"], document["Throttles"]) == counts
    by_type = document["_aws"]["CloudWatchMetrics"][1]
    assert by_type["Dimensions"] == [["Region", "ErrorType"]]
    assert by_type["Metrics"] == [{"Name": "Errors", "Unit": "Count"}]
    assert (document["ErrorType"], document["Errors"]) == (error_type, 1)


def test_a_request_refused_before_its_model_is_known_and_absurd_usage_stay_valid_metrics():
    document = emf_document(
        **{
            **BASE,
            "model": None,
            "provider": None,
            "status": 401,
            "error_type": "invalid_api_key",
            "input_tokens": -5,
            "output_tokens": 2**40,
            "cost_usd": Decimal("-1"),
        }
    )
    assert_emf(document)
    assert (document["Model"], document["Provider"]) == ("none", "none")
    assert (document["InputTokens"], document["OutputTokens"], document["CostUSD"]) == (0, 2**40, 0.0)


def test_the_log_line_is_the_document_itself_and_holds_no_key_or_content():
    """The JSON formatter puts the document's members at the root of the line (what CloudWatch Logs parses);
    the line's members are the documented ones only: no key, key id, org, request id or text."""
    lines: list[str] = []
    formatter = JsonFormatter()

    def write(document):
        record = logging.LogRecord("regiongate.metrics", logging.INFO, __file__, 1, "metrics", None, None)
        record.fields = document
        lines.append(formatter.format(record))

    MetricsEmitter("eu", write=write).request(**{k: v for k, v in BASE.items() if k != "region"})
    [line] = lines
    parsed = json.loads(line)
    assert_emf(parsed)
    allowed = {"time", "level", "logger", "message", "_aws", "Region", "Model", "Provider", *names.UNITS}
    assert set(parsed) <= allowed
    assert "rk-" not in line and "Bearer" not in line


@pytest.mark.parametrize(("status", "error_type"), [(200, None), (429, "rate_limited")])
def test_the_logged_line_holds_exactly_the_document(status, error_type):
    """By default the emitter logs the document's members and its ``_aws`` as JSON text encoded once: the line
    CloudWatch Logs parses is the same document ``emf_document`` builds, with the log's own four members."""
    logger = logging.getLogger("regiongate.metrics")
    lines: list[str] = []
    handler = logging.Handler()
    handler.setFormatter(JsonFormatter())
    handler.emit = lambda record: lines.append(handler.format(record))  # type: ignore[method-assign]
    level, disabled = logger.level, logger.disabled
    logger.setLevel(logging.INFO)
    logger.disabled = False
    logger.addHandler(handler)
    try:
        fields = {**BASE, "status": status, "error_type": error_type}
        MetricsEmitter("eu").request(**{k: v for k, v in fields.items() if k != "region"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.disabled = disabled
    [line] = lines
    parsed = json.loads(line)
    assert_emf(parsed)
    assert {k: parsed.pop(k) for k in ("time", "level", "logger", "message")}["message"] == "metrics"
    assert parsed == emf_document(**fields)


def test_a_failing_writer_never_fails_the_request(caplog):
    def broken(document):
        raise OSError("stdout closed")

    with caplog.at_level(logging.ERROR, logger="regiongate.metrics"):
        MetricsEmitter("eu", write=broken).request(**{k: v for k, v in BASE.items() if k != "region"})
    assert [r.getMessage() for r in caplog.records] == ["metrics emit failed"]
