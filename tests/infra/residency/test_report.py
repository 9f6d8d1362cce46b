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
from regiongate.residency import ResidencyChecks, acknowledge
from regiongate.residency.report import HTML_NAME, MARKDOWN_NAME, build_report, find_runtime_tests, write_report
from regiongate.shared_constructs import data_kinds
from tests.fixtures.residency import EU, EU_ACCOUNT

ACK_REASON = "Load balancer access logs can only use SSE-S3; the bucket never holds request bodies."
CANARY_TEST = """
def helper():
    pass


def test_canary_never_stored():
    canary = "c-123"
    assert canary


def test_unrelated():
    assert True
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
    with pytest.raises(Exception, match="SecretsNotReplicated"):
        app.synth()  # the open finding fails synthesis; the assembly and its validation report are written
    return out


@pytest.fixture(scope="module")
def tests_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("gateway-tests")
    (directory / "test_zero_retention.py").write_text(CANARY_TEST)
    (directory / "test_other.py").write_text("def test_other():\n    assert True\n")
    return directory


@pytest.fixture(scope="module")
def report(assembly, tests_dir):
    return build_report(assembly, None, {"Tiny": EU}, tests_dir=tests_dir)


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


def test_runtime_tests_are_listed_by_name(report, tests_dir):
    assert report.runtime_tests == [f"{tests_dir / 'test_zero_retention.py'}::test_canary_never_stored"]


def test_runtime_tests_not_found_is_said(tmp_path):
    tests, searched = find_runtime_tests(tmp_path)
    assert tests == [] and str(tmp_path) in searched


def test_html_is_self_contained_and_printable(written):
    html = written[1]
    assert "<script" not in html and not re.search(r"""(src|href)=["']?https?:""", html)
    assert "@media print" in html and "<style>" in html


def test_one_stack_report(assembly):
    report = build_report(assembly, ["Tiny"], {"Tiny": EU})
    assert [s.name for s in report.stacks] == ["Tiny"]
    with pytest.raises(ValueError, match="no stack named Nope"):
        build_report(assembly, ["Nope"], {"Tiny": EU})


def test_cli_writes_both_files_and_fails_on_open_findings(assembly, tmp_path, capsys):
    code = cli.main(["report", "--cdk-out", str(assembly), "--out", str(tmp_path)])
    assert code == 1
    assert (tmp_path / MARKDOWN_NAME).is_file() and (tmp_path / HTML_NAME).is_file()
    assert "2 open residency finding(s)" in capsys.readouterr().out
    # Tiny is not in regions.yaml: the report says it used the strict policy of the stack's region.
    assert "strict policy derived from the stack's region" in (tmp_path / MARKDOWN_NAME).read_text()


def test_a_broken_tenant_file_fails_the_report_instead_of_dropping_the_stack(tmp_path):
    from regiongate.config.regions import ConfigError, load_catalogue
    from regiongate.residency.report import _policies

    (tmp_path / "broken.yaml").write_text("slug: broken\nnot_a_key: 1\n")
    with pytest.raises(ConfigError) as info:
        _policies(load_catalogue(), tmp_path)
    assert info.value.path.endswith("broken.yaml")


def test_the_report_date_comes_from_its_clock(assembly, tests_dir):
    moment = _dt.datetime(2031, 1, 1, 0, 59, tzinfo=_dt.timezone(_dt.timedelta(hours=1)))  # 23:59 UTC the day before
    report = build_report(assembly, ["Tiny"], {"Tiny": EU}, tests_dir=tests_dir, clock=lambda: moment)
    assert report.generated_at == "2030-12-31 23:59 UTC"
