"""Run-time evidence from JUnit XML: only what the file says is quoted (passed, failed, skipped, missing)."""

from __future__ import annotations

import os

from regiongate.residency.inventory import Flow, StoredItem
from regiongate.residency.junit import FAILED, PASSED, SKIPPED, read_results
from regiongate.residency.render import render_html, render_markdown
from regiongate.residency.report_data import DataKinds, Report, StackReport
from tests.fixtures.residency import EU

ZERO_RETENTION = "tests/e2e/gateway/test_zero_retention.py"
HOW = "run make test"
KINDS = DataKinds("app:data", {"content": "Prompt and response content"}, never_stored=("content",))


def junit(tmp_path, cases: str, timestamp: str = 'timestamp="2030-06-01T08:00:00.000000+00:00"'):
    path = tmp_path / "junit.xml"
    path.write_text(
        f'<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" {timestamp}>{cases}'
        "</testsuite></testsuites>"
    )
    return path


PASSING = '<testcase classname="tests.e2e.gateway.test_zero_retention" name="test_canary_never_stored" />'
FAILING = (
    '<testcase classname="tests.e2e.gateway.test_zero_retention" name="test_canary_through_serve">'
    '<failure message="AssertionError: canary found in the queue&#10;more">trace</failure></testcase>'
)
SKIPPED_CASE = (
    '<testcase classname="tests.e2e.gateway.test_zero_retention" name="test_needs_postgres">'
    '<skipped type="pytest.skip" message="DATABASE_URL not set">skip</skipped></testcase>'
)
OTHER = '<testcase classname="tests.e2e.gateway.test_other" name="test_zero_retention_lookalike" />'


def _report(results) -> Report:
    stack = StackReport("Tiny", "111111111111", "eu-central-1", EU, "given policy", [], [], [], Flow())
    return Report("2030-06-01 09:00 UTC", "cdk.out", [stack], KINDS, results, True)


def test_passed_failed_and_skipped_tests_are_named_with_their_outcome(tmp_path):
    results = read_results(junit(tmp_path, PASSING + FAILING + SKIPPED_CASE + OTHER), [ZERO_RETENTION], how_to_run=HOW)
    assert [(o.test_id, o.status) for o in results.outcomes] == [
        (f"{ZERO_RETENTION}::test_canary_never_stored", PASSED),
        (f"{ZERO_RETENTION}::test_canary_through_serve", FAILED),
        (f"{ZERO_RETENTION}::test_needs_postgres", SKIPPED),
    ]
    assert not results.all_passed
    assert results.summary() == (
        f"1 passed, 1 failed, 1 skipped (results in {tmp_path / 'junit.xml'}, run started 2030-06-01 08:00:00 UTC)"
    )
    markdown = render_markdown(_report(results))
    section = markdown.split("## Zero retention at run time")[1]
    assert (
        f"- `{ZERO_RETENTION}::test_canary_through_serve`: FAILED (AssertionError: canary found in the queue)"
        in section
    )
    assert f"- `{ZERO_RETENTION}::test_needs_postgres`: skipped (DATABASE_URL not set)" in section
    assert f"- `{ZERO_RETENTION}::test_canary_never_stored`: passed" in section
    content = markdown.split("### Prompt and response content")[1].split("###")[0]
    assert "did not all pass: 1 passed, 1 failed, 1 skipped" in content and "below passed" not in content
    assert '<p class="bad">1 passed, 1 failed, 1 skipped' in render_html(_report(results))


def test_all_passing_is_said_with_the_run_time(tmp_path):
    results = read_results(junit(tmp_path, PASSING), [ZERO_RETENTION], how_to_run=HOW)
    assert results.all_passed
    markdown = render_markdown(_report(results))
    content = markdown.split("### Prompt and response content")[1].split("###")[0]
    assert "**not stored**. No resource in any template is marked as holding it." in content
    assert "the 1 run-time test(s) below passed (run started 2030-06-01 08:00:00 UTC)" in content
    assert '<p class="ok">1 passed, 0 failed, 0 skipped' in render_html(_report(results))


def test_a_failing_teardown_after_a_pass_counts_as_failed(tmp_path):
    teardown = FAILING.replace("test_canary_through_serve", "test_canary_never_stored")
    results = read_results(junit(tmp_path, PASSING + teardown), [ZERO_RETENTION], how_to_run=HOW)
    assert [(o.status) for o in results.outcomes] == [FAILED]


def test_missing_results_are_said_and_nothing_is_claimed(tmp_path):
    missing = tmp_path / "build" / "test-results" / "junit.xml"
    results = read_results(missing, [ZERO_RETENTION], how_to_run=HOW)
    assert results.outcomes == () and not results.all_passed
    assert results.summary() == f"no test results at {missing}: run make test"
    markdown = render_markdown(_report(results))
    section = markdown.split("## Zero retention at run time")[1]
    assert f"**no test results at {missing}: run make test**" in section and "passed" not in section
    content = markdown.split("### Prompt and response content")[1].split("###")[0]
    assert f"not shown: no test results at {missing}: run make test" in content


def test_results_without_the_named_tests_are_not_a_pass(tmp_path):
    results = read_results(junit(tmp_path, OTHER), [ZERO_RETENTION], how_to_run=HOW)
    assert results.outcomes == ()
    assert results.summary() == (
        f"the test results at {tmp_path / 'junit.xml'} (run started 2030-06-01 08:00:00 UTC) hold none of "
        f"{ZERO_RETENTION}: run make test"
    )


def test_unreadable_results_are_said(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text("<testsuites><testsuite")
    results = read_results(path, [ZERO_RETENTION], how_to_run=HOW)
    assert results.outcomes == () and results.summary().startswith(f"the test results at {path} cannot be read (")


def test_without_a_suite_timestamp_the_files_time_is_given(tmp_path):
    path = junit(tmp_path, PASSING, timestamp="")
    os.utime(path, (1906761600, 1906761600))  # 2030-06-04 00:00:00 UTC
    results = read_results(path, [ZERO_RETENTION], how_to_run=HOW)
    assert results.recorded_at == "file written 2030-06-04 00:00:00 UTC"


def test_no_results_given_is_said(tmp_path):
    markdown = render_markdown(_report(None))
    assert "**No test results were given to the report: nothing at run time is shown.**" in markdown


def test_a_resource_marked_with_a_never_stored_kind_is_listed_not_hidden():
    report = _report(None)
    report.stacks[0].stored.append(
        StoredItem("Cache", "AWS::S3::Bucket", "Tiny/Cache", ("content",), "eu-central-1", "SSE-S3", "until deleted")
    )
    markdown = render_markdown(report)
    content = markdown.split("### Prompt and response content")[1].split("###")[0]
    assert "not stored" not in content
    assert "marked as holding Prompt and response content, which no resource may hold" in content
    assert "| Tiny | Cache | AWS::S3::Bucket | eu-central-1 | SSE-S3 | until deleted |" in content
