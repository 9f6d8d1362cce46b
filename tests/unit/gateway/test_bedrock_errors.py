"""How Bedrock's errors and event streams map to the gateway's upstream errors (no I/O: botocore's own
exception types, built as botocore builds them from an answer)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from regiongate.contract.errors import UpstreamError, UpstreamRateLimited
from regiongate.gateway.runtime.providers.bedrock import _map_error, _whole_converse_stream


def _client_error(code: str, status: int, headers: dict | None = None) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": "from the service"},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers or {}},
    }
    return ClientError(response, "Converse")


@pytest.mark.parametrize(
    ("code", "status", "kind", "retryable", "client_status"),
    [
        ("ThrottlingException", 429, UpstreamRateLimited, True, 429),
        ("ModelNotReadyException", 429, UpstreamError, True, 502),  # a 429 on the wire, but not a throttle
        ("ServiceUnavailableException", 503, UpstreamError, True, 502),
        ("ValidationException", 400, UpstreamError, False, 400),
    ],
)
def test_bedrock_errors_map_to_the_gateways(code, status, kind, retryable, client_status):
    error = _map_error(_client_error(code, status))
    assert type(error) is kind and (error.retryable, error.status) == (retryable, client_status)
    assert code in error.message or kind is UpstreamRateLimited
    assert "from the service" not in error.message  # the upstream's text is never passed on


def test_a_throttle_passes_on_bedrocks_retry_after_when_it_sends_one():
    error = _map_error(_client_error("ThrottlingException", 429, {"retry-after": "3"}))
    assert isinstance(error, UpstreamRateLimited) and error.retry_after == 3.0


def test_a_converse_stream_must_end_with_message_stop_and_metadata():
    whole = [{"messageStart": {}}, {"messageStop": {"stopReason": "end_turn"}}, {"metadata": {"usage": {}}}]
    assert list(_whole_converse_stream(whole)) == whole
    for cut, missing in ((whole[:1], "messageStop"), (whole[:2], "metadata")):
        seen = []
        with pytest.raises(UpstreamError, match=rf"broke while streaming \(the stream ended before {missing}\)$"):
            for event in _whole_converse_stream(cut):
                seen.append(event)
        assert seen == cut  # what arrived was passed on before the error
