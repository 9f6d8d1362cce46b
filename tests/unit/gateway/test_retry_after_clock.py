"""The request's clock reaches the providers: an HTTP-date ``Retry-After`` without a ``Date`` header is measured
from the clock the gateway was given (carried by the request's ``UpstreamTimer``), on every provider type.
No I/O: the error mappers are called as the providers call them."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime

import pytest
from botocore.exceptions import ClientError

from regiongate.contract.errors import UpstreamRateLimited
from regiongate.gateway.runtime.context import RequestContext
from regiongate.gateway.runtime.providers.bedrock import _map_error
from regiongate.gateway.runtime.providers.openai_http import _upstream_status_error
from tests.fixtures.clock import NOW

pytestmark = pytest.mark.clock

MOMENT = NOW.replace(microsecond=0)  # an HTTP-date has whole seconds


def _date(seconds: int) -> str:
    return format_datetime(MOMENT + timedelta(seconds=seconds), usegmt=True)


def test_the_request_context_gives_its_clock_to_the_upstream_timer():
    clock = lambda: MOMENT  # noqa: E731
    assert RequestContext(clock).timer.clock is clock


def test_an_openai_format_429_measures_an_http_date_from_the_requests_clock():
    error = _upstream_status_error(429, b"{}", {"retry-after": _date(7)}, lambda: MOMENT)
    assert isinstance(error, UpstreamRateLimited) and error.retry_after == 7.0
    later = _upstream_status_error(429, b"{}", {"retry-after": _date(7)}, lambda: MOMENT + timedelta(seconds=5))
    assert later.retry_after == 2.0
    # the answer's own Date wins over the request's clock (no skew between the upstream's clock and ours)
    dated = {"retry-after": _date(7), "date": _date(4)}
    assert _upstream_status_error(429, b"{}", dated, lambda: MOMENT - timedelta(days=1)).retry_after == 3.0


def test_a_bedrock_throttle_measures_an_http_date_from_the_requests_clock():
    response = {
        "Error": {"Code": "ThrottlingException", "Message": "from the service"},
        "ResponseMetadata": {"HTTPStatusCode": 429, "HTTPHeaders": {"retry-after": _date(9)}},
    }
    error = _map_error(ClientError(response, "Converse"), lambda: MOMENT)
    assert isinstance(error, UpstreamRateLimited) and error.retry_after == 9.0
    assert _map_error(ClientError(response, "Converse"), lambda: MOMENT + timedelta(hours=1)).retry_after == 0.0
