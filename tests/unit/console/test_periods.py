"""Console periods and key status at month, leap-day and year boundaries (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from regiongate.console.runtime.app import key_status
from regiongate.console.runtime.queries import Period
from regiongate.console.runtime.web import BadInput, end_of_day, optional_date
from regiongate.store import KeyRecord

pytestmark = pytest.mark.clock
UTC = UTC


def test_last_day_is_today_from_utc_midnight_to_the_next():
    period = Period.last_days(1, date(2027, 1, 1))
    assert (period.since, period.until) == (datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 1, 2, tzinfo=UTC))
    assert period.days() == [date(2027, 1, 1)]


def test_thirty_days_back_from_the_first_of_march_of_a_leap_year_include_the_29th():
    days = Period.last_days(30, date(2028, 3, 1)).days()
    assert len(days) == 30 and days[0] == date(2028, 2, 1) and days[-1] == date(2028, 3, 1)
    assert date(2028, 2, 29) in days


def test_a_period_across_the_year_boundary():
    days = Period.between(date(2030, 12, 31), date(2031, 1, 1)).days()
    assert days == [date(2030, 12, 31), date(2031, 1, 1)]
    assert Period.last_days(7, date(2031, 1, 3)).since == datetime(2030, 12, 28, tzinfo=UTC)


def test_dates_that_would_overflow_a_period_are_refused():
    assert optional_date("9998-12-31", "To") == date(9998, 12, 31)
    Period.between(date(9998, 12, 31), date(9998, 12, 31))  # the day after still exists
    for text in ("9999-12-31", "0001-01-01"):
        with pytest.raises(BadInput, match="must be a date from 1970-01-01 to 9998-12-31"):
            optional_date(text, "To")


def record(expires_at=None, revoked_at=None) -> KeyRecord:
    return KeyRecord(
        key_id="k",
        key_hash="h",
        display_prefix="rk-eu-abcdef",
        region="eu",
        org_id="acme",
        team_id=None,
        user_id=None,
        monthly_budget_usd=None,
        model_allowlist=None,
        expires_at=expires_at,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        revoked_at=revoked_at,
    )


def test_a_key_expiring_on_new_years_eve_is_expired_at_its_last_second():
    expires = end_of_day(date(2030, 12, 31))
    assert key_status(record(expires), expires - timedelta(microseconds=1)) == "active"
    assert key_status(record(expires), expires) == "expired"
    assert key_status(record(expires, revoked_at=expires), expires - timedelta(days=1)) == "revoked"
