"""A finding acknowledged as still open (``acknowledge(..., still_open=True)``, as for an acknowledged unverified
database connection): synthesis passes, and the report lists it under the open findings, with its reason."""

from __future__ import annotations

import pytest
from aws_cdk import App, Environment, Stack, Validations
from aws_cdk import aws_lambda as lambda_

from regiongate.cli.commands.report import DATA_KINDS
from regiongate.residency import ResidencyChecks, acknowledge
from regiongate.residency.report import HTML_NAME, MARKDOWN_NAME, build_report, write_report
from tests.fixtures.residency import EU, EU_ACCOUNT

REASON = "No CA bundle of this partition is available: the connection is encrypted, the server is not verified."


def _client(stack: Stack, name: str) -> lambda_.Function:
    return lambda_.Function(
        stack,
        name,
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return None\n"),
        environment={"DB_HOST": "db.internal", "DB_TLS": "unverified-acknowledged"},
    )


@pytest.fixture(scope="module")
def assembly(tmp_path_factory):
    out = tmp_path_factory.mktemp("open-ack") / "cdk.out"
    app = App(outdir=str(out))
    stack = Stack(app, "Tiny", env=Environment(account=EU_ACCOUNT, region="eu-central-1"))
    acknowledge(_client(stack, "Writer"), "DatabaseTlsVerified", REASON, still_open=True)
    Validations.of(app).add_plugins(ResidencyChecks({"Tiny": EU}))
    app.synth()  # acknowledged: synthesis does not fail
    return out


def test_still_open_acknowledgement_is_listed_as_open_without_failing(assembly, tmp_path):
    report = build_report(assembly, None, {"Tiny": EU}, data_kinds=DATA_KINDS)
    (stack,) = report.stacks
    tls = [f for f in stack.findings if f.rule_id == "DatabaseTlsVerified"]
    assert [(f.state, f.reason) for f in tls] == [("open-acknowledged", REASON)]
    assert tls[0] in stack.open_findings and tls[0] not in stack.acknowledgements
    assert report.open_finding_count >= 1 and report.unacknowledged_finding_count == len(
        [f for f in stack.findings if f.state == "open"]
    )
    write_report(report, tmp_path)
    markdown = (tmp_path / MARKDOWN_NAME).read_text()
    open_section = markdown.split("## Rule pack findings")[1].split("### Acknowledged findings")[0]
    acknowledged_section = markdown.split("### Acknowledged findings")[1].split("## Request flow")[0]
    assert "DatabaseTlsVerified" in open_section and "open-acknowledged" in open_section and REASON in open_section
    assert "DatabaseTlsVerified" not in acknowledged_section
    assert "open-acknowledged" in (tmp_path / HTML_NAME).read_text()


def test_a_plain_acknowledgement_still_closes_its_finding(tmp_path):
    out = tmp_path / "cdk.out"
    app = App(outdir=str(out))
    stack = Stack(app, "Tiny", env=Environment(account=EU_ACCOUNT, region="eu-central-1"))
    acknowledge(_client(stack, "Writer"), "DatabaseTlsVerified", REASON)
    Validations.of(app).add_plugins(ResidencyChecks({"Tiny": EU}))
    app.synth()
    (report_stack,) = build_report(out, None, {"Tiny": EU}, data_kinds=DATA_KINDS).stacks
    tls = [f for f in report_stack.findings if f.rule_id == "DatabaseTlsVerified"]
    assert [f.state for f in tls] == ["acknowledged"] and tls[0] in report_stack.acknowledgements


def test_the_prefix_cannot_be_written_into_a_reason_by_hand():
    from regiongate.residency.engine import STILL_OPEN_PREFIX

    app = App()
    stack = Stack(app, "Tiny", env=Environment(account=EU_ACCOUNT, region="eu-central-1"))
    with pytest.raises(ValueError, match="still_open=True"):
        acknowledge(stack, "DatabaseTlsVerified", STILL_OPEN_PREFIX + REASON)
