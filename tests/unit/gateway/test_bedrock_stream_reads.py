"""A Bedrock event stream that breaks while it is read (after the call succeeded): botocore passes urllib3's own
errors through, which the gateway names for what they are (no I/O: the exception types urllib3 raises)."""

from __future__ import annotations

from urllib3.exceptions import ProtocolError, ReadTimeoutError

from regiongate.contract.errors import UpstreamError, UpstreamTimeout
from regiongate.gateway.runtime.providers.bedrock import _stream_read_error


def test_a_connection_broken_mid_stream_says_so_and_is_not_retried():
    error = _stream_read_error(ProtocolError("Connection broken: IncompleteRead(9 bytes read, 70 more expected)"))
    assert type(error) is UpstreamError and (error.status, error.retryable) == (502, False)
    assert error.message == "the connection to Bedrock broke while streaming (ProtocolError)"
    assert "IncompleteRead" not in error.message  # nothing of the library's text
    assert "broke while streaming (ConnectionResetError)" in _stream_read_error(ConnectionResetError()).message


def test_a_stalled_stream_is_a_timeout_and_anything_else_a_plain_upstream_error():
    assert isinstance(_stream_read_error(ReadTimeoutError(None, "/", "read timed out")), UpstreamTimeout)
    assert isinstance(_stream_read_error(TimeoutError()), UpstreamTimeout)
    other = _stream_read_error(ValueError("odd"))
    assert type(other) is UpstreamError and other.message == "Bedrock call failed (ValueError)"
