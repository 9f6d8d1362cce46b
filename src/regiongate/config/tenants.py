"""Single-tenant deployments: one reviewable file per customer under ``tenants/``, one stack each.

A tenant file (``tenants/<slug>.yaml``) is validated as strictly as regions.yaml: unknown keys are refused
and every error names the file, the key and the fix. A valid tenant becomes a :class:`RegionConfig`, so a
tenant stack is a ``RegionStack`` like any region's:

- stack ``Tenant-<slug>``, resource names from ``deployment_id`` ``tenant-<slug>`` (KMS alias, secrets, RDS
  identifier), so a tenant can share an account with a region or another tenant without collisions;
- ``code`` (the API key prefix ``rk-<code>-``) and the gateway configuration from the ``regions:`` entry of the
  tenant's geography;
- the AWS region must be a row of ``single_tenant_regions`` in regions.yaml (the product's region table).

Loading is per file: selecting one tenant stack reads one tenant file, however many exist.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from regiongate.config import alarms, database_tls, gateway_runtime
from regiongate.config import gateway as gateway_config
from regiongate.config.reader import Rule, Text, TextList, load_yaml
from regiongate.config.regions import (
    ACCOUNT,
    ACCOUNT_RE,
    AWS_REGION,
    GEOGRAPHY,
    PARTITION,
    PROJECT_DIR,
    REGION_RE,
    REGION_RULES,
    Catalogue,
    ConfigError,
    Reader,
    RegionConfig,
    SingleTenantRegion,
    Sizing,
    certificate_account,
    check_partition,
    parse_region,
    read_yaml_file,
)
from regiongate.config.tenant_gateway import Refusal, TenantRegion, served_models, tenant_gateway

DEFAULT_TENANTS_DIR = PROJECT_DIR / "tenants"
TENANTS_DIR_ENV = "REGIONGATE_TENANTS_DIR"
TENANTS_DIR_CONTEXT = "tenants_dir"
STACK_PREFIX = "Tenant-"
DEPLOYMENT_PREFIX = "tenant-"
# The certificate id `tenant add` writes until the solutions engineer has requested the real certificate.
PLACEHOLDER_CERTIFICATE_ID = "00000000-0000-0000-0000-000000000000"

# A DNS label that also fits every name derived from it: the RDS identifier regiongate-tenant-<slug>-audit
# (at most 63 characters, no "--"), the stack name, the KMS alias and the secret names.
SLUG_MAX_LENGTH = 32
SLUG_RE = re.compile(r"^(?!.*--)[a-z](?:[a-z0-9-]*[a-z0-9])?$")
SLUG = Text(SLUG_RE, "a DNS-safe tenant name such as acme or acme-bank", max_length=SLUG_MAX_LENGTH)

# Every AWS region as of 2025, to tell "not an AWS region" from "not offered for single-tenant".
AWS_REGIONS = frozenset(
    {
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "ca-central-1",
        "ca-west-1",
        "mx-central-1",
        "sa-east-1",
        "eu-central-1",
        "eu-central-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "eu-south-1",
        "eu-south-2",
        "eu-north-1",
        "il-central-1",
        "me-south-1",
        "me-central-1",
        "af-south-1",
        "ap-east-1",
        "ap-east-2",
        "ap-south-1",
        "ap-south-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-6",
        "ap-southeast-7",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "cn-north-1",
        "cn-northwest-1",
        "us-gov-east-1",
        "us-gov-west-1",
    }
)

# Every key of a tenant file with the rule of its value, in the order `tenant add` writes them; the keys a
# tenant shares with a regions.yaml entry follow the same rules (``sizing`` is SIZING_RULES).
TENANT_RULES: Mapping[str, Rule | None] = {
    "slug": SLUG,
    "aws_region": AWS_REGION,
    "partition": PARTITION,
    "geography": GEOGRAPHY,
    # Quoted: an unquoted 12-digit number loses leading zeros.
    "account": ACCOUNT,
    **{
        name: REGION_RULES[name]
        for name in (
            "availability_zones",
            "inference_regions",
        )
    },
    # The public model names of the geography's catalogue the tenant serves (default: every one).
    "models": TextList(),
    **{
        name: REGION_RULES[name]
        for name in (
            "api_domain",
            "certificate_arn",
            "certificate_names",
            "console",
            "console_domain",
            "console_availability_zones",
            "console_certificate_arn",
            "hosted_zone",
            # How the tenant runs its gateway: runtime and max_generation_seconds only, in a tenant file
            # (regiongate.config.gateway_runtime); the catalogue is the geography's.
            "gateway",
            "sizing",
            "database_ca_bundle",
            "database_ca_bundle_sha256",
            "database_tls",
            # Who is told when the tenant stack's alarms fire (regiongate.config.alarms): e-mail subscribers
            # of the stack's own topic.
            alarms.KEY,
        )
    },
}
TENANT_KEYS = tuple(TENANT_RULES)
REQUIRED_TENANT_KEYS = (
    "slug",
    "aws_region",
    "geography",
    "account",
    "availability_zones",
    "inference_regions",
    "api_domain",
    "certificate_arn",
    "sizing",
)


@dataclass(frozen=True)
class Tenant:
    slug: str
    path: Path
    row: SingleTenantRegion  # the product region the tenant was provisioned in
    region: RegionConfig  # what its RegionStack is built from

    @property
    def stack_name(self) -> str:
        return self.region.stack_name

    @property
    def certificate_is_placeholder(self) -> bool:
        return self.region.certificate_arn.endswith(f"/{PLACEHOLDER_CERTIFICATE_ID}")


def stack_name(slug: str) -> str:
    return f"{STACK_PREFIX}{slug}"


def slug_of_stack(name: str) -> str | None:
    """``Tenant-acme`` → ``acme``; ``None`` for a region stack name."""
    return name[len(STACK_PREFIX) :] if name.startswith(STACK_PREFIX) else None


def tenants_dir(context: Mapping[str, Any] | None = None) -> Path:
    """Where tenant files live: ``-c tenants_dir=…``, else ``$REGIONGATE_TENANTS_DIR``, else ``tenants/``."""
    value = (context or {}).get(TENANTS_DIR_CONTEXT) or os.environ.get(TENANTS_DIR_ENV)
    return Path(value) if value else DEFAULT_TENANTS_DIR


def tenant_path(directory: Path, slug: str) -> Path:
    return Path(directory) / f"{slug}.yaml"


def tenant_slugs(directory: Path) -> list[str]:
    """The slugs of the tenant files in ``directory`` (file names only: nothing is parsed)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p.stem for p in directory.glob("*.yaml") if p.is_file())


# --- validation ---------------------------------------------------------------------------------------------


def check_slug(slug: Any, path: Path, key: str = "slug") -> str:
    """A slug is a DNS label that fits every name regiongate derives from it."""
    if not isinstance(slug, str) or not slug:
        raise ConfigError(path, key, f"must be a non-empty string, got {slug!r}")
    if not SLUG_RE.match(slug) or len(slug) > SLUG_MAX_LENGTH:
        raise ConfigError(
            path,
            key,
            f"{slug!r} is not DNS-safe: use 1 to {SLUG_MAX_LENGTH} lower-case letters, digits and single hyphens, "
            "starting with a letter and not ending with a hyphen (for example acme or acme-bank)",
        )
    return slug


def check_region(catalogue: Catalogue, aws_region: Any, path: Path, key: str = "aws_region") -> SingleTenantRegion:
    """The row of the single-tenant region table for ``aws_region``, or a refusal saying which rows exist."""
    offered = ", ".join(f"{row.aws_region} ({row.name})" for row in catalogue.single_tenant_regions) or "none"
    if not isinstance(aws_region, str) or not REGION_RE.match(aws_region) or aws_region not in AWS_REGIONS:
        raise ConfigError(path, key, f"{aws_region!r} is not an AWS region; single-tenant regions: {offered}")
    row = catalogue.single_tenant_region(aws_region)
    if row is None:
        raise ConfigError(
            path,
            key,
            f"{aws_region} is not offered for Single-Tenant Cloud (see single_tenant_regions in "
            f"{catalogue.path.name}); single-tenant regions: {offered}",
        )
    return row


def check_account(account: Any, path: Path, key: str = "account") -> str:
    if not isinstance(account, str) or not ACCOUNT_RE.match(account):
        raise ConfigError(
            path, key, f"{account!r} is not an AWS account id: it must be exactly 12 digits (quoted in a tenant file)"
        )
    return account


def geography_region(catalogue: Catalogue, geography: str, path: Path, key: str = "geography") -> RegionConfig:
    """The ``regions:`` entry a tenant of ``geography`` takes its key prefix and gateway from."""
    for region in catalogue.regions:
        if region.geography == geography and "single_tenant" in region.offerings:
            return region
    raise ConfigError(
        path,
        key,
        f"no entry under regions: in {catalogue.path.name} has geography {geography} and offers single_tenant; "
        "add single_tenant to that region's offerings",
    )


def parse_tenant(data: Any, path: Path, catalogue: Catalogue) -> Tenant:
    """Validate an already-parsed tenant file: the keys it shares with regions.yaml entries are parsed by
    ``regions.parse_region``; the tenant validates its identity against the single-tenant region table."""
    path = Path(path)
    reader = Reader(path)
    raw = reader.mapping(data if data is not None else {}, "", TENANT_KEYS, REQUIRED_TENANT_KEYS)

    slug = check_slug(raw["slug"], path)
    if slug != path.stem:
        raise reader.fail("slug", f"{slug!r} does not match the file name {path.name}; the file must be {slug}.yaml")

    row = check_region(catalogue, raw["aws_region"], path)
    aws_region = row.aws_region
    check_partition(reader, raw, "", aws_region)
    geography = reader.string(raw["geography"], "geography")
    if geography != row.geography:
        raise reader.fail(
            "geography",
            f"{aws_region} ({row.name}) is in geography {row.geography}, not {geography!r}; set it to {row.geography}",
        )
    home = geography_region(catalogue, geography, path)
    account = check_account(raw["account"], path)

    region = parse_region(
        reader,
        raw,
        "",
        code=home.code,
        stack_name=stack_name(slug),
        aws_region=aws_region,
        geography=geography,
        account=account,
        offerings=("single_tenant",),
        base_sizing=catalogue.default_sizing,
        deployment_id=f"{DEPLOYMENT_PREFIX}{slug}",
    )
    region = replace(region, gateway=_tenant_gateway(reader, raw, region, home))
    if region.gateway is not None:
        # The deployment's own choice (default: the Lambda), never the geography region's.
        runtime = gateway_runtime.parse_runtime(
            reader, reader.mapping(raw.get("gateway") or {}, "gateway", gateway_runtime.RUNTIME_KEYS), "gateway"
        )
        region = replace(
            region,
            gateway=replace(
                region.gateway, runtime=runtime.runtime, max_generation_seconds=runtime.max_generation_seconds
            ),
        )
    for key in ("certificate_arn", "console_certificate_arn"):
        _check_certificate_account(reader, key, getattr(region, key), account)
    # The inherited gateway was checked against its region's inference regions: the tenant's must cover
    # every region it sends prompts to, or the tenant would process data outside its own promise.
    needed = sorted(
        {grant.aws_region for grant in gateway_config.bedrock_grants(region)} - set(region.inference_regions)
    )
    if needed:
        raise reader.fail(
            "inference_regions",
            f"the gateway configuration of regions.{home.code} invokes models in {', '.join(needed)}; "
            f"add {'them' if len(needed) > 1 else 'it'} (inference would otherwise leave the listed regions)",
        )
    return Tenant(slug=slug, path=path, row=row, region=region)


def _tenant_region(region: RegionConfig, home: RegionConfig) -> TenantRegion:
    return TenantRegion(
        code=home.code,
        aws_region=region.aws_region,
        geography=region.geography,
        inference_regions=tuple(region.inference_regions),
        catalogue_region=home.aws_region,
    )


def _tenant_gateway(
    reader: Reader, raw: dict[str, Any], region: RegionConfig, home: RegionConfig
) -> gateway_config.GatewayConfig | None:
    """The catalogue of ``home`` served from the tenant's own region: every listed model must be servable
    inside the tenant's inference regions (regiongate.config.tenant_gateway)."""
    if home.gateway is None:
        return None
    served, refused = served_models(home.gateway, _tenant_region(region, home))
    by_name = {m.name: m for m in served}
    refusals: dict[str, Refusal] = {r.model: r for r in refused}
    catalogue = [m.name for m in home.gateway.models]
    if raw.get("models") is None:
        names = tuple(catalogue)
        key_of = {name: "inference_regions" for name in names}
    else:
        names = reader.string_list(raw["models"], "models")
        key_of = {name: f"models[{i}]" for i, name in enumerate(names)}
        if not names:
            raise reader.fail("models", f"must name at least one model of regions.{home.code}")
        if len(set(names)) != len(names):
            raise reader.fail("models", "lists a model twice")
    for name in names:
        if name not in catalogue:
            raise reader.fail(
                key_of[name], f"{name!r} is not a model of regions.{home.code}; valid: {', '.join(catalogue)}"
            )
        if name in refusals:
            raise reader.fail(key_of[name], f"not served in {region.aws_region}: {refusals[name].sentence()}")
    return tenant_gateway(home.gateway, [by_name[name] for name in names])


def image_deployment(region: RegionConfig) -> str | None:
    """The deployment whose own image repositories a stack creates (``regiongate/<deployment id>/<image>``), so a
    tenant can share an account and region with the platform's stack and other tenants; ``None`` for a region
    stack (``regiongate/<image>``)."""
    return region.deployment_id if region.deployment_id.startswith(DEPLOYMENT_PREFIX) else None


def _check_certificate_account(reader: Reader, key: str, certificate_arn: str, account: str) -> None:
    """A tenant's certificates belong to the tenant's account (an ALB can use no other)."""
    owner = certificate_account(certificate_arn)
    if owner != account:
        raise reader.fail(
            key,
            f"the certificate belongs to account {owner} but the tenant deploys into {account}; "
            "request the certificate in the tenant's account",
        )


def load_tenant(path: Path, catalogue: Catalogue) -> Tenant:
    path = Path(path)
    data = read_yaml_file(path, "`regiongate tenant list` shows the tenants there are")
    return parse_tenant(data, path, catalogue)


def load_tenants(directory: Path, catalogue: Catalogue, only: Iterable[str] | None = None) -> list[Tenant]:
    """Every tenant in ``directory`` (or only the slugs in ``only``; their files alone are read)."""
    directory = Path(directory)
    if only is None:
        tenants = [load_tenant(tenant_path(directory, slug), catalogue) for slug in tenant_slugs(directory)]
        _check_unique_domains(catalogue, tenants)
        return tenants
    return [load_tenant(tenant_path(directory, slug), catalogue) for slug in only]


def _check_unique_domains(catalogue: Catalogue, tenants: list[Tenant]) -> None:
    owners: dict[str, str] = {}
    for region in catalogue.regions:
        for domain in (region.api_domain, region.console_domain):
            if domain:
                owners[domain] = f"regions.{region.code} in {catalogue.path.name}"
    for tenant in tenants:
        for key in ("api_domain", "console_domain"):
            domain = getattr(tenant.region, key)
            if not domain:
                continue
            if domain in owners:
                raise ConfigError(
                    tenant.path, key, f"{domain} is already used by {owners[domain]}; every deployment needs its own"
                )
            owners[domain] = tenant.path.name


# --- new tenant files ---------------------------------------------------------------------------------------


def new_tenant_file(
    catalogue: Catalogue,
    directory: Path,
    slug: str,
    *,
    aws_region: str,
    account: str | None = None,
    domain: str | None = None,
    console: bool = False,
    runtime: str = gateway_runtime.LAMBDA,
) -> tuple[Path, str]:
    """The path and text of a new tenant file with every default spelled out, validated, not yet written."""
    path = tenant_path(directory, check_slug(slug, tenant_path(directory, str(slug)), "slug (the tenant name)"))
    if path.exists():
        raise ConfigError(path, "slug", f"tenant {slug!r} already exists; pick another name or edit {path.name}")
    row = check_region(catalogue, aws_region, path, "aws_region (--region)")
    home = geography_region(catalogue, row.geography, path)
    account = check_account(account if account is not None else home.account, path, "account (--account)")
    partition = row.partition
    china = partition == "aws-cn"
    # Inference in the home region only: a wider area is the operator's explicit opt-in, model by model.
    inference = [aws_region]
    served, refused = (
        ([], [])
        if home.gateway is None
        else served_models(
            home.gateway,
            TenantRegion(home.code, aws_region, row.geography, (aws_region,), catalogue_region=home.aws_region),
        )
    )
    if home.gateway is not None and not served:
        raise ConfigError(
            path,
            "aws_region (--region)",
            f"no model of regions.{home.code} can be served in {aws_region}: "
            + "; ".join(f"{r.model}: {r.sentence()}" for r in refused),
        )
    api_domain = domain or f"{slug}.{home.api_domain}"
    console_domain = f"{slug}.{home.console_domain}" if home.console_domain else f"console.{api_domain}"
    sizing: Sizing = catalogue.default_sizing
    if runtime not in gateway_runtime.RUNTIMES:
        raise ConfigError(
            path, "gateway.runtime (--runtime)", f"{runtime!r} is not one of {', '.join(gateway_runtime.RUNTIMES)}"
        )
    text = _TEMPLATE.format(
        slug=slug,
        stack=stack_name(slug),
        aws_region=aws_region,
        row_name=row.name,
        partition=partition,
        geography=row.geography,
        code=home.code,
        home_stack=home.stack_name,
        account=account,
        account_origin="--account" if account != home.account else f"default: the account of regions.{home.code}",
        azs=", ".join(row.availability_zones),
        inference=", ".join(inference),
        models=_models_text(served, refused, aws_region) if home.gateway is not None else "",
        api_domain=api_domain,
        certificate_arn=f"arn:{partition}:acm:{aws_region}:{account}:certificate/{PLACEHOLDER_CERTIFICATE_ID}",
        console="true" if (console or china) else "false",
        console_note="always on in China: the console is served in country"
        if china
        else "serve the console too (tenant add --console)",
        console_domain=console_domain,
        certificate_names=", ".join([api_domain, console_domain] if (console or china) else [api_domain]),
        console_zones=_console_zones_text(row, console or china),
        database_tls=database_tls.tenant_file_lines(
            home.database_tls, home.aws_region, aws_region, partition, Path(directory)
        ),
        sizing="\n".join(f"  {name}: {_yaml_scalar(value)}" for name, value in sizing.__dict__.items()),
        runtime=runtime,
        runtime_note="tenant add --runtime container" if runtime == gateway_runtime.CONTAINER else "the default",
        max_generation=gateway_runtime.DEFAULT_GENERATION_SECONDS[runtime],
        max_generation_limit=gateway_runtime.MAX_GENERATION_SECONDS[runtime],
    )
    # What is written must load: a file `tenant add` writes is never one the synth refuses.
    parse_tenant(load_yaml(text), path, catalogue)
    return path, text


def _models_text(served: list[Any], refused: list[Refusal], aws_region: str) -> str:
    lines = [
        f"# The models of regions.yaml served in {aws_region} (each called there, processed only in inference_regions)."
    ]
    for refusal in refused:
        lines.append(f"# Not served by default: {refusal.model}: {refusal.sentence()}.")
    lines.append(f"models: [{', '.join(m.name for m in served)}]")
    return "\n".join(lines) + "\n"


def _console_zones_text(row: SingleTenantRegion, served: bool) -> str:
    if not served:
        return ""
    note = (
        "# Fargate runs in cn-north-1 only in AZ ids cnn1-az1 and cnn1-az2, and zone names map to ids per account:\n"
        "# check with `aws ec2 describe-availability-zones` in the tenant's account and list the names of those two.\n"
        if row.aws_region == "cn-north-1"
        else "# The zones the console's Fargate tasks run in (two of availability_zones).\n"
    )
    return f"{note}console_availability_zones: [{', '.join(row.availability_zones[:2])}]\n"


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# Editors with the YAML language server validate tenant files against the schema as people type; the path is
# relative to the file, so it holds for tenants/ in the repository (``python -m regiongate.config.schema``).
SCHEMA_MODELINE = "# yaml-language-server: $schema=../src/regiongate/config/schemas/tenant.schema.json"

_TEMPLATE = (
    SCHEMA_MODELINE
    + """
# regiongate single-tenant deployment {slug!r}: stack {stack} (docs/tenants.md).
# Written by `regiongate tenant add`; every default is spelled out. Review, commit, then deploy with
#   npx cdk deploy {stack} -c stacks={stack}
slug: {slug}
# {row_name} in the Single-Tenant Cloud region table (single_tenant_regions in regions.yaml).
aws_region: {aws_region}
partition: {partition}
# API keys are rk-{code}-…; models, providers and guardrails are those of regions.{code} (stack {home_stack}).
geography: {geography}
# {account_origin}
account: "{account}"
availability_zones: [{azs}]
# Where prompts may be processed: the home region only; adding a region of the geography is an explicit opt-in.
inference_regions: [{inference}]
{models}api_domain: {api_domain}
# PLACEHOLDER: request an ACM certificate in {aws_region} of account {account} for api_domain (and console_domain
# when the console is served), then put its ARN here.
certificate_arn: {certificate_arn}
# The names on that certificate: the console needs console_certificate_arn when console_domain is not one of them.
certificate_names: [{certificate_names}]
# {console_note}
console: {console}
console_domain: {console_domain}
{console_zones}# console_certificate_arn: defaults to certificate_arn; set it if the console has a certificate of its own.
# hosted_zone: none; set a Route 53 public hosted zone (the DNS root of both domains) to get alias records.
{database_tls}# How the gateway runs: lambda (whole answers) or container (ECS Fargate behind the same ALB: answers
# stream as they are generated; image regiongate/gateway from images.lock.yaml, mirrored by `regiongate mirror`).
gateway:
  # {runtime_note}
  runtime: {runtime}
  # The longest generation allowed, in seconds (at most {max_generation_limit} with this runtime).
  max_generation_seconds: {max_generation}
# alarms: none; to tell someone when the stack's alarms fire (its own SNS topic, encrypted with its key):
# alarms:
#   email: [oncall@example.com]
# defaults.sizing of regions.yaml at the time the tenant was added.
sizing:
{sizing}
"""
)


# --- which stacks the app builds ----------------------------------------------------------------------------

SELECTION_CONTEXT = "stacks"


def selected_stacks(context: Mapping[str, Any] | None) -> list[str] | None:
    """The stack names of ``-c stacks=Eu,Tenant-acme`` (``None``: every stack)."""
    value = (context or {}).get(SELECTION_CONTEXT)
    if value is None:
        return None
    names = value if isinstance(value, (list, tuple)) else str(value).split(",")
    names = [str(name).strip() for name in names if str(name).strip()]
    return names or None


def deployments(catalogue: Catalogue, directory: Path, selected: Iterable[str] | None = None) -> list[RegionConfig]:
    """The configurations of the stacks to build: the regions, then the tenants, or only those selected.

    With a selection, only the selected tenants' files are read and validated, so building one tenant stack
    costs the same with five tenant files or five hundred.
    """
    directory = Path(directory)
    if selected is None:
        return [*catalogue.regions, *(tenant.region for tenant in load_tenants(directory, catalogue))]
    selected = list(dict.fromkeys(selected))
    regions = {region.stack_name: region for region in catalogue.regions}
    slugs = []
    for name in selected:
        if name in regions:
            continue
        slug = slug_of_stack(name)
        if slug is None or not tenant_path(directory, slug).is_file():
            known = [*regions, *(stack_name(s) for s in tenant_slugs(directory))]
            raise ConfigError(
                f"-c {SELECTION_CONTEXT}",
                name,
                f"no such stack; known: {', '.join(known)} (regions from {catalogue.path.name}, tenants from {directory})",
            )
        slugs.append(slug)
    tenants = {stack_name(t.slug): t.region for t in load_tenants(directory, catalogue, only=slugs)}
    return [regions[name] if name in regions else tenants[name] for name in selected]
