"""`regiongate report`: the residency report (Markdown and printable HTML) of a synthesized cloud assembly.

The residency pack is generic: this command gives it what only regiongate knows (the policies of the region and
tenant stacks, the configured providers, the data kinds and their metadata key, and which tests show zero retention).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from regiongate.config import tenants
from regiongate.config.regions import DEFAULT_CONFIG_PATH, PROJECT_DIR, Catalogue, load_catalogue
from regiongate.contract.environment import CREDENTIALS_KEY_ARN
from regiongate.residency.inventory import RDS_ENHANCED_MONITORING
from regiongate.residency.junit import JUnitResults, read_results
from regiongate.residency.policy import ResidencyPolicy
from regiongate.residency.report import build_report, write_report
from regiongate.residency.report_data import DataKinds, ModelProcessing, Provider, SealedSecrets, StackContext
from regiongate.shared_constructs import data_kinds, region_key_statements

# `make test` writes this (the first pytest run of the Makefile's test target); the report quotes it.
DEFAULT_TEST_RESULTS = Path("build/test-results/junit.xml")
ZERO_RETENTION_TESTS = ("tests/e2e/gateway/test_zero_retention.py",)
HOW_TO_RUN_TESTS = "run make test"

DATA_KINDS = DataKinds(
    metadata_key=data_kinds.METADATA_KEY,
    titles=data_kinds.TITLES,
    never_stored=data_kinds.NEVER_STORED,
    where_to_mark=data_kinds.WHERE_TO_MARK,
    # Orgs' own provider credentials (#16): where they are sealed and opened, computed from each template.
    sealed=(
        SealedSecrets(
            kind=data_kinds.ORG_PROVIDER_CREDENTIALS,
            key_variable=CREDENTIALS_KEY_ARN,
            seal_sid=region_key_statements.SEAL_SID,
            open_sid=region_key_statements.OPEN_SID,
            assume_sid=region_key_statements.ASSUME_SID,
            roles="the organisations' own Bedrock roles",
        ),
    ),
    service_created={RDS_ENHANCED_MONITORING: data_kinds.DATABASE_HOST_METRICS},
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write residency-report.md and residency-report.html from cdk.out (run `make report` to synthesize first)",
    )
    parser.add_argument("--cdk-out", type=Path, default=Path("cdk.out"), help="the cloud assembly (default: cdk.out)")
    parser.add_argument(
        "--out", type=Path, default=Path("."), help="where to write the report (default: current directory)"
    )
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG_PATH, help="region catalogue (default: regions.yaml)"
    )
    parser.add_argument("--stack", action="append", dest="stacks", metavar="NAME", help="only this stack (repeatable)")
    parser.add_argument(
        "--test-results",
        type=Path,
        default=None,
        help=f"JUnit XML written by `make test` (default: {DEFAULT_TEST_RESULTS} of the project)",
    )
    parser.set_defaults(func=run)


def zero_retention_results(path: Path | None = None) -> JUnitResults:
    """The zero-retention tests' outcomes recorded in ``path`` (default: what `make test` wrote)."""
    return read_results(
        path if path is not None else PROJECT_DIR / DEFAULT_TEST_RESULTS,
        ZERO_RETENTION_TESTS,
        how_to_run=HOW_TO_RUN_TESTS,
    )


def _provider(provider: Any, models: tuple[Any, ...]) -> Provider:
    where = ", ".join(
        part
        for part in (provider.aws_region or provider.location or "", provider.endpoint or provider.base_url or "")
        if part
    )
    destinations = sorted({d for m in models if m.provider == provider.name for d in getattr(m, "destinations", ())})
    url = provider.endpoint or provider.base_url or ""
    hosts = (urlsplit(url).hostname or "",) if url else ()
    return Provider(provider.name, provider.type, where, tuple(destinations), hosts)


def stack_context(config: Any, source: str) -> StackContext:
    """A region or tenant stack's policy, with its configured providers and audit retention."""
    gateway = getattr(config, "gateway", None)
    providers = (
        tuple(_provider(p, tuple(getattr(gateway, "models", ()))) for p in getattr(gateway, "providers", ()))
        if gateway is not None
        else ()
    )
    months = getattr(gateway, "audit_retention_months", None)
    return StackContext(
        policy=ResidencyPolicy.from_region(config),
        source=source,
        providers=providers,
        application_retention=f"{months} months (audit_retention_months)" if months else "",
        models=tuple(_model_processing(m) for m in getattr(gateway, "models", ())) if gateway is not None else (),
    )


def _model_processing(model: Any) -> ModelProcessing:
    """Where a configured model may be processed (its destinations) and the opted-in area, if any."""
    area = getattr(model, "area", None)
    return ModelProcessing(
        name=model.name,
        provider=model.provider,
        processing_regions=tuple(getattr(model, "destinations", ())),
        area=area.name if area is not None else "",
        area_regions=tuple(area.regions) if area is not None else (),
    )


def stack_contexts(catalogue: Catalogue, tenants_dir: Path | None = None) -> dict[str, StackContext]:
    """Stack name -> context, for every region stack of ``catalogue`` and every tenant file.

    A broken tenant file is an error here as at synth time: a report that silently left a stack out would be
    wrong evidence.
    """
    catalogue_file = Path(str(getattr(catalogue, "path", "regions.yaml"))).name
    contexts = {c.stack_name: stack_context(c, catalogue_file) for c in catalogue.regions}
    for config in tenants.deployments(catalogue, tenants_dir or tenants.tenants_dir()):
        if config.stack_name not in contexts:
            slug = tenants.slug_of_stack(config.stack_name)
            contexts[config.stack_name] = stack_context(config, f"tenants/{slug}.yaml" if slug else "tenant file")
    return contexts


def run(args) -> int:
    if not (args.cdk_out / "manifest.json").is_file():
        print(
            f"regiongate: {args.cdk_out} has no manifest.json; run `make synth` (or `make report`) first",
            file=sys.stderr,
        )
        return 2
    catalogue = load_catalogue(args.config)
    try:
        report = build_report(
            args.cdk_out,
            args.stacks,
            stack_contexts(catalogue),
            data_kinds=DATA_KINDS,
            test_results=zero_retention_results(args.test_results),
        )
    except ValueError as exc:
        print(f"regiongate: {exc}", file=sys.stderr)
        return 2
    markdown, html = write_report(report, args.out)
    still_open = report.open_finding_count - report.unacknowledged_finding_count
    print(
        f"wrote {markdown} and {html}: {len(report.stacks)} stack(s), {report.open_finding_count} open residency "
        f"finding(s)"
        + (f" ({still_open} acknowledged by the operator but not fixed: open-acknowledged)" if still_open else "")
        + f"; zero-retention tests: {report.test_results.summary() if report.test_results else 'not read'}"
    )
    # Open-acknowledged findings are listed as open but, like synthesis, do not fail the command.
    return 1 if report.unacknowledged_finding_count else 0
