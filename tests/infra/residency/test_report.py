"""The residency report's content, from a tiny synthesized app: findings, acknowledgements, the data table."""

from __future__ import annotations

import datetime as _dt
import re

import pytest
from aws_cdk import App, Environment, Stack, Validations
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs

from regiongate.cli import main as cli
from regiongate.cli.commands.report import DATA_KINDS, stack_contexts, zero_retention_results
from regiongate.residency import ResidencyChecks, acknowledge
from regiongate.residency.report import HTML_NAME, MARKDOWN_NAME, build_report, write_report
from regiongate.shared_constructs import data_kinds
from tests.fixtures.residency import EU, EU_ACCOUNT

ACK_REASON = "Load balancer access logs can only use SSE-S3; the bucket never holds request bodies."
# What `make test` writes (pytest --junitxml), cut down to one zero-retention test and one other test.
JUNIT_XML = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="0" failures="0" skipped="0" tests="2" time="1.0"
    timestamp="2030-06-01T08:00:00.000000+00:00" hostname="ci">
  <testcase classname="tests.e2e.gateway.test_zero_retention" name="test_canary_never_stored" time="0.5" />
  <testcase classname="tests.e2e.gateway.test_other" name="test_other" time="0.1" />
</testsuite></testsuites>
"""


@pytest.fixture(scope="module")
def assembly(tmp_path_factory):
    """One tiny app: classified stores, one unclassified queue, one acknowledged and one open finding."""
    out = tmp_path_factory.mktemp("report") / "cdk.out"
    app = App(outdir=str(out))
    stack = Stack(app, "Tiny", env=Environment(account=EU_ACCOUNT, region="eu-central-1"))
    key = kms.Key(stack, "Key", alias="alias/regiongate/tiny")
    audit = s3.Bucket(stack, "Audit", encryption_key=key)
    data_kinds.mark(audit, data_kinds.AUDIT_METADATA)
    function_logs = logs.LogGroup(stack, "FunctionLogs", encryption_key=key, retention=logs.RetentionDays.ONE_MONTH)
    data_kinds.mark(function_logs, data_kinds.FUNCTION_LOGS)
    access_logs = s3.Bucket(stack, "AccessLogs", encryption=s3.BucketEncryption.S3_MANAGED)
    data_kinds.mark(access_logs, data_kinds.LOAD_BALANCER_ACCESS_LOGS)
    acknowledge(access_logs, "StoresEncryptedWithStackKey", ACK_REASON)
    sqs.Queue(stack, "NewQueue", encryption_master_key=key)  # stateful, but nobody said what it holds
    replicated = secretsmanager.Secret(
        stack, "Replicated", encryption_key=key, replica_regions=[secretsmanager.ReplicaRegion(region="us-east-1")]
    )
    data_kinds.mark(replicated, data_kinds.PROVIDER_CREDENTIALS)
    Validations.of(app).add_plugins(ResidencyChecks({"Tiny": EU}))
    with pytest.raises(RuntimeError, match="SecretsNotReplicated"):
        app.synth()  # the open finding fails synthesis; the assembly and its validation report are written
    return out


@pytest.fixture(scope="module")
def test_results(tmp_path_factory):
    path = tmp_path_factory.mktemp("test-results") / "junit.xml"
    path.write_text(JUNIT_XML)
    return path


@pytest.fixture(scope="module")
def report(assembly, test_results):
    return build_report(
        assembly, None, {"Tiny": EU}, data_kinds=DATA_KINDS, test_results=zero_retention_results(test_results)
    )


@pytest.fixture(scope="module")
def written(report, tmp_path_factory):
    out = tmp_path_factory.mktemp("written")
    write_report(report, out)
    return (out / MARKDOWN_NAME).read_text(), (out / HTML_NAME).read_text()


def test_a_violation_shows_as_an_open_finding(report, written):
    (stack,) = report.stacks
    # The replica is a replication finding, and its literal us-east-1 a foreign-region finding.
    assert sorted(f.rule_id for f in stack.open_findings) == ["NoForeignRegionLiterals", "SecretsNotReplicated"]
    finding = next(f for f in stack.open_findings if f.rule_id == "SecretsNotReplicated")
    assert finding.resource_type == "AWS::SecretsManager::Secret" and "replicated to us-east-1" in finding.message
    markdown, html = written
    open_section = markdown.split("## Rule pack findings")[1].split("### Acknowledged")[0]
    assert (
        "2 open finding(s)" in open_section
        and "SecretsNotReplicated" in open_section
        and finding.logical_id in open_section
    )
    assert "SecretsNotReplicated" in html and "2 open finding(s)" in html


def test_acknowledgement_shows_with_its_reason_and_place(report, written):
    (stack,) = report.stacks
    (ack,) = stack.acknowledgements
    assert ack.rule_id == "StoresEncryptedWithStackKey"
    assert ack.reason == ACK_REASON and ack.acknowledged_at == "Tiny/AccessLogs"
    acknowledged_section = written[0].split("### Acknowledged findings")[1].split("## Request flow")[0]
    assert ACK_REASON in acknowledged_section


def test_new_stateful_resource_appears_as_unclassified(report, written):
    (stack,) = report.stacks
    assert [(i.resource_type, i.logical_id.startswith("NewQueue")) for i in stack.unclassified] == [
        ("AWS::SQS::Queue", True)
    ]
    section = written[0].split("### Unclassified stateful resources")[1].split("## Rule pack findings")[0]
    assert re.search(
        r"\| Tiny \| NewQueue\w+ \| AWS::SQS::Queue \| eu-central-1 \| stack key alias/regiongate/tiny", section
    )


def test_what_is_stored_where_names_region_key_and_retention(written):
    markdown = written[0]
    audit = markdown.split("### Audit metadata")[1].split("###")[0]
    assert re.search(
        r"\| Tiny \| Audit\w+ \| AWS::S3::Bucket \| eu-central-1 \| stack key alias/regiongate/tiny \(Key\w+\) \| objects never expire \|",
        audit,
    )
    function_logs = markdown.split("### Function logs")[1].split("###")[0]
    assert "| 30 days |" in function_logs
    access_logs = markdown.split("### Load balancer access logs")[1].split("###")[0]
    assert "SSE-S3" in access_logs


def test_prompt_and_response_content_is_not_stored(written):
    markdown, html = written
    content = markdown.split("### Prompt and response content")[1].split("###")[0]
    assert "**not stored**" in content
    assert "<b>not stored</b>" in html


def test_stacks_section_lists_home_region_geography_partition_and_inference(written):
    assert "| Tiny | eu-central-1 | EU | aws | 111111111111 | eu-central-1, eu-west-1 | given policy |" in written[0]


def test_runtime_tests_are_listed_by_name_with_their_outcome(report, written, test_results):
    assert [(o.test_id, o.status) for o in report.test_results.outcomes] == [
        ("tests/e2e/gateway/test_zero_retention.py::test_canary_never_stored", "passed")
    ]
    section = written[0].split("## Zero retention at run time")[1].split("## Rules")[0]
    assert "- `tests/e2e/gateway/test_zero_retention.py::test_canary_never_stored`: passed" in section
    assert f"1 passed, 0 failed, 0 skipped (results in {test_results}, run started 2030-06-01 08:00:00 UTC)" in section
    content = written[0].split("### Prompt and response content")[1].split("###")[0]
    assert "the 1 run-time test(s) below passed (run started 2030-06-01 08:00:00 UTC)" in content


def test_runtime_tests_not_found_is_said(assembly, tmp_path):
    missing = tmp_path / "junit.xml"
    report = build_report(
        assembly, ["Tiny"], {"Tiny": EU}, data_kinds=DATA_KINDS, test_results=zero_retention_results(missing)
    )
    write_report(report, tmp_path)
    markdown, html = (tmp_path / MARKDOWN_NAME).read_text(), (tmp_path / HTML_NAME).read_text()
    assert f"**no test results at {missing}: run make test**" in markdown
    assert f"no test results at {missing}: run make test" in html
    assert "passed" not in markdown.split("## Zero retention at run time")[1].split("## Rules")[0]


def test_html_is_self_contained_and_printable(written):
    html = written[1]
    assert "<script" not in html and not re.search(r"""(src|href)=["']?https?:""", html)
    assert "@media print" in html and "<style>" in html


def test_one_stack_report(assembly):
    report = build_report(assembly, ["Tiny"], {"Tiny": EU}, data_kinds=DATA_KINDS)
    assert [s.name for s in report.stacks] == ["Tiny"]
    with pytest.raises(ValueError, match="no stack named Nope"):
        build_report(assembly, ["Nope"], {"Tiny": EU}, data_kinds=DATA_KINDS)


def test_cli_writes_both_files_and_fails_on_open_findings(assembly, tmp_path, capsys, test_results):
    code = cli.main(["report", "--cdk-out", str(assembly), "--out", str(tmp_path), "--test-results", str(test_results)])
    assert code == 1
    assert (tmp_path / MARKDOWN_NAME).is_file() and (tmp_path / HTML_NAME).is_file()
    out = capsys.readouterr().out
    assert "2 open residency finding(s)" in out
    assert "zero-retention tests: 1 passed, 0 failed, 0 skipped" in out
    # Tiny is not in regions.yaml: the report says it used the strict policy of the stack's region.
    assert "strict policy derived from the stack's region" in (tmp_path / MARKDOWN_NAME).read_text()


def test_a_broken_tenant_file_fails_the_report_instead_of_dropping_the_stack(tmp_path):
    from regiongate.config.regions import ConfigError, load_catalogue

    (tmp_path / "broken.yaml").write_text("slug: broken\nnot_a_key: 1\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not_a_key: ") as info:
        stack_contexts(load_catalogue(), tmp_path)
    assert info.value.path.endswith("broken.yaml")


def test_the_report_date_comes_from_its_clock(assembly):
    moment = _dt.datetime(2031, 1, 1, 0, 59, tzinfo=_dt.timezone(_dt.timedelta(hours=1)))  # 23:59 UTC the day before
    report = build_report(assembly, ["Tiny"], {"Tiny": EU}, data_kinds=DATA_KINDS, clock=lambda: moment)
    assert report.generated_at == "2030-12-31 23:59 UTC"
