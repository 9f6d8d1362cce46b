"""The residency report: generated from a cloud assembly (``cdk.out``), never written by hand.

``build_report`` reads the templates, the manifest and ``validation-report.json``; ``write_report`` writes
``residency-report.md`` and ``residency-report.html`` (self-contained: inline CSS and SVG, no scripts, no
network). Findings are computed by running the rule pack on the templates (so a report of an assembly
synthesized without the plugin still shows them); acknowledgements and their reasons come from the CDK
validation report. What the templates cannot show is given by the caller: the policies and configured providers
(:class:`StackContext`), how resources record what they hold (:class:`DataKinds`) and the run-time test results.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from regiongate.residency.claims import ENCRYPTION_RULE_ID
from regiongate.residency.engine import PLUGIN_NAME, STACK_RULE_ID, STILL_OPEN_PREFIX, evaluate_template
from regiongate.residency.inventory import Flow, StoredItem, request_flow, service_created_items, stored_items
from regiongate.residency.junit import JUnitResults
from regiongate.residency.network_paths import network_paths
from regiongate.residency.policy import ResidencyPolicy
from regiongate.residency.render import render_html, render_markdown
from regiongate.residency.report_data import (
    HTML_NAME,
    MARKDOWN_NAME,
    DataKinds,
    FindingRow,
    Provider,
    Report,
    StackContext,
    StackReport,
    rows_for_kind,
)
from regiongate.residency.sealed import sealed_placement

STACK_ARTIFACT = "aws:cloudformation:stack"
UNKNOWN_REGION = "unknown-region"

__all__ = [
    "HTML_NAME",
    "MARKDOWN_NAME",
    "DataKinds",
    "FindingRow",
    "Provider",
    "Report",
    "StackContext",
    "StackReport",
    "build_report",
    "rows_for_kind",
    "write_report",
]


def _acknowledgements(cdk_out: Path) -> tuple[bool, dict[tuple[str, str, str], tuple[str, str]]]:
    """(report found, {(template file, logical id, rule id): (reason, acknowledged at)}) for this pack."""
    path = cdk_out / "validation-report.json"
    if not path.is_file():
        return False, {}
    document = json.loads(path.read_text())
    found: dict[tuple[str, str, str], tuple[str, str]] = {}
    for plugin in document.get("pluginReports", []):
        if plugin.get("pluginName") != PLUGIN_NAME:
            continue
        for violation in plugin.get("suppressedViolations") or []:
            for construct in violation.get("violatingConstructs", []):
                resource = construct.get("cloudFormationResource") or {}
                key = (
                    Path(resource.get("templatePath", "")).name,
                    resource.get("logicalId", ""),
                    violation.get("ruleName", ""),
                )
                found[key] = (violation.get("reason", ""), violation.get("acknowledgedAt", ""))
    return True, found


def _describe_providers(flow: Flow, providers: tuple[Provider, ...]) -> None:
    """Name the configured providers on the flow's provider box (the template shows only Bedrock grants)."""
    if not providers:
        return
    others = [p.name for p in providers if p.type != "bedrock"]
    for chain in flow.chains:
        for node in chain:
            if node.id == "providers":
                bedrock = f"Bedrock {node.detail}" if node.found else ""
                node.label = "Providers"
                node.detail = "; ".join(part for part in (bedrock, ", ".join(others)) if part)
                node.found = bool(node.detail)


def _with_region_findings(item: StoredItem, findings: list[FindingRow]) -> StoredItem:
    """The item's region, followed by every region rule that finds it keeping or sending data elsewhere."""
    rules = [f for f in findings if f.logical_id == item.logical_id and f.rule_id != ENCRYPTION_RULE_ID]
    if not rules:
        return item
    named = ", ".join(f"{f.rule_id}{' (acknowledged)' if f.acknowledged else ''}" for f in rules)
    return replace(item, region=f"{item.region}; not only there, see finding {named}")


def build_report(
    cdk_out: Path,
    stacks: list[str] | None = None,
    contexts: Mapping[str, StackContext | ResidencyPolicy] | None = None,
    *,
    data_kinds: DataKinds,
    test_results: JUnitResults | None = None,
    clock: Callable[[], _dt.datetime] = lambda: _dt.datetime.now(_dt.UTC),
) -> Report:
    """The residency report of the stacks in ``cdk_out`` (all of them, or those named in ``stacks``).

    ``contexts`` maps a stack name to its :class:`StackContext` (or just its :class:`ResidencyPolicy`). A stack
    it does not describe is reported against :meth:`ResidencyPolicy.strict` for its environment's region, and the
    report says so. ``test_results`` are the run-time tests the report quotes (``None``: none were given).
    """
    cdk_out = Path(cdk_out)
    manifest = json.loads((cdk_out / "manifest.json").read_text())
    given = {
        name: value if isinstance(value, StackContext) else StackContext(value)
        for name, value in (contexts or {}).items()
    }
    report_found, acks = _acknowledgements(cdk_out)
    notes: list[str] = []
    reports: list[StackReport] = []
    wanted = list(stacks) if stacks else None
    artifacts = {
        name: artifact
        for name, artifact in (manifest.get("artifacts") or {}).items()
        if artifact.get("type") == STACK_ARTIFACT
    }
    if wanted:
        missing = [
            name
            for name in wanted
            if name not in artifacts and name not in {a.get("displayName") for a in artifacts.values()}
        ]
        if missing:
            raise ValueError(f"{cdk_out}: no stack named {', '.join(missing)}; synthesized: {', '.join(artifacts)}")
    for artifact_id, artifact in artifacts.items():
        name = artifact.get("properties", {}).get("stackName") or artifact.get("displayName") or artifact_id
        if wanted and name not in wanted and artifact_id not in wanted:
            continue
        environment = artifact.get("environment", f"aws://unknown-account/{UNKNOWN_REGION}")
        account, region = environment.removeprefix("aws://").split("/", 1)
        template_file = artifact["properties"]["templateFile"]
        template = json.loads((cdk_out / template_file).read_text())
        context = given.get(name)
        if context is None:
            context = StackContext(
                ResidencyPolicy.strict(region, account if account.isdigit() else None),
                "not in the catalogue: strict policy derived from the stack's region",
            )
        policy = context.policy
        findings = []
        # What the pack reports once per stack (KnownHomeRegion): the promised region is not the stack's.
        if region == UNKNOWN_REGION and name not in given:
            problem = f"stack {name} has no region and no residency policy"
        elif region != UNKNOWN_REGION and region != policy.home_region:
            problem = f"stack {name} is deployed to {region} but its policy's home region is {policy.home_region}"
        else:
            problem = ""
        if problem:
            findings.append(FindingRow(STACK_RULE_ID, "(stack)", "AWS::CloudFormation::Stack", problem))
        for finding in evaluate_template(template, policy):
            reason, where = acks.get((Path(template_file).name, finding.logical_id, finding.rule_id), ("", ""))
            still_open = reason.startswith(STILL_OPEN_PREFIX)
            findings.append(
                FindingRow(
                    finding.rule_id,
                    finding.logical_id,
                    finding.resource_type,
                    finding.message,
                    bool(reason or where),
                    reason.removeprefix(STILL_OPEN_PREFIX),
                    where,
                    still_open,
                )
            )
        classified, unclassified = stored_items(template, metadata_key=data_kinds.metadata_key, region=region)
        classified += service_created_items(template, kinds=data_kinds.service_created, region=region)
        flow = request_flow(template, region)
        _describe_providers(flow, context.providers)
        host_locations = {host: f"{p.name} ({p.type}): {p.where}" for p in context.providers for host in p.hosts}
        reports.append(
            StackReport(
                name=name,
                account=account,
                region=region,
                policy=policy,
                policy_source=context.source,
                stored=[_with_region_findings(item, findings) for item in classified],
                unclassified=[_with_region_findings(item, findings) for item in unclassified],
                findings=findings,
                flow=flow,
                providers=list(context.providers),
                application_retention=context.application_retention,
                network=network_paths(template, policy, host_locations),
                models=list(context.models),
                sealed=[
                    placement
                    for spec in data_kinds.sealed
                    if (
                        placement := sealed_placement(
                            template, spec, metadata_key=data_kinds.metadata_key, region=region, policy=policy
                        )
                    )
                    is not None
                ],
            )
        )
    if not report_found:
        notes.append(
            "No validation-report.json in the cloud assembly: acknowledgements are unknown, so every finding is "
            "shown as open. Synthesize with the ResidencyChecks plugin registered."
        )
    return Report(
        generated_at=clock().astimezone(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        cdk_out=str(cdk_out),
        stacks=reports,
        data_kinds=data_kinds,
        test_results=test_results,
        validation_report_found=report_found,
        notes=notes,
    )


def write_report(report: Report, out_dir: Path) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = out_dir / MARKDOWN_NAME
    html_path = out_dir / HTML_NAME
    markdown.write_text(render_markdown(report), encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return markdown, html_path
