"""The boundary runs of `make test` really move the process clock (and nothing else does)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.fixtures.clock import parse_moment

pytestmark = pytest.mark.clock


def test_the_process_clock_is_where_the_run_put_it(request):
    moment = request.config.getoption("--process-clock")
    if not moment:
        pytest.skip("a normal run: the process clock is the machine's (make test moves it in its boundary runs)")
    # Relative to the real clock on purpose: the clock ticks from the moment the session started.
    elapsed = datetime.now(UTC) - parse_moment(moment)
    assert timedelta(0) <= elapsed < timedelta(hours=1)
