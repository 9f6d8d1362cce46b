"""`regiongate tenant add|list|plan|remove`: single-tenant deployments for solutions engineers (docs/tenants.md)."""

from __future__ import annotations

import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

from regiongate.cli.commands.report import DATA_KINDS, stack_contexts, zero_retention_results
from regiongate.config import tenants
from regiongate.config.regions import DEFAULT_CONFIG_PATH, load_catalogue
from regiongate.residency.claims import encryption_sentence, region_sentence
from regiongate.residency.policy import ResidencyPolicy
from regiongate.residency.render import render_markdown
from regiongate.residency.report import build_report
from regiongate.shared_constructs.data_kinds import METADATA_KEY, NEVER_STORED

STACK_TYPE = "aws:cloudformation:stack"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "tenant", help="add, list, plan or remove single-tenant deployments (tenants/*.yaml)"
    )
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG_PATH, help="region catalogue (default: regions.yaml)"
    )
    parser.add_argument(
        "--tenants-dir",
        type=Path,
        default=None,
        help=f"directory of tenant files (default: ${tenants.TENANTS_DIR_ENV} or tenants/)",
    )
    parser.set_defaults(func=lambda args: parser.print_help() or 0)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")

    add = actions.add_parser("add", help="write tenants/<slug>.yaml for a new single-tenant deployment")
    add.add_argument("slug", help="customer name: a DNS label such as acme (stack Tenant-<slug>)")
    add.add_argument("--region", required=True, help="AWS region from the Single-Tenant Cloud table, e.g. eu-west-1")
    add.add_argument("--account", help="12-digit AWS account (default: the account of the geography's region)")
    add.add_argument("--domain", help="API domain (default: <slug>.<the geography region's api_domain>)")
    add.add_argument("--console", action="store_true", help="serve the console too (always on in China)")
    add.add_argument(
        "--runtime",
        choices=("lambda", "container"),
        default="lambda",
        help="how the gateway runs: lambda (default, whole answers) or container (ECS Fargate: streams)",
    )
    add.set_defaults(func=run_add)

    list_ = actions.add_parser("list", help="a table of every tenant (validates every tenant file)")
    list_.set_defaults(func=run_list)

    plan = actions.add_parser("plan", help="synthesize one tenant stack and show what it creates and where data lives")
    plan.add_argument("slug")
    plan.add_argument(
        "--cdk-out", type=Path, default=None, help="keep the cloud assembly here (default: a temporary directory)"
    )
    plan.set_defaults(func=run_plan)

    remove = actions.add_parser("remove", help="delete tenants/<slug>.yaml (the deployed stack is not touched)")
    remove.add_argument("slug")
    remove.set_defaults(func=run_remove)


def _directory(args) -> Path:
    return args.tenants_dir or tenants.tenants_dir()


def run_add(args) -> int:
    catalogue = load_catalogue(args.config)
    directory = _directory(args)
    path, text = tenants.new_tenant_file(
        catalogue,
        directory,
        args.slug,
        aws_region=args.region,
        account=args.account,
        domain=args.domain,
        console=args.console,
        runtime=args.runtime,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as handle:  # never overwrite a tenant written meanwhile
        handle.write(text)
    tenant = tenants.load_tenant(path, catalogue)
    print(
        f"wrote {path}: stack {tenant.stack_name} in {tenant.region.aws_region} ({tenant.row.name}), keys {tenant.region.key_prefix}…"
    )
    print("next: replace the placeholder certificate_arn, review the file, then")
    print(f"  regiongate tenant plan {tenant.slug}")
    print(f"  npx cdk deploy {tenant.stack_name} -c stacks={tenant.stack_name}")
    return 0


def run_list(args) -> int:
    from regiongate.cli.commands.summary import format_table

    catalogue = load_catalogue(args.config)
    rows = [
        {
            "tenant": t.slug,
            "stack": t.stack_name,
            "region": f"{t.row.name} ({t.region.aws_region})",
            "partition": t.region.partition,
            "keys": f"{t.region.key_prefix}…",
            "account": t.region.account,
            "api domain": t.region.api_domain,
            "console": "yes" if t.region.console else "no",
            "certificate": "PLACEHOLDER" if t.certificate_is_placeholder else "set",
        }
        for t in tenants.load_tenants(_directory(args), catalogue)
    ]
    print(format_table(rows) if rows else f"no tenants in {_directory(args)}")
    return 0


def run_remove(args) -> int:
    catalogue = load_catalogue(args.config)
    directory = _directory(args)
    path = tenants.tenant_path(directory, tenants.check_slug(args.slug, tenants.tenant_path(directory, args.slug)))
    tenant = tenants.load_tenant(path, catalogue)
    path.unlink()
    print(f"removed {path}: stack {tenant.stack_name} is no longer part of the app. A deployed stack is not touched.")
    print(f"If it is deployed, destroy it while the file still exists (`git restore {path}` brings it back):")
    print(f"  npx cdk destroy {tenant.stack_name} -c stacks={tenant.stack_name}")
    print("which keeps a final RDS snapshot, the KMS key and the log groups on purpose (docs/tenants.md).")
    return 0


def run_plan(args) -> int:
    catalogue = load_catalogue(args.config)
    directory = _directory(args)
    path = tenants.tenant_path(directory, tenants.check_slug(args.slug, tenants.tenant_path(directory, args.slug)))
    tenant = tenants.load_tenant(path, catalogue)
    if args.cdk_out is not None:
        return _plan(tenant, catalogue, directory, args.cdk_out)
    with tempfile.TemporaryDirectory(prefix=f"regiongate-plan-{tenant.slug}-") as tmp:
        return _plan(tenant, catalogue, directory, Path(tmp))


def _plan(tenant: tenants.Tenant, catalogue, directory: Path, cdk_out: Path) -> int:
    failure = synthesize(tenant.stack_name, catalogue, directory, cdk_out)
    print(describe_stack(cdk_out, tenant, data_kinds=False))
    print()
    print(_residency_report(cdk_out, tenant, catalogue, directory))
    if tenant.certificate_is_placeholder:
        print(
            f"\nwarning: certificate_arn in {tenant.path} is still the placeholder; the HTTPS listener cannot deploy with it."
        )
    if failure:
        print(f"\nregiongate: validation of {tenant.stack_name} failed: {failure}", file=sys.stderr)
        return 1
    return 0


def synthesize(stack: str, catalogue, directory: Path, cdk_out: Path) -> str | None:
    """Synthesize only ``stack`` into ``cdk_out``; the validation failure message, if any.

    Templates are written before the validation plugins run, so a plan can still be shown when cdk-nag, the
    residency pack or the CloudFormation rules object.
    """
    from aws_cdk import App

    from regiongate.infra.app import build_app, cdk_json_context

    app = App(outdir=str(cdk_out), context={**cdk_json_context(), tenants.SELECTION_CONTEXT: stack})
    build_app(app, catalogue, tenants_dir=directory)
    try:
        app.synth()
    except RuntimeError as exc:  # jsii reports ValidationFailed as RuntimeError
        if "Validation failed" not in str(exc):
            raise
        return str(exc)
    return None


def _residency_report(cdk_out: Path, tenant: tenants.Tenant, catalogue, directory: Path) -> str:
    """The residency report (Markdown) of the tenant's stack."""
    report = build_report(
        cdk_out,
        [tenant.stack_name],
        stack_contexts(catalogue, directory),
        data_kinds=DATA_KINDS,
        test_results=zero_retention_results(),
    )
    return render_markdown(report)


def residency_lines(template: dict, policy: ResidencyPolicy, deployed_region: str) -> tuple[str, str]:
    """(the resources heading, the encryption sentence), each computed from the template."""
    return (
        f"Resources ({region_sentence(template, policy, deployed_region)}):",
        f"Encryption: {encryption_sentence(template, policy)}.",
    )


def data_kind_lines(template: dict) -> list[str]:
    """Which resources hold which kinds of data, from their data-kind metadata (and the kinds none may hold)."""
    stores: dict[str, list[str]] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        for kind in resource.get("Metadata", {}).get(METADATA_KEY, []):
            stores.setdefault(kind, []).append(f"{resource['Type']} {logical_id}")
    for kind in NEVER_STORED:
        stores.setdefault(kind, [])
    kind_width = max(map(len, stores), default=0)
    lines = [f"Where each kind of data lives (from the {METADATA_KEY} metadata of the template):"]
    for kind in sorted(stores):
        held_by = ", ".join(sorted(stores[kind])) or "no resource is marked as holding it"
        lines.append(f"  {kind.ljust(kind_width)}  {held_by}")
    return lines


def describe_stack(cdk_out: Path, tenant: tenants.Tenant, *, data_kinds: bool = True) -> str:
    """What will be created: resources by kind, whether every one is in the tenant's region and which data stores
    are not encrypted with the stack's own key (and, if asked, which resources hold which kinds of data)."""
    manifest = json.loads((cdk_out / "manifest.json").read_text())
    artifact = manifest["artifacts"][tenant.stack_name]
    template = json.loads((cdk_out / artifact["properties"]["templateFile"]).read_text())
    environment = artifact.get("environment", "")
    region = tenant.region
    resources_heading, encryption = residency_lines(
        template, ResidencyPolicy.from_region(region), environment.rsplit("/", 1)[-1]
    )
    lines = [
        f"Plan for tenant {tenant.slug}: stack {tenant.stack_name} ({environment})",
        f"  region      {region.aws_region} ({tenant.row.name}), partition {region.partition}, account {region.account}",
        f"  keys        {region.key_prefix}… (geography {region.geography})",
        f"  inference   {', '.join(region.inference_regions)}",
        f"  api         https://{region.api_domain}"
        + (f"   console https://{region.console_domain}" if region.console else ""),
        "",
        resources_heading,
    ]
    kinds = Counter(resource["Type"] for resource in template.get("Resources", {}).values())
    width = max(map(len, kinds), default=0)
    lines += [f"  {kind.ljust(width)}  {count}" for kind, count in sorted(kinds.items())]
    lines += ["", encryption]
    if data_kinds:
        lines += ["", *data_kind_lines(template)]
    return "\n".join(lines)
