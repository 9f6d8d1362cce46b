"""The residency report: generated from a cloud assembly (``cdk.out``), never written by hand.

``build_report`` reads the templates, the manifest and ``validation-report.json``; ``write_report`` writes
``residency-report.md`` and ``residency-report.html`` (self-contained: inline CSS and SVG, no scripts, no
network). Findings are computed by running the rule pack on the templates (so a report of an assembly
synthesized without the plugin still shows them); acknowledgements and their reasons come from the CDK
validation report.
"""

from __future__ import annotations

import ast
import datetime as _dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from regiongate.residency.engine import PLUGIN_NAME, evaluate_template
from regiongate.residency.inventory import Flow, StoredItem, request_flow, stored_items
from regiongate.residency.policy import ResidencyPolicy

MARKDOWN_NAME = "residency-report.md"
HTML_NAME = "residency-report.html"
STACK_ARTIFACT = "aws:cloudformation:stack"

CONTENT_KIND = "prompt-and-response-content"
# Display order and wording of the data kinds (stacks/components/data_kinds.py); unknown kinds follow.
KIND_TITLES: dict[str, str] = {
    CONTENT_KIND: "Prompt and response content",
    "audit-metadata": "Audit metadata (model, tokens, cost, latency, key id, org, time)",
    "guardrail-violations": "Guardrail violations (type and message, not the blocked content)",
    "spend-and-usage": "Spend and usage aggregates",
    "api-key-hashes": "API key hashes",
    "provider-credentials": "Provider credentials (API keys of the LLM providers)",
    "database-credentials": "Database credentials",
    "audit-events-in-transit": "Audit events in transit (queue)",
    "function-logs": "Function logs",
    "database-logs": "Database logs",
    "console-logs": "Console logs",
    "network-flow-logs": "Network flow logs",
    "load-balancer-access-logs": "Load balancer access logs",
    "container-images": "Container images",
}


@dataclass(frozen=True)
class FindingRow:
    rule_id: str
    logical_id: str
    resource_type: str
    message: str
    acknowledged: bool = False
    reason: str = ""
    acknowledged_at: str = ""


@dataclass
class StackReport:
    name: str
    account: str
    policy: ResidencyPolicy
    policy_source: str
    stored: list[StoredItem]
    unclassified: list[StoredItem]
    findings: list[FindingRow]
    flow: Flow
    providers: list[list[str]] = field(default_factory=list)
    application_retention: str = ""

    @property
    def open_findings(self) -> list[FindingRow]:
        return [f for f in self.findings if not f.acknowledged]

    @property
    def acknowledgements(self) -> list[FindingRow]:
        return [f for f in self.findings if f.acknowledged]


@dataclass
class Report:
    generated_at: str
    cdk_out: str
    stacks: list[StackReport]
    runtime_tests: list[str]
    runtime_tests_searched: str
    validation_report_found: bool
    notes: list[str] = field(default_factory=list)

    def kinds(self) -> list[str]:
        present = {kind for stack in self.stacks for item in stack.stored for kind in item.kinds}
        ordered = [k for k in KIND_TITLES if k in present or k == CONTENT_KIND]
        return ordered + sorted(present - set(ordered))


# --- building --------------------------------------------------------------------------------------


def _policies(
    catalogue: Any, tenants_dir: Path | None
) -> tuple[dict[str, ResidencyPolicy], dict[str, Any], dict[str, str]]:
    """Stack name -> policy, -> RegionConfig (where known) and -> where the policy came from."""
    if catalogue is None:
        return {}, {}, {}
    if isinstance(catalogue, Mapping):
        policies = {name: _as_policy(value) for name, value in catalogue.items()}
        configs = {name: value for name, value in catalogue.items() if not isinstance(value, ResidencyPolicy)}
        return policies, configs, {name: "given policy" for name in policies}
    configs = list(getattr(catalogue, "regions", ()))
    sources = {c.stack_name: Path(str(getattr(catalogue, "path", "regions.yaml"))).name for c in configs}
    # Single-tenant stacks come from tenants/*.yaml, built on the same catalogue. A broken tenant file is an
    # error here as at synth time: a report that silently left a stack out would be wrong evidence.
    from regiongate.config import tenants

    directory = tenants_dir or tenants.tenants_dir()
    for config in tenants.deployments(catalogue, directory):
        if config.stack_name not in sources:
            configs.append(config)
            slug = tenants.slug_of_stack(config.stack_name)
            sources[config.stack_name] = f"tenants/{slug}.yaml" if slug else "tenant file"
    return {c.stack_name: ResidencyPolicy.from_region(c) for c in configs}, {c.stack_name: c for c in configs}, sources


def _as_policy(value: Any) -> ResidencyPolicy:
    return value if isinstance(value, ResidencyPolicy) else ResidencyPolicy.from_region(value)


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


def _application_retention(config: Any) -> str:
    months = getattr(getattr(config, "gateway", None), "audit_retention_months", None)
    return f"{months} months (the audit writer drops older months)" if months else ""


def _providers(config: Any) -> list[list[str]]:
    """One row per configured provider: name, type, where it runs, where it may process a prompt."""
    gateway = getattr(config, "gateway", None)
    if gateway is None:
        return []
    rows = []
    for provider in getattr(gateway, "providers", ()):
        where = ", ".join(
            part
            for part in (provider.aws_region or provider.location or "", provider.endpoint or provider.base_url or "")
            if part
        )
        models = [m for m in getattr(gateway, "models", ()) if m.provider == provider.name]
        destinations = sorted({d for m in models for d in getattr(m, "destinations", ())})
        rows.append([provider.name, provider.type, where, ", ".join(destinations) or "-"])
    return rows


def _describe_providers(flow: Flow, config: Any) -> None:
    """Name the configured providers on the flow's provider box (the template shows only Bedrock grants)."""
    gateway = getattr(config, "gateway", None)
    if gateway is None:
        return
    others = [p.name for p in getattr(gateway, "providers", ()) if p.type != "bedrock"]
    for chain in flow.chains:
        for node in chain:
            if node.id == "providers":
                bedrock = f"Bedrock {node.detail}" if node.found else ""
                node.label = "Providers"
                node.detail = "; ".join(part for part in (bedrock, ", ".join(others)) if part)
                node.found = bool(node.detail)


def find_runtime_tests(tests_dir: Path) -> tuple[list[str], str]:
    """Test ids of the zero-retention canary tests: test functions in files of ``tests_dir`` mentioning "canary"."""
    searched = f"{tests_dir} (files mentioning 'canary')"
    if not tests_dir.is_dir():
        return [], searched
    found: list[str] = []
    for path in sorted(tests_dir.rglob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if "canary" not in text.lower():
            continue
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        tests: list[tuple[str, str]] = []
        for top in tree.body:
            items = (
                [(top, "")] if not isinstance(top, ast.ClassDef) else [(child, f"{top.name}::") for child in top.body]
            )
            for item, prefix in items:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test"):
                    tests.append((f"{prefix}{item.name}", ast.get_source_segment(text, item) or ""))
        canary = [name for name, source in tests if "canary" in name.lower() or "canary" in source.lower()]
        try:
            shown = path.relative_to(Path.cwd())
        except ValueError:
            shown = path
        found += [f"{shown}::{name}" for name in (canary or [name for name, _ in tests])]
    return found, searched


def build_report(
    cdk_out: Path,
    stacks: list[str] | None = None,
    catalogue: Any = None,
    *,
    tests_dir: Path | None = None,
    tenants_dir: Path | None = None,
    clock: Callable[[], _dt.datetime] = lambda: _dt.datetime.now(_dt.UTC),
) -> Report:
    """The residency report of the stacks in ``cdk_out`` (all of them, or those named in ``stacks``).

    ``catalogue`` is a :class:`regiongate.config.regions.Catalogue` (region stacks and tenant stacks), or a mapping of
    stack name to :class:`ResidencyPolicy`/RegionConfig. A stack it does not describe is reported against
    :meth:`ResidencyPolicy.strict` for its environment's region, and the report says so.
    """
    cdk_out = Path(cdk_out)
    manifest = json.loads((cdk_out / "manifest.json").read_text())
    policies, configs, sources = _policies(catalogue, tenants_dir)
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
        environment = artifact.get("environment", "aws://unknown-account/unknown-region")
        account, region = environment.removeprefix("aws://").split("/", 1)
        template_file = artifact["properties"]["templateFile"]
        template = json.loads((cdk_out / template_file).read_text())
        policy = policies.get(name)
        stack_source = sources.get(name, "")
        if policy is None:
            policy = ResidencyPolicy.strict(region, account if account.isdigit() else None)
            stack_source = "not in the catalogue: strict policy derived from the stack's region"
        findings = []
        for finding in evaluate_template(template, policy):
            reason, where = acks.get((Path(template_file).name, finding.logical_id, finding.rule_id), ("", ""))
            findings.append(
                FindingRow(
                    finding.rule_id,
                    finding.logical_id,
                    finding.resource_type,
                    finding.message,
                    bool(reason or where),
                    reason,
                    where,
                )
            )
        classified, unclassified = stored_items(template, policy)
        flow = request_flow(template, policy)
        _describe_providers(flow, configs.get(name))
        reports.append(
            StackReport(
                name=name,
                account=account,
                policy=policy,
                policy_source=stack_source,
                stored=classified,
                unclassified=unclassified,
                findings=findings,
                flow=flow,
                providers=_providers(configs.get(name)),
                application_retention=_application_retention(configs.get(name)),
            )
        )
    if not report_found:
        notes.append(
            "No validation-report.json in the cloud assembly: acknowledgements are unknown, so every finding is "
            "shown as open. Synthesize with the ResidencyChecks plugin registered."
        )
    tests_dir = tests_dir or Path.cwd() / "tests" / "gateway"
    runtime_tests, searched = find_runtime_tests(tests_dir)
    return Report(
        generated_at=clock().astimezone(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        cdk_out=str(cdk_out),
        stacks=reports,
        runtime_tests=runtime_tests,
        runtime_tests_searched=searched,
        validation_report_found=report_found,
        notes=notes,
    )


def write_report(report: Report, out_dir: Path) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    from regiongate.residency.render import render_html, render_markdown

    markdown = out_dir / MARKDOWN_NAME
    html_path = out_dir / HTML_NAME
    markdown.write_text(render_markdown(report), encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return markdown, html_path


def rows_for_kind(report: Report, kind: str) -> list[tuple[StackReport, StoredItem]]:
    return [(stack, item) for stack in report.stacks for item in stack.stored if kind in item.kinds]
