"""The region catalogue: ``regions.yaml`` read once into frozen, typed values.

Every mistake is a :class:`ConfigError` that names the file, the key path and what would be valid,
raised before any construct is created, so ``cdk synth`` fails with a sentence a person can act on.
The parser is strict: unknown keys are refused, because a misspelt ``multi_az`` silently ignored is a
single-AZ production database.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from regiongate.config import alarms, certificates, console_oidc, database_tls, processing_areas
from regiongate.config.alarms import Alarms
from regiongate.config.console_oidc import ConsoleOidc
from regiongate.config.database_tls import DatabaseTls
from regiongate.config.gateway import GatewayConfig, parse_gateway
from regiongate.config.processing_areas import ProcessingArea
from regiongate.config.reader import Choice, Flag, Rule, Text, TextList, WholeNumber, describe, key_path

# Re-exported: callers catch regions.ConfigError, and tenants read with the same reader and loader.
from regiongate.config.reader import ConfigError as ConfigError
from regiongate.config.reader import Reader as Reader
from regiongate.config.reader import read_yaml_file as read_yaml_file

# The operator's project (regions.yaml, tenants/, images.lock.yaml, cdk.json) is the directory the CDK app and
# every regiongate command run in, never the installed package: a non-editable install works the same.
PROJECT_DIR = Path(os.environ.get("REGIONGATE_PROJECT_DIR") or ".")
DEFAULT_CONFIG_PATH = PROJECT_DIR / "regions.yaml"

OFFERINGS = ("shared_cloud", "single_tenant", "private_deployment")
PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
GEOGRAPHIES = ("EU", "US", "APAC", "CN")
LAMBDA_ARCHITECTURES = ("arm64", "x86_64")
# The CPU architecture of the ECS Fargate tasks (container gateway, console); the image in images.lock.yaml must
# hold its platform (linux/amd64, linux/arm64).
CONTAINER_ARCHITECTURES = ("x86_64", "arm64")
# The vCPUs of one container gateway task (gateway.runtime: container): its CPU is 1024 units and its memory
# 2 GiB per vCPU (each a valid Fargate combination), and it runs one server process per vCPU.
GATEWAY_TASK_VCPUS = (1, 2, 4)
# The values CloudWatch Logs accepts for RetentionInDays.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

# AWS regions of each geography where customer content may be processed. EU deliberately excludes
# eu-west-2 (London) and eu-central-2 (Zurich): both are outside the European Union.
GEOGRAPHY_REGIONS: Mapping[str, tuple[str, ...]] = {
    "EU": ("eu-central-1", "eu-west-1", "eu-west-3", "eu-north-1", "eu-south-1", "eu-south-2"),
    "US": ("us-east-1", "us-east-2", "us-west-1", "us-west-2"),
    "APAC": (
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-south-1",
        "ap-south-2",
        "ap-east-1",
    ),
    "CN": ("cn-north-1", "cn-northwest-1"),
}

# Availability-zone letters per region we ship for. Other regions are checked by shape only.
KNOWN_AZ_LETTERS: Mapping[str, str] = {
    "eu-central-1": "abc",
    "eu-west-1": "abc",
    "eu-west-3": "abc",
    "eu-north-1": "abc",
    "us-east-1": "abcdef",
    "us-east-2": "abc",
    "us-west-2": "abcd",
    "ap-southeast-1": "abc",
    "ap-southeast-2": "abc",
    "cn-north-1": "abd",
    "cn-northwest-1": "abc",
}

REGION_RE = re.compile(r"^(?:[a-z]{2}(?:-gov)?)-[a-z]+-\d$")
ACCOUNT_RE = re.compile(r"^\d{12}$")
CODE_RE = re.compile(r"^[a-z]{2,8}$")
STACK_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")
CERT_ARN_RE = re.compile(
    r"^arn:(?P<partition>[a-z-]+):acm:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):certificate/[A-Za-z0-9-]+$"
)
DB_CLASS_RE = re.compile(r"^db\.[a-z0-9]+\.[a-z0-9]+$")
VPC_CIDR_RE = re.compile(r"^\d{1,3}\.\d{1,3}\.0\.0/16$")

# The rules of single values, shared by regions.yaml, the single-tenant table and tenant files (and the
# JSON Schemas built from them by regiongate.config.schema).
STACK_NAME = Text(STACK_NAME_RE, "a CloudFormation stack name")
AWS_REGION = Text(REGION_RE, "an AWS region such as eu-central-1")
PARTITION = Choice(PARTITIONS, "an AWS partition (derived from aws_region; optional)")
ACCOUNT = Text(ACCOUNT_RE, "a 12-digit AWS account id")
ZONES = TextList()
GEOGRAPHY = Choice(GEOGRAPHIES, "a geography")
INFERENCE_REGIONS = TextList(AWS_REGION)
DOMAIN = Text(DOMAIN_RE, "a lower-case DNS name")
CERTIFICATE_ARN = Text(CERT_ARN_RE, "an ACM certificate ARN in the stack's own partition and region")
OFFERING_LIST = TextList(Choice(OFFERINGS, "an offering"))
CONSOLE = Flag()


def partition_of(aws_region: str) -> str:
    """The AWS partition an AWS region belongs to."""
    if aws_region.startswith("cn-"):
        return "aws-cn"
    if aws_region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


@dataclass(frozen=True)
class Sizing:
    db_instance_class: str = "db.t4g.medium"
    db_multi_az: bool = True
    db_allocated_storage_gb: int = 50
    db_backup_retention_days: int = 14
    lambda_memory_mb: int = 1024
    lambda_architecture: str = "arm64"
    # x86_64 by default: an image built for linux/amd64 only (a common CI default) keeps running; arm64 (Graviton)
    # costs about 20 % less per vCPU-hour on Fargate and needs an image whose lock entry lists linux/arm64.
    container_architecture: str = "x86_64"
    # One server process per vCPU (docs/gateway.md, "Task size"): 1 is 1024 CPU units / 2048 MiB.
    gateway_task_vcpus: int = 1
    reserved_concurrency: int = 100
    log_retention_days: int = 365
    nat_gateways: int = 2
    vpc_cidr: str = "10.0.0.0/16"
    # Interface endpoints for the AWS APIs the stack calls (regiongate.network.endpoints); off only for development.
    vpc_endpoints: bool = True


@dataclass(frozen=True)
class RegionConfig:
    """One deployable region: everything its stack needs, already validated."""

    code: str
    stack_name: str
    aws_region: str
    partition: str
    account: str
    availability_zones: tuple[str, ...]
    geography: str
    inference_regions: tuple[str, ...]
    api_domain: str
    certificate_arn: str
    console_domain: str | None
    offerings: tuple[str, ...]
    sizing: Sizing
    # Serve the regional console on ECS (always on for aws-cn, where it must run in country).
    console: bool = False
    # The console ALB's certificate (defaults to certificate_arn, e.g. one certificate naming both domains).
    console_certificate_arn: str = ""
    # Zones the console's Fargate tasks run in (in cn-north-1 Fargate runs only in AZ ids cnn1-az1/cnn1-az2:
    # list the zone *names* those ids map to in your account; README explains how to look them up).
    console_availability_zones: tuple[str, ...] = ()
    # Optional Route 53 public hosted zone (the DNS root) with alias records for the API and console domains.
    hosted_zone: str | None = None
    # Names resources (KMS alias, secret names, DB identifier) so deployments sharing an account never collide:
    # the region code for region stacks, ``tenant-<slug>`` for single-tenant regiongate.infra.
    deployment_id: str = ""
    # The provider/model/guardrail part, parsed by regiongate.config.gateway (None until configured).
    gateway: GatewayConfig | None = None
    # How database clients verify the audit store (regiongate.config.database_tls): the shipped commercial bundle,
    # a named and pinned bundle, or an acknowledged unverified connection.
    database_tls: DatabaseTls = field(default_factory=DatabaseTls)
    # The DNS names certificate_arn covers (regiongate.config.certificates; default: the API domain).
    certificate_names: tuple[str, ...] = ()
    # Who is told when the stack's alarms fire (regiongate.config.alarms; default: nobody but the console).
    alarms: Alarms = field(default_factory=Alarms)
    # The regions the gateway may call model providers in (default: the home region). A region's catalogue sets
    # it from its Bedrock providers; a single-tenant deployment calls its own region only.
    provider_regions: tuple[str, ...] = ()
    # Named areas wider than inference_regions that a model may opt into (regiongate.config.processing_areas).
    processing_areas: Mapping[str, ProcessingArea] = field(default_factory=dict)
    # The console's single sign-on (regiongate.config.console_oidc; None: password sign-in only).
    console_oidc: ConsoleOidc | None = None

    def __post_init__(self) -> None:
        if not self.deployment_id:
            object.__setattr__(self, "deployment_id", self.code)
        if not self.console_certificate_arn:
            object.__setattr__(self, "console_certificate_arn", self.certificate_arn)
        if not self.console_availability_zones:
            object.__setattr__(self, "console_availability_zones", tuple(self.availability_zones[:2]))
        if not self.certificate_names:
            object.__setattr__(self, "certificate_names", (self.api_domain,))
        if not self.provider_regions:
            object.__setattr__(self, "provider_regions", (self.aws_region,))

    @property
    def display_name(self) -> str:
        """How the product names the region in messages: the upper-case code (``EU``)."""
        return self.code.upper()

    @property
    def key_prefix(self) -> str:
        return f"rk-{self.code}-"


@dataclass(frozen=True)
class SingleTenantRegion:
    """One row of the product's Single-Tenant Cloud region table (``single_tenant_regions`` in regions.yaml)."""

    name: str
    aws_region: str
    geography: str
    availability_zones: tuple[str, ...]

    @property
    def partition(self) -> str:
        return partition_of(self.aws_region)


@dataclass(frozen=True)
class Catalogue:
    path: Path
    regions: tuple[RegionConfig, ...] = field(default_factory=tuple)
    # The sizing every region starts from (``defaults.sizing``); tenants start from it too.
    default_sizing: Sizing = field(default_factory=Sizing)
    # Where a single-tenant deployment may be provisioned, in table order (empty: none offered).
    single_tenant_regions: tuple[SingleTenantRegion, ...] = field(default_factory=tuple)

    def single_tenant_region(self, aws_region: str) -> SingleTenantRegion | None:
        for row in self.single_tenant_regions:
            if row.aws_region == aws_region:
                return row
        return None

    def region(self, code: str) -> RegionConfig:
        for region in self.regions:
            if region.code == code:
                return region
        known = ", ".join(r.code for r in self.regions)
        raise ConfigError(self.path, f"regions.{code}", f"no such region; known regions: {known}")

    def by_stack_name(self, stack_name: str) -> RegionConfig:
        for region in self.regions:
            if region.stack_name == stack_name:
                return region
        known = ", ".join(r.stack_name for r in self.regions)
        raise ConfigError(self.path, "stack_name", f"no stack named {stack_name!r}; known: {known}")


# --- parsing ---------------------------------------------------------------------------------------------------

# Each key of ``sizing`` (regions' ``defaults.sizing`` and ``regions.<code>.sizing``, a tenant's ``sizing``) with
# its rule, in the order of the Sizing fields (the order "valid keys here" lists them).
SIZING_RULES: Mapping[str, Rule] = {
    "db_instance_class": Text(DB_CLASS_RE, "an RDS instance class such as db.t4g.medium"),
    "db_multi_az": Flag(),
    "db_allocated_storage_gb": WholeNumber(20, 65536),
    "db_backup_retention_days": WholeNumber(1, 35),
    "lambda_memory_mb": WholeNumber(128, 10240),
    "lambda_architecture": Choice(LAMBDA_ARCHITECTURES, "a Lambda architecture"),
    "container_architecture": Choice(CONTAINER_ARCHITECTURES, "an ECS Fargate CPU architecture"),
    "gateway_task_vcpus": Choice(GATEWAY_TASK_VCPUS, "the vCPUs of a container gateway task"),
    "reserved_concurrency": WholeNumber(1, 10000),
    "log_retention_days": Choice(LOG_RETENTION_DAYS, "a CloudWatch Logs retention"),
    "nat_gateways": WholeNumber(1, 6),
    "vpc_cidr": Text(VPC_CIDR_RE, "a /16 IPv4 CIDR such as 10.0.0.0/16"),
    "vpc_endpoints": Flag(),
}
SIZING_KEYS = tuple(SIZING_RULES)

CATALOGUE_KEYS = ("defaults", "regions", "single_tenant_regions")
DEFAULTS_KEYS = ("sizing",)
# Every key of a ``regions.<code>`` entry with the rule of its value; ``sizing`` and ``gateway`` are mappings
# of their own (SIZING_RULES, regiongate.config.gateway).
REGION_RULES: Mapping[str, Rule | None] = {
    "stack_name": STACK_NAME,
    "aws_region": AWS_REGION,
    "partition": PARTITION,
    "account": ACCOUNT,
    "availability_zones": ZONES,
    "geography": GEOGRAPHY,
    "inference_regions": INFERENCE_REGIONS,
    "api_domain": DOMAIN,
    "certificate_arn": CERTIFICATE_ARN,
    "console_domain": DOMAIN,
    "offerings": OFFERING_LIST,
    "sizing": None,
    "console": CONSOLE,
    "console_certificate_arn": CERTIFICATE_ARN,
    "console_availability_zones": ZONES,
    "hosted_zone": DOMAIN,
    "gateway": None,
    alarms.KEY: None,  # a mapping of its own (regiongate.config.alarms)
    console_oidc.KEY: None,  # a mapping of its own (regiongate.config.console_oidc)
    processing_areas.KEY: None,  # a mapping of its own (regiongate.config.processing_areas)
    **database_tls.RULES,
    **certificates.RULES,
}
REGION_KEYS = tuple(REGION_RULES)
REQUIRED_REGION_KEYS = (
    "stack_name",
    "aws_region",
    "account",
    "availability_zones",
    "geography",
    "inference_regions",
    "api_domain",
    "certificate_arn",
    "offerings",
)
SINGLE_TENANT_RULES: Mapping[str, Rule] = {
    "name": Text(),
    "aws_region": AWS_REGION,
    "geography": GEOGRAPHY,
    "availability_zones": ZONES,
}
SINGLE_TENANT_KEYS = tuple(SINGLE_TENANT_RULES)


def parse_sizing(reader: Reader, raw: Any, key: str, base: Sizing) -> Sizing:
    """``base`` with the keys given in ``raw`` replaced (``None``: ``base`` as it is)."""
    if raw is None:
        return base
    raw = reader.mapping(raw, key, SIZING_KEYS)
    changes: dict[str, Any] = {
        name: SIZING_RULES[name].parse(reader, value, key_path(key, name)) for name, value in raw.items()
    }
    return replace(base, **changes)


def _account_override(code: str, context: Mapping[str, Any]) -> str | None:
    """An account given with ``-c account.<code>=…`` or ``REGIONGATE_ACCOUNT_<CODE>`` wins over the file."""
    from_context = context.get(f"account.{code}")
    if from_context:
        return str(from_context)
    return os.environ.get(f"REGIONGATE_ACCOUNT_{code.upper()}") or None


def check_partition(reader: Reader, raw: Mapping[str, Any], key: str, aws_region: str) -> str:
    """The partition of ``aws_region``; an optional ``partition`` key in ``raw`` must agree with it."""
    partition = partition_of(aws_region)
    if "partition" in raw and raw["partition"] != partition:
        raise reader.fail(
            key_path(key, "partition"),
            f"{raw['partition']!r} does not match aws_region {aws_region}, which is in partition {partition!r}; "
            "remove the key or set it to that",
        )
    return partition


def parse_availability_zones(reader: Reader, value: Any, key: str, aws_region: str) -> tuple[str, ...]:
    """At least two distinct zones of ``aws_region`` (shared by regions, the single-tenant table and tenants)."""
    azs = ZONES.parse(reader, value, key)
    letters = KNOWN_AZ_LETTERS.get(aws_region, "abcdefghijklmnopqrstuvwxyz")
    valid_azs = [aws_region + letter for letter in letters]
    for i, az in enumerate(azs):
        if az not in valid_azs:
            raise reader.fail(
                f"{key}[{i}]",
                f"{az!r} is not an availability zone of {aws_region}; valid: {', '.join(valid_azs)}",
            )
    if len(set(azs)) != len(azs):
        raise reader.fail(key, "lists the same zone twice")
    if len(azs) < 2:
        raise reader.fail(key, "needs at least two zones (the ALB and Multi-AZ RDS require it)")
    return azs


def check_geography(reader: Reader, value: Any, key: str, aws_region: str) -> str:
    """A geography that contains ``aws_region``."""
    geography: str = GEOGRAPHY.parse(reader, value, key)
    if aws_region not in GEOGRAPHY_REGIONS[geography]:
        raise reader.fail(
            key,
            f"{aws_region} is not in geography {geography} ({', '.join(GEOGRAPHY_REGIONS[geography])}); "
            "pick the geography of the region",
        )
    return geography


def parse_inference_regions(reader: Reader, value: Any, key: str, aws_region: str, geography: str) -> tuple[str, ...]:
    """Where prompts may be processed: regions of the stack's partition and geography, the home region included."""
    partition = partition_of(aws_region)
    allowed = GEOGRAPHY_REGIONS[geography]
    inference = reader.string_list(value, key)
    for i, region in enumerate(inference):
        if partition_of(region) != partition:
            raise reader.fail(
                f"{key}[{i}]",
                f"{region!r} is in partition {partition_of(region)}, not {partition}; inference must stay in the stack's partition",
            )
        if region not in allowed:
            raise reader.fail(
                f"{key}[{i}]", f"{region!r} is outside geography {geography}; valid: {', '.join(allowed)}"
            )
    if aws_region not in inference:
        raise reader.fail(key, f"must include the home region {aws_region}")
    return inference


def parse_certificate_arn(reader: Reader, value: Any, key: str, partition: str, aws_region: str) -> str:
    """An ACM certificate ARN of the stack's own partition and region (an ALB can use no other)."""
    cert = reader.string(value, key)
    match = CERT_ARN_RE.match(cert)
    if not match:
        raise reader.fail(
            key,
            f"{cert!r} is not an ACM certificate ARN; expected arn:{partition}:acm:{aws_region}:<account>:certificate/<id>",
        )
    if match["partition"] != partition or match["region"] != aws_region:
        raise reader.fail(
            key,
            f"the certificate is in {match['partition']}/{match['region']} but the stack is in {partition}/{aws_region}; "
            f"an ALB can only use a certificate from its own region: expected arn:{partition}:acm:{aws_region}:…",
        )
    return cert


def certificate_account(certificate_arn: str) -> str:
    """The account that owns a certificate :func:`parse_certificate_arn` accepted."""
    match = CERT_ARN_RE.match(certificate_arn)
    if match is None:
        raise ValueError(f"{certificate_arn!r} is not an ACM certificate ARN")
    return match["account"]


def parse_console_zones(reader: Reader, value: Any, key: str, azs: tuple[str, ...]) -> tuple[str, ...]:
    """Two or more of the deployment's zones for the console's tasks (default: the first two)."""
    if value is None:
        return azs[:2]
    zones = ZONES.parse(reader, value, key)
    for i, zone in enumerate(zones):
        if zone not in azs:
            raise reader.fail(
                f"{key}[{i}]", f"{zone!r} is not one of the region's availability_zones ({', '.join(azs)})"
            )
    if len(set(zones)) < 2:
        raise reader.fail(key, "needs two different zones: the console runs at least two tasks in two zones")
    return zones


def parse_hosted_zone(reader: Reader, value: Any, key: str, domains: tuple[str | None, ...]) -> str | None:
    """An optional Route 53 zone that is the DNS root of every one of ``domains``."""
    if value is None:
        return None
    zone = DOMAIN.parse(reader, value, key)
    for domain in domains:
        if domain is not None and not domain.endswith("." + zone):
            raise reader.fail(
                key, f"{domain} is not inside {zone}; the zone must be the DNS root of the region's domains"
            )
    return zone


def parse_region(
    reader: Reader,
    raw: Mapping[str, Any],
    key: str,
    *,
    code: str,
    stack_name: str,
    aws_region: str,
    geography: str,
    account: str,
    offerings: tuple[str, ...],
    base_sizing: Sizing,
    deployment_id: str = "",
) -> RegionConfig:
    """A deployment's :class:`RegionConfig` (without a gateway) from the keys regions.yaml entries and tenant
    files share: zones, inference regions, domains, certificates, sizing and the console.

    ``raw`` is already checked for unknown and missing keys, and the identity (code, stack, AWS region,
    geography, account, offerings) is validated by the caller its own way: a region entry against the
    geography table, a tenant file against the single-tenant table. ``key`` is the path of ``raw`` in its file
    (``regions.eu``; empty for a tenant file, whose keys are top-level).
    """
    partition = partition_of(aws_region)
    azs = parse_availability_zones(reader, raw["availability_zones"], key_path(key, "availability_zones"), aws_region)
    inference = parse_inference_regions(
        reader, raw["inference_regions"], key_path(key, "inference_regions"), aws_region, geography
    )
    api_domain = DOMAIN.parse(reader, raw["api_domain"], key_path(key, "api_domain"))
    console_domain = None
    if raw.get("console_domain") is not None:
        console_domain = DOMAIN.parse(reader, raw["console_domain"], key_path(key, "console_domain"))
    cert = parse_certificate_arn(
        reader, raw["certificate_arn"], key_path(key, "certificate_arn"), partition, aws_region
    )
    sizing = parse_sizing(reader, raw.get("sizing"), key_path(key, "sizing"), base_sizing)

    console = partition == "aws-cn"
    if raw.get("console") is not None:
        console = CONSOLE.parse(reader, raw["console"], key_path(key, "console"))
        if partition == "aws-cn" and not console:
            raise reader.fail(
                key_path(key, "console"),
                "a China stack always serves its console in country; remove the key or set it to true",
            )
    if console and console_domain is None:
        raise reader.fail(
            key_path(key, "console_domain"), "is required when the console is served (console: true or China)"
        )
    console_cert = cert
    if raw.get("console_certificate_arn") is not None:
        console_cert = parse_certificate_arn(
            reader, raw["console_certificate_arn"], key_path(key, "console_certificate_arn"), partition, aws_region
        )
    console_zones = parse_console_zones(
        reader, raw.get("console_availability_zones"), key_path(key, "console_availability_zones"), azs
    )
    hosted_zone = parse_hosted_zone(
        reader, raw.get("hosted_zone"), key_path(key, "hosted_zone"), (api_domain, console_domain)
    )
    tls = database_tls.parse_database_tls(reader, raw, key, aws_region=aws_region, partition=partition)
    alarm_config = alarms.parse_alarms(reader, raw, key)
    sso = console_oidc.parse_console_oidc(
        reader, raw, key, console=console, partition=partition, aws_region=aws_region, account=account
    )
    certificate_names = certificates.parse_certificate_names(
        reader,
        raw,
        key,
        api_domain=api_domain,
        console_domain=console_domain,
        console=console,
        own_console_certificate=raw.get("console_certificate_arn") is not None,
    )
    return RegionConfig(
        code=code,
        stack_name=stack_name,
        aws_region=aws_region,
        partition=partition,
        account=account,
        availability_zones=azs,
        geography=geography,
        inference_regions=inference,
        api_domain=api_domain,
        certificate_arn=cert,
        console_domain=console_domain,
        offerings=offerings,
        sizing=sizing,
        console=console,
        console_certificate_arn=console_cert,
        console_availability_zones=console_zones,
        hosted_zone=hosted_zone,
        deployment_id=deployment_id,
        database_tls=tls,
        certificate_names=certificate_names,
        alarms=alarm_config,
        console_oidc=sso,
    )


def _parse_catalogue_region(
    reader: Reader, code: Any, raw: Any, defaults: Sizing, context: Mapping[str, Any]
) -> RegionConfig:
    key = f"regions.{code}"
    if not isinstance(code, str) or not CODE_RE.match(code):
        raise reader.fail(key, "a region code must be 2 to 8 lower-case letters (it becomes the key prefix rk-<code>-)")
    raw = reader.mapping(raw, key, REGION_KEYS, REQUIRED_REGION_KEYS)

    stack_name = STACK_NAME.parse(reader, raw["stack_name"], f"{key}.stack_name")
    aws_region = AWS_REGION.parse(reader, raw["aws_region"], f"{key}.aws_region")
    partition = check_partition(reader, raw, key, aws_region)
    account = ACCOUNT.parse(reader, str(_account_override(code, context) or raw["account"]), f"{key}.account")
    geography = check_geography(reader, raw["geography"], f"{key}.geography", aws_region)
    offerings = OFFERING_LIST.parse(reader, raw["offerings"], f"{key}.offerings")
    if partition == "aws-cn" and set(offerings) != {"single_tenant"}:
        raise reader.fail(
            f"{key}.offerings",
            "China regions are offered to customers as single_tenant only (the platform runs its own production stack there)",
        )
    region = parse_region(
        reader,
        raw,
        key,
        code=code,
        stack_name=stack_name,
        aws_region=aws_region,
        geography=geography,
        account=account,
        offerings=offerings,
        base_sizing=defaults,
    )
    areas = processing_areas.parse_processing_areas(
        reader,
        raw.get(processing_areas.KEY),
        key,
        partition=partition,
        inference_regions=region.inference_regions,
    )
    gateway = parse_gateway(
        reader, raw.get("gateway"), f"{key}.gateway", region, areas, f"{key}.{processing_areas.KEY}"
    )
    called = {p.aws_region for p in (gateway.providers if gateway else ()) if p.type == "bedrock" and p.aws_region}
    return replace(
        region,
        gateway=gateway,
        provider_regions=(aws_region, *sorted(called - {aws_region})),
        processing_areas=areas,
    )


def parse_catalogue(
    data: Any, path: Path | str = DEFAULT_CONFIG_PATH, context: Mapping[str, Any] | None = None
) -> Catalogue:
    """Validate already-parsed YAML. ``context`` holds CDK context values (``account.<code>``)."""
    path = Path(path)
    reader = Reader(path)
    context = context or {}
    data = reader.mapping(data if data is not None else {}, "", CATALOGUE_KEYS, ("regions",))
    defaults = Sizing()
    if data.get("defaults") is not None:
        raw_defaults = reader.mapping(data["defaults"], "defaults", DEFAULTS_KEYS)
        defaults = parse_sizing(reader, raw_defaults.get("sizing"), "defaults.sizing", defaults)
    raw_regions = reader.mapping(
        data["regions"], "regions", tuple(data["regions"] or ()) if isinstance(data["regions"], dict) else ()
    )
    if not raw_regions:
        raise reader.fail("regions", "must list at least one region")

    regions = [_parse_catalogue_region(reader, code, raw, defaults, context) for code, raw in raw_regions.items()]
    seen_stacks: dict[str, str] = {}
    for region in regions:
        if region.stack_name in seen_stacks:
            raise reader.fail(
                f"regions.{region.code}.stack_name",
                f"stack name {region.stack_name!r} is already used by regions.{seen_stacks[region.stack_name]}; stack names must be unique",
            )
        seen_stacks[region.stack_name] = region.code
    single_tenant = _parse_single_tenant_regions(reader, data.get("single_tenant_regions"))
    return Catalogue(path=path, regions=tuple(regions), default_sizing=defaults, single_tenant_regions=single_tenant)


def _parse_single_tenant_regions(reader: Reader, raw: Any) -> tuple[SingleTenantRegion, ...]:
    """The product's Single-Tenant Cloud region table: where `regiongate tenant add` may provision."""
    if raw is None:
        return ()
    key = "single_tenant_regions"
    if not isinstance(raw, list):
        raise reader.fail(
            key, f"must be a list of regions (name, aws_region, geography, availability_zones), got {describe(raw)}"
        )
    rows: list[SingleTenantRegion] = []
    for i, item in enumerate(raw):
        k = f"{key}[{i}]"
        item = reader.mapping(item, k, SINGLE_TENANT_KEYS, SINGLE_TENANT_KEYS)
        name = reader.string(item["name"], f"{k}.name")
        aws_region = AWS_REGION.parse(reader, item["aws_region"], f"{k}.aws_region")
        geography = check_geography(reader, item["geography"], f"{k}.geography", aws_region)
        azs = parse_availability_zones(reader, item["availability_zones"], f"{k}.availability_zones", aws_region)
        if any(row.aws_region == aws_region for row in rows):
            raise reader.fail(f"{k}.aws_region", f"{aws_region} is listed twice; list each AWS region once")
        rows.append(SingleTenantRegion(name=name, aws_region=aws_region, geography=geography, availability_zones=azs))
    return tuple(rows)


def load_catalogue(path: Path | str = DEFAULT_CONFIG_PATH, context: Mapping[str, Any] | None = None) -> Catalogue:
    path = Path(path)
    data = read_yaml_file(path, "run from the repository root or pass the path")
    return parse_catalogue(data, path, context)
