"""The upstream deadline and Retry-After handling, with a fake clock and a fake sleep (no I/O, nothing timed)."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime

import pytest

from regiongate.contract.errors import UpstreamError, UpstreamRateLimited, UpstreamTimeout, error_response
from regiongate.contract.limits import GATEWAY_TIMEOUT_SECONDS, UPSTREAM_DEADLINE_SECONDS
from regiongate.gateway.runtime.providers.base import UpstreamTimer, retry_after_seconds
from regiongate.gateway.runtime.providers.retries import RetryPolicy, with_retries
from tests.fixtures.clock import NOW as TEST_NOW

NOW = TEST_NOW.replace(microsecond=0)  # an HTTP-date has whole seconds


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_the_deadline_leaves_the_runtime_time_to_answer_and_audit():
    assert UPSTREAM_DEADLINE_SECONDS + 10 <= GATEWAY_TIMEOUT_SECONDS


def test_retry_after_is_read_from_seconds_milliseconds_or_an_http_date_and_nothing_else():
    assert retry_after_seconds({"retry-after": "7"}) == 7.0
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({"retry-after": "Wed, 32 Oct 2015 07:28:00 GMT"}) is None
    assert retry_after_seconds({"retry-after": "-3"}) is None
    assert retry_after_seconds({"retry-after": "nan"}) is None
    assert retry_after_seconds(None) is None


@pytest.mark.clock
def test_an_http_date_retry_after_is_measured_from_the_answers_date_header_else_the_injected_clock():
    def clock():
        return NOW

    at = NOW + timedelta(seconds=12)
    # no Date header: from the injected clock
    assert retry_after_seconds({"retry-after": format_datetime(at, usegmt=True)}, clock) == 12.0
    # the upstream's Date header wins (its clock 5 s behind ours: still 12 s by its own clock)
    headers = {"retry-after": format_datetime(at - timedelta(seconds=5), usegmt=True)}
    headers["date"] = format_datetime(NOW - timedelta(seconds=5), usegmt=True)
    assert retry_after_seconds(headers, clock) == 12.0
    # a date already past: retry at once; an unreadable Date header: the injected clock
    assert retry_after_seconds({"retry-after": format_datetime(NOW - timedelta(hours=1), usegmt=True)}, clock) == 0.0
    headers = {"retry-after": format_datetime(at, usegmt=True), "date": "yesterday"}
    assert retry_after_seconds(headers, clock) == 12.0


@pytest.mark.clock
def test_an_http_date_retry_after_is_waited_for_only_within_the_deadline():
    def clock():
        return NOW

    for deadline, attempts in ((100.0, 2), (10.0, 1)):  # 12 s fits in 100 s, not in 10 s
        fake = FakeTime()
        timer = UpstreamTimer(deadline=deadline, monotonic=fake.monotonic)
        date = format_datetime(NOW + timedelta(seconds=12), usegmt=True)
        answers: list = [UpstreamRateLimited(retry_after=retry_after_seconds({"retry-after": date}, clock)), "ok"]

        def call(answers=answers):
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

        if attempts == 2:
            assert with_retries(call, RetryPolicy(), timer, fake.sleep) == "ok"
            assert fake.sleeps == [12.0]
        else:
            with pytest.raises(UpstreamRateLimited, match=r"rate limiting") as info:
                with_retries(call, RetryPolicy(), timer, fake.sleep)
            assert (fake.sleeps, info.value.retry_after) == ([], 12.0)  # final: passed on to the client
        assert timer.attempts == attempts


def test_a_final_upstream_429_passes_its_retry_after_to_the_client():
    status, headers, _ = error_response(UpstreamRateLimited(retry_after=6.2))
    assert (status, headers["retry-after"]) == (429, "7")
    assert "retry-after" not in error_response(UpstreamRateLimited())[1]


def test_retry_after_is_waited_for_when_it_fits_in_the_deadline():
    clock = FakeTime()
    timer = UpstreamTimer(deadline=100.0, monotonic=clock.monotonic)
    answers = [UpstreamRateLimited(retry_after=7.0), "ok"]

    def call():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert with_retries(call, RetryPolicy(), timer, clock.sleep) == "ok"
    assert clock.sleeps == [7.0] and timer.attempts == 2


def test_retry_after_beyond_the_deadline_or_the_policy_makes_the_429_final():
    for deadline, retry_after in ((5.0, 7.0), (100.0, 25.0)):
        clock = FakeTime()
        timer = UpstreamTimer(deadline=deadline, monotonic=clock.monotonic)

        def call(retry_after=retry_after):
            raise UpstreamRateLimited(retry_after=retry_after)

        with pytest.raises(UpstreamRateLimited, match=r"rate limiting") as info:
            with_retries(call, RetryPolicy(), timer, clock.sleep)
        assert (clock.sleeps, timer.attempts, info.value.retry_after) == ([], 1, retry_after)


def test_no_attempt_starts_past_the_deadline_and_reads_are_cut_to_what_is_left():
    clock = FakeTime()
    timer = UpstreamTimer(deadline=10.0, monotonic=clock.monotonic)
    assert timer.read_timeout(110.0) == 10.0
    clock.now = 9.5
    assert timer.read_timeout(110.0) == 0.5
    clock.now = 10.0
    with pytest.raises(UpstreamTimeout, match=r"within the gateway's deadline$"):
        timer.read_timeout(110.0)
    with pytest.raises(UpstreamTimeout, match=r"within the gateway's deadline$"):
        with_retries(lambda: "never called", RetryPolicy(), timer, clock.sleep)
    assert timer.attempts == 0


def test_a_retryable_failure_is_final_when_the_back_off_would_not_leave_a_second_for_another_attempt():
    clock = FakeTime()
    timer = UpstreamTimer(deadline=1.1, monotonic=clock.monotonic)

    def call():
        clock.now += 0.5
        raise UpstreamError("the provider failed with HTTP 503", retryable=True)

    with pytest.raises(UpstreamError, match=r"HTTP 503$"):
        with_retries(call, RetryPolicy(base_delay=0.2), timer, clock.sleep)
    assert timer.attempts == 1 and clock.sleeps == []


def test_without_a_deadline_the_timer_keeps_the_configured_timeouts():
    assert UpstreamTimer().read_timeout(110.0) == 110.0 and UpstreamTimer().remaining() is None
