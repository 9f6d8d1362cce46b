"""The residency report's "Model processing" table: per configured model, where it may be processed and whether
under the stack's promise or an area the operator opted it into (from the configuration, never written by hand)."""

from __future__ import annotations

from aws_cdk import App, Environment, Stack, Validations
from aws_cdk import aws_iam as iam

from regiongate.cli.commands.report import DATA_KINDS, stack_context
from regiongate.residency import ResidencyChecks
from regiongate.residency.report import HTML_NAME, MARKDOWN_NAME, build_report, write_report
from tests.fixtures.processing_area import AREA_NAME, MODEL, opted_in_eu
from tests.fixtures.residency import EU_ACCOUNT


def test_the_report_lists_each_models_processing_regions_and_its_opted_in_area(tmp_path):
    region = opted_in_eu()
    out = tmp_path / "cdk.out"
    app = App(outdir=str(out))
    stack = Stack(app, "Tiny", env=Environment(account=EU_ACCOUNT, region=region.aws_region))
    iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))  # a template needs a resource
    context = stack_context(region, "regions.yaml")
    Validations.of(app).add_plugins(ResidencyChecks({"Tiny": context.policy}))
    app.synth()
    report = build_report(out, None, {"Tiny": context}, data_kinds=DATA_KINDS)
    (stack_report,) = report.stacks
    by_name = {m.name: m for m in stack_report.models}
    opted = by_name[MODEL]
    assert opted.area == AREA_NAME and {"eu-west-2", "eu-central-2"} <= set(opted.processing_regions)
    assert by_name["nova-pro"].area == "" and "eu-west-2" not in by_name["nova-pro"].processing_regions
    write_report(report, tmp_path)
    markdown = (tmp_path / MARKDOWN_NAME).read_text()
    table = markdown.split("### Model processing (from the configuration)")[1].split("\n## ")[0]
    opted_row = next(line for line in table.splitlines() if f"| {MODEL} |" in line)
    assert f"WIDER AREA opted in: {AREA_NAME} ({', '.join(opted.area_regions)})" in opted_row
    nova_row = next(line for line in table.splitlines() if "| nova-pro |" in line)
    assert "the stack's promise (inference regions eu-central-1" in nova_row and "WIDER" not in nova_row
    assert "Model processing" in (tmp_path / HTML_NAME).read_text()
