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

import yaml

# The operator's project (regions.yaml, tenants/, images.lock.yaml, cdk.json) is the directory the CDK app and
# every regiongate command run in, never the installed package: a non-editable install works the same.
PROJECT_DIR = Path(os.environ.get("REGIONGATE_PROJECT_DIR") or ".")
DEFAULT_CONFIG_PATH = PROJECT_DIR / "regions.yaml"

OFFERINGS = ("shared_cloud", "single_tenant", "private_deployment")
GEOGRAPHIES = ("EU", "US", "APAC", "CN")
LAMBDA_ARCHITECTURES = ("arm64", "x86_64")
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

_REGION_RE = re.compile(r"^(?:[a-z]{2}(?:-gov)?)-[a-z]+-\d$")
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_CODE_RE = re.compile(r"^[a-z]{2,8}$")
_STACK_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")
_CERT_ARN_RE = re.compile(
    r"^arn:(?P<partition>[a-z-]+):acm:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):certificate/[A-Za-z0-9-]+$"
)
_DB_CLASS_RE = re.compile(r"^db\.[a-z0-9]+\.[a-z0-9]+$")


class ConfigError(ValueError):
    """A mistake in regions.yaml: the message names the file, the key and the fix."""

    def __init__(self, path: Path | str, key: str, problem: str) -> None:
        self.path = str(path)
        self.key = key
        self.problem = problem
        super().__init__(f"{path}: {key}: {problem}")


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
    reserved_concurrency: int = 100
    log_retention_days: int = 365
    nat_gateways: int = 2
    vpc_cidr: str = "10.0.0.0/16"


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
    gateway: Any = None

    def __post_init__(self) -> None:
        if not self.deployment_id:
            object.__setattr__(self, "deployment_id", self.code)
        if not self.console_certificate_arn:
            object.__setattr__(self, "console_certificate_arn", self.certificate_arn)
        if not self.console_availability_zones:
            object.__setattr__(self, "console_availability_zones", tuple(self.availability_zones[:2]))

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


class _Reader:
    """Walks the parsed YAML, remembering the key path for error messages."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(self.path, key, problem)

    def mapping(self, value: Any, key: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict:
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a mapping, got {_describe(value)}")
        for name in value:
            if name not in allowed:
                raise self.fail(
                    f"{key}.{name}" if key else str(name),
                    f"unknown key; valid keys here: {', '.join(allowed)}",
                )
        for name in required:
            if name not in value or value[name] is None:
                raise self.fail(f"{key}.{name}" if key else name, "is required")
        return value

    def string(self, value: Any, key: str, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"must be a non-empty string, got {_describe(value)}")
        if pattern is not None and not pattern.match(value):
            raise self.fail(key, f"{value!r} is not {what}")
        return value

    def integer(self, value: Any, key: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be a whole number from {low} to {high}, got {_describe(value)}")
        if not low <= value <= high:
            raise self.fail(key, f"{value} is out of range; valid: {low} to {high}")
        return value

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {_describe(value)}")
        return value

    def string_list(self, value: Any, key: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(key, f"must be a non-empty list, got {_describe(value)}")
        return tuple(self.string(item, f"{key}[{i}]") for i, item in enumerate(value))


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"


_SIZING_KEYS = tuple(Sizing.__dataclass_fields__)
_REGION_KEYS = (
    "stack_name",
    "aws_region",
    "partition",
    "account",
    "availability_zones",
    "geography",
    "inference_regions",
    "api_domain",
    "certificate_arn",
    "console_domain",
    "offerings",
    "sizing",
    "console",
    "console_certificate_arn",
    "console_availability_zones",
    "hosted_zone",
    "gateway",
)
_REQUIRED_REGION_KEYS = (
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


def _parse_sizing(reader: _Reader, raw: Any, key: str, base: Sizing) -> Sizing:
    if raw is None:
        return base
    raw = reader.mapping(raw, key, _SIZING_KEYS)
    values = dict(base.__dict__)
    for name, value in raw.items():
        k = f"{key}.{name}"
        if name == "db_instance_class":
            values[name] = reader.string(value, k, _DB_CLASS_RE, "an RDS instance class such as db.t4g.medium")
        elif name == "db_multi_az":
            values[name] = reader.boolean(value, k)
        elif name == "db_allocated_storage_gb":
            values[name] = reader.integer(value, k, 20, 65536)
        elif name == "db_backup_retention_days":
            values[name] = reader.integer(value, k, 1, 35)
        elif name == "lambda_memory_mb":
            values[name] = reader.integer(value, k, 128, 10240)
        elif name == "lambda_architecture":
            values[name] = reader.string(value, k)
            if value not in LAMBDA_ARCHITECTURES:
                raise reader.fail(k, f"{value!r} is not valid; valid: {', '.join(LAMBDA_ARCHITECTURES)}")
        elif name == "reserved_concurrency":
            values[name] = reader.integer(value, k, 1, 10000)
        elif name == "log_retention_days":
            if value not in LOG_RETENTION_DAYS or isinstance(value, bool):
                raise reader.fail(
                    k, f"{value!r} is not a CloudWatch Logs retention; valid: {', '.join(map(str, LOG_RETENTION_DAYS))}"
                )
            values[name] = value
        elif name == "nat_gateways":
            values[name] = reader.integer(value, k, 1, 6)
        elif name == "vpc_cidr":
            values[name] = reader.string(
                value, k, re.compile(r"^\d{1,3}\.\d{1,3}\.0\.0/16$"), "a /16 IPv4 CIDR such as 10.0.0.0/16"
            )
    return Sizing(**values)


def _account_override(code: str, context: Mapping[str, Any]) -> str | None:
    """An account given with ``-c account.<code>=…`` or ``REGIONGATE_ACCOUNT_<CODE>`` wins over the file."""
    from_context = context.get(f"account.{code}")
    if from_context:
        return str(from_context)
    return os.environ.get(f"REGIONGATE_ACCOUNT_{code.upper()}") or None


def parse_availability_zones(reader: _Reader, value: Any, key: str, aws_region: str) -> tuple[str, ...]:
    """At least two distinct zones of ``aws_region`` (shared by regions, the single-tenant table and tenants)."""
    azs = reader.string_list(value, key)
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


def parse_certificate_arn(reader: _Reader, value: Any, key: str, partition: str, aws_region: str) -> str:
    """An ACM certificate ARN of the stack's own partition and region (an ALB can use no other)."""
    cert = reader.string(value, key)
    match = _CERT_ARN_RE.match(cert)
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


def _parse_console_zones(reader: _Reader, value: Any, key: str, azs: tuple[str, ...]) -> tuple[str, ...]:
    if value is None:
        return azs[:2]
    zones = reader.string_list(value, key)
    for i, zone in enumerate(zones):
        if zone not in azs:
            raise reader.fail(
                f"{key}[{i}]", f"{zone!r} is not one of the region's availability_zones ({', '.join(azs)})"
            )
    if len(set(zones)) < 2:
        raise reader.fail(key, "needs two different zones: the console runs at least two tasks in two zones")
    return zones


def _parse_hosted_zone(reader: _Reader, value: Any, key: str, domains: tuple[str | None, ...]) -> str | None:
    if value is None:
        return None
    zone = reader.string(value, key, _DOMAIN_RE, "a lower-case DNS name")
    for domain in domains:
        if domain is not None and not domain.endswith("." + zone):
            raise reader.fail(
                key, f"{domain} is not inside {zone}; the zone must be the DNS root of the region's domains"
            )
    return zone


def _parse_region(reader: _Reader, code: Any, raw: Any, defaults: Sizing, context: Mapping[str, Any]) -> RegionConfig:
    key = f"regions.{code}"
    if not isinstance(code, str) or not _CODE_RE.match(code):
        raise reader.fail(key, "a region code must be 2 to 8 lower-case letters (it becomes the key prefix rk-<code>-)")
    raw = reader.mapping(raw, key, _REGION_KEYS, _REQUIRED_REGION_KEYS)

    stack_name = reader.string(raw["stack_name"], f"{key}.stack_name", _STACK_NAME_RE, "a CloudFormation stack name")
    aws_region = reader.string(raw["aws_region"], f"{key}.aws_region", _REGION_RE, "an AWS region such as eu-central-1")
    partition = partition_of(aws_region)
    if "partition" in raw and raw["partition"] != partition:
        raise reader.fail(
            f"{key}.partition",
            f"{raw['partition']!r} does not match aws_region {aws_region}, which is in partition {partition!r}; "
            "remove the key or set it to that",
        )

    account = _account_override(code, context) or raw["account"]
    account = reader.string(str(account), f"{key}.account", _ACCOUNT_RE, "a 12-digit AWS account id")

    azs = parse_availability_zones(reader, raw["availability_zones"], f"{key}.availability_zones", aws_region)

    geography = reader.string(raw["geography"], f"{key}.geography")
    if geography not in GEOGRAPHIES:
        raise reader.fail(f"{key}.geography", f"{geography!r} is not a geography; valid: {', '.join(GEOGRAPHIES)}")
    allowed_inference = GEOGRAPHY_REGIONS[geography]
    if aws_region not in allowed_inference:
        raise reader.fail(
            f"{key}.geography",
            f"{aws_region} is not in geography {geography} ({', '.join(allowed_inference)}); pick the geography of the region",
        )
    inference = reader.string_list(raw["inference_regions"], f"{key}.inference_regions")
    for i, region in enumerate(inference):
        if partition_of(region) != partition:
            raise reader.fail(
                f"{key}.inference_regions[{i}]",
                f"{region!r} is in partition {partition_of(region)}, not {partition}; inference must stay in the stack's partition",
            )
        if region not in allowed_inference:
            raise reader.fail(
                f"{key}.inference_regions[{i}]",
                f"{region!r} is outside geography {geography}; valid: {', '.join(allowed_inference)}",
            )
    if aws_region not in inference:
        raise reader.fail(f"{key}.inference_regions", f"must include the home region {aws_region}")

    api_domain = reader.string(raw["api_domain"], f"{key}.api_domain", _DOMAIN_RE, "a lower-case DNS name")
    console_domain = None
    if raw.get("console_domain") is not None:
        console_domain = reader.string(
            raw["console_domain"], f"{key}.console_domain", _DOMAIN_RE, "a lower-case DNS name"
        )

    cert = parse_certificate_arn(reader, raw["certificate_arn"], f"{key}.certificate_arn", partition, aws_region)

    offerings = reader.string_list(raw["offerings"], f"{key}.offerings")
    for i, offering in enumerate(offerings):
        if offering not in OFFERINGS:
            raise reader.fail(
                f"{key}.offerings[{i}]", f"{offering!r} is not an offering; valid: {', '.join(OFFERINGS)}"
            )
    if partition == "aws-cn" and set(offerings) != {"single_tenant"}:
        raise reader.fail(
            f"{key}.offerings",
            "China regions are offered to customers as single_tenant only (the platform runs its own production stack there)",
        )

    sizing = _parse_sizing(reader, raw.get("sizing"), f"{key}.sizing", defaults)
    console = partition == "aws-cn"
    if raw.get("console") is not None:
        console = reader.boolean(raw["console"], f"{key}.console")
        if partition == "aws-cn" and not console:
            raise reader.fail(f"{key}.console", "the China stack always serves its console in country; remove the key")
    if console and console_domain is None:
        raise reader.fail(f"{key}.console_domain", "is required when the console is served (console: true or China)")
    console_cert = cert
    if raw.get("console_certificate_arn") is not None:
        console_cert = parse_certificate_arn(
            reader, raw["console_certificate_arn"], f"{key}.console_certificate_arn", partition, aws_region
        )
    console_zones = _parse_console_zones(
        reader, raw.get("console_availability_zones"), f"{key}.console_availability_zones", azs
    )
    hosted_zone = _parse_hosted_zone(reader, raw.get("hosted_zone"), f"{key}.hosted_zone", (api_domain, console_domain))

    region = RegionConfig(
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
    )
    # Imported here: gateway_config builds on RegionConfig.
    from regiongate.config import gateway as gateway_config

    return replace(region, gateway=gateway_config.parse_gateway(reader, raw.get("gateway"), f"{key}.gateway", region))


def parse_catalogue(
    data: Any, path: Path | str = DEFAULT_CONFIG_PATH, context: Mapping[str, Any] | None = None
) -> Catalogue:
    """Validate already-parsed YAML. ``context`` holds CDK context values (``account.<code>``)."""
    path = Path(path)
    reader = _Reader(path)
    context = context or {}
    data = reader.mapping(
        data if data is not None else {}, "", ("defaults", "regions", "single_tenant_regions"), ("regions",)
    )
    defaults = Sizing()
    if data.get("defaults") is not None:
        raw_defaults = reader.mapping(data["defaults"], "defaults", ("sizing",))
        defaults = _parse_sizing(reader, raw_defaults.get("sizing"), "defaults.sizing", defaults)
    raw_regions = reader.mapping(
        data["regions"], "regions", tuple(data["regions"] or ()) if isinstance(data["regions"], dict) else ()
    )
    if not raw_regions:
        raise reader.fail("regions", "must list at least one region")

    regions = [_parse_region(reader, code, raw, defaults, context) for code, raw in raw_regions.items()]
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


_SINGLE_TENANT_KEYS = ("name", "aws_region", "geography", "availability_zones")


def _parse_single_tenant_regions(reader: _Reader, raw: Any) -> tuple[SingleTenantRegion, ...]:
    """The product's Single-Tenant Cloud region table: where `regiongate tenant add` may provision."""
    if raw is None:
        return ()
    key = "single_tenant_regions"
    if not isinstance(raw, list):
        raise reader.fail(
            key, f"must be a list of regions (name, aws_region, geography, availability_zones), got {_describe(raw)}"
        )
    rows: list[SingleTenantRegion] = []
    for i, item in enumerate(raw):
        k = f"{key}[{i}]"
        item = reader.mapping(item, k, _SINGLE_TENANT_KEYS, _SINGLE_TENANT_KEYS)
        name = reader.string(item["name"], f"{k}.name")
        aws_region = reader.string(item["aws_region"], f"{k}.aws_region", _REGION_RE, "an AWS region such as eu-west-1")
        geography = reader.string(item["geography"], f"{k}.geography")
        if geography not in GEOGRAPHIES:
            raise reader.fail(f"{k}.geography", f"{geography!r} is not a geography; valid: {', '.join(GEOGRAPHIES)}")
        if aws_region not in GEOGRAPHY_REGIONS[geography]:
            raise reader.fail(
                f"{k}.geography",
                f"{aws_region} is not in geography {geography} ({', '.join(GEOGRAPHY_REGIONS[geography])}); "
                "pick the geography of the region",
            )
        azs = parse_availability_zones(reader, item["availability_zones"], f"{k}.availability_zones", aws_region)
        if any(row.aws_region == aws_region for row in rows):
            raise reader.fail(f"{k}.aws_region", f"{aws_region} is listed twice; list each AWS region once")
        rows.append(SingleTenantRegion(name=name, aws_region=aws_region, geography=geography, availability_zones=azs))
    return tuple(rows)


def read_yaml_file(path: Path, missing_hint: str) -> Any:
    """Parse a configuration file strictly (a key written twice is an error); errors name the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, "(file)", f"not found; {missing_hint}") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(path, "(syntax)", f"not valid YAML: {exc}") from None


def load_catalogue(path: Path | str = DEFAULT_CONFIG_PATH, context: Mapping[str, Any] | None = None) -> Catalogue:
    path = Path(path)
    data = read_yaml_file(path, "run from the repository root or pass the path")
    return parse_catalogue(data, path, context)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice (YAML would silently keep the last one)."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    mapping: dict = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (a region code or key may appear only once)", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)
