"""The gateway part of a region's configuration: providers, model catalogue, host allowlist, guardrails.

``regions.<code>.gateway`` is validated here, at synth time, against the region's promise: every place a
prompt can be processed must be inside the region's ``inference_regions`` (AWS) or the matching Azure
locations, and every other upstream host must be on the region's allowlist. Mistakes raise the catalogue's
``ConfigError`` naming the key and what would be valid.

The stacks rely on two functions:
- ``runtime_document(region)``: the region document every runtime reads (regiongate.contract.document);
- ``bedrock_grants(region)``: exactly the Bedrock resources the gateway may invoke, each in its own region.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol
from urllib.parse import urlsplit

from regiongate.config import bedrock_profiles
from regiongate.config.gateway_runtime import RUNTIME_KEYS, GatewayRuntime, parse_runtime
from regiongate.config.memory import MemoryConfig, parse_memory
from regiongate.config.processing_areas import ProcessingArea
from regiongate.config.reader import Reader
from regiongate.contract.document import (
    GuardrailPolicy,
    ModelEntry,
    ProcessingAreaEntry,
    ProviderEntry,
    RuntimeConfig,
)
from regiongate.contract.hosts import host_allowed
from regiongate.contract.limits import (
    DEFAULT_AUDIT_RETENTION_MONTHS,
    DEFAULT_KEY_CACHE_TTL_SECONDS,
    DEFAULT_MAX_INPUT_TOKENS,
    DEFAULT_MAX_REQUEST_BYTES,
)

PROVIDER_TYPES = ("bedrock", "azure_openai", "openai_compatible")
MODEL_KINDS = ("chat", "embedding")
GUARDRAIL_ACTIONS = ("block", "flag")
BUILTIN_DETECTORS = ("payment_card", "iban")

# Destination regions of the Bedrock cross-region (geography) inference profiles we know: data, with its source
# and date per entry, in bedrock-profiles.yaml (regiongate.config.bedrock_profiles). A profile not listed there
# is refused: AWS widens destinations over time, so add one only after checking them (`regiongate profiles check`).
PROFILE_DESTINATIONS: Mapping[str, tuple[str, ...]] = bedrock_profiles.destinations()
_GEOGRAPHY_PROFILE_PREFIXES = ("eu.", "us.", "apac.", "jp.", "au.", "ca.", "us-gov.")
_REFUSED_PROFILE_PREFIXES = ("global.",)

# Azure locations by the jurisdiction a region promises. The EU geography promises "the EU", so any Azure
# location in an EU member state is inside it; other geographies promise the countries of their
# inference_regions (Singapore means Singapore: southeastasia only).
AZURE_LOCATION_COUNTRY: Mapping[str, str] = {
    "westeurope": "NL",
    "northeurope": "IE",
    "francecentral": "FR",
    "germanywestcentral": "DE",
    "swedencentral": "SE",
    "italynorth": "IT",
    "polandcentral": "PL",
    "spaincentral": "ES",
    "uksouth": "GB",
    "switzerlandnorth": "CH",
    "norwayeast": "NO",
    "eastus": "US",
    "eastus2": "US",
    "westus": "US",
    "westus3": "US",
    "northcentralus": "US",
    "southcentralus": "US",
    "centralus": "US",
    "southeastasia": "SG",
    "japaneast": "JP",
    "australiaeast": "AU",
    "koreacentral": "KR",
    "southindia": "IN",
    "chinanorth3": "CN",
    "chinaeast2": "CN",
}
AWS_REGION_COUNTRY: Mapping[str, str] = {
    "eu-central-1": "DE",
    "eu-west-1": "IE",
    "eu-west-3": "FR",
    "eu-north-1": "SE",
    "eu-south-1": "IT",
    "eu-south-2": "ES",
    "us-east-1": "US",
    "us-east-2": "US",
    "us-west-1": "US",
    "us-west-2": "US",
    "ap-southeast-1": "SG",
    "ap-southeast-2": "AU",
    "ap-southeast-3": "ID",
    "ap-southeast-4": "AU",
    "ap-southeast-5": "MY",
    "ap-northeast-1": "JP",
    "ap-northeast-2": "KR",
    "ap-northeast-3": "JP",
    "ap-south-1": "IN",
    "ap-south-2": "IN",
    "ap-east-1": "HK",
    "cn-north-1": "CN",
    "cn-northwest-1": "CN",
}
EU_MEMBER_STATES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ]
)
# Azure deployment types. "Global*" types may process a prompt in any Azure location: always refused.
# Data zones exist for the EU and the US only.
AZURE_REGIONAL_DEPLOYMENT_TYPES = ("Standard", "ProvisionedManaged")
AZURE_DATA_ZONE_DEPLOYMENT_TYPES = ("DataZoneStandard", "DataZoneProvisionedManaged")
AZURE_DATA_ZONE_GEOGRAPHIES = ("EU", "US")
AZURE_HOST_SUFFIXES = {"aws": (".openai.azure.com", ".cognitiveservices.azure.com"), "aws-cn": (".openai.azure.cn",)}

_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
_BEDROCK_ID_RE = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+[a-zA-Z0-9.:_-]*$")
_AZURE_DEPLOYMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_API_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
_HOST_PATTERN_RE = re.compile(r"^(\*\.)?(?!-)[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63})+$")
_PRICE_MAX = Decimal("10000")


@dataclass(frozen=True)
class BedrockGrant:
    aws_region: str
    resource_type: str  # "foundation-model" or "inference-profile"
    resource_id: str

    @property
    def account_scoped(self) -> bool:
        """Foundation-model ARNs have an empty account field; inference profiles belong to the account."""
        return self.resource_type != "foundation-model"


@dataclass(frozen=True)
class Provider:
    name: str
    type: str
    aws_region: str | None = None  # bedrock
    endpoint: str | None = None  # azure_openai (https://<resource>.openai.azure.com)
    location: str | None = None  # azure_openai
    api_version: str | None = None  # azure_openai
    base_url: str | None = None  # openai_compatible


@dataclass(frozen=True)
class Model:
    name: str
    provider: str
    target: str  # Bedrock model/profile id, Azure deployment name or upstream model name
    kind: str
    input_usd_per_mtok: Decimal
    output_usd_per_mtok: Decimal
    deployment_type: str | None = None  # azure_openai only
    destinations: tuple[str, ...] = ()  # where the upstream may process the prompt
    # The id of a processing area of the region (regiongate.config.processing_areas) this model opts into: its
    # profile may then reach beyond inference_regions, inside the area. ``area`` is that area, resolved.
    processing_area: str | None = None
    area: ProcessingArea | None = None
    # Prices of prompt-cache reads and writes (USD per million tokens); None: the input price.
    cache_read_usd_per_mtok: Decimal | None = None
    cache_write_usd_per_mtok: Decimal | None = None


@dataclass(frozen=True)
class Detector:
    name: str
    kind: str  # payment_card, iban or regex
    action: str
    pattern: str | None = None


@dataclass(frozen=True)
class Guardrails:
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_input_tokens: int = DEFAULT_MAX_INPUT_TOKENS
    model_allowlist: tuple[str, ...] | None = None
    detectors: tuple[Detector, ...] = ()


@dataclass(frozen=True)
class GatewayConfig:
    providers: tuple[Provider, ...]
    models: tuple[Model, ...]
    allowed_hosts: tuple[str, ...]
    guardrails: Guardrails
    org_guardrails: Mapping[str, Guardrails] = field(default_factory=dict)
    audit_retention_months: int = DEFAULT_AUDIT_RETENTION_MONTHS
    key_cache_ttl_seconds: int = DEFAULT_KEY_CACHE_TTL_SECONDS
    # How the deployment runs the gateway (regiongate.config.gateway_runtime).
    runtime: str = GatewayRuntime.runtime
    max_generation_seconds: int = GatewayRuntime.max_generation_seconds
    # Memory-as-a-Service offered in the region (regiongate.config.memory); off by default.
    memory: MemoryConfig = field(default_factory=MemoryConfig)

    @property
    def deployment(self) -> GatewayRuntime:
        return GatewayRuntime(self.runtime, self.max_generation_seconds)

    def provider(self, name: str) -> Provider:
        return next(p for p in self.providers if p.name == name)


class GatewayRegion(Protocol):
    """The parts of a region's configuration this module reads (``regions.RegionConfig`` has them): a protocol,
    so the region catalogue, which holds a GatewayConfig per region, can import this module and not the reverse."""

    @property
    def code(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def aws_region(self) -> str: ...
    @property
    def partition(self) -> str: ...
    @property
    def geography(self) -> str: ...
    @property
    def inference_regions(self) -> tuple[str, ...]: ...
    @property
    def gateway(self) -> GatewayConfig | None: ...


_GATEWAY_KEYS = (
    "providers",
    "models",
    "allowed_hosts",
    "guardrails",
    "org_guardrails",
    "audit_retention_months",
    "key_cache_ttl_seconds",
    *RUNTIME_KEYS,
    "memory",
)
_PROVIDER_KEYS = {
    "bedrock": ("name", "type", "aws_region"),
    "azure_openai": ("name", "type", "endpoint", "location", "api_version"),
    "openai_compatible": ("name", "type", "base_url"),
}
_MODEL_KEYS = (
    "name",
    "provider",
    "target",
    "kind",
    "input_usd_per_mtok",
    "output_usd_per_mtok",
    "deployment_type",
    "processing_area",
    "cache_read_usd_per_mtok",
    "cache_write_usd_per_mtok",
)
_GUARDRAIL_KEYS = ("max_request_bytes", "max_input_tokens", "model_allowlist", "detectors")
_DETECTOR_KEYS = ("name", "type", "action", "pattern")


def parse_gateway(
    reader: Reader,
    raw: Any,
    key: str,
    region: GatewayRegion,
    areas: Mapping[str, ProcessingArea] | None = None,
    areas_key: str = "processing_areas",
) -> GatewayConfig | None:
    """Validate ``regions.<code>.gateway`` against ``region``'s promise; mistakes are ``reader.fail(key, problem)``.

    ``areas`` are the region's named processing areas (``areas_key`` is where they are written): a model that
    names one may reach beyond ``inference_regions``, inside it; no other model may."""
    if raw is None:
        return None
    raw = reader.mapping(raw, key, _GATEWAY_KEYS, ("providers", "models"))

    allowed_hosts: tuple[str, ...] = ()
    if raw.get("allowed_hosts") is not None:
        allowed_hosts = reader.string_list(raw["allowed_hosts"], f"{key}.allowed_hosts")
        for i, pattern in enumerate(allowed_hosts):
            if not _HOST_PATTERN_RE.match(pattern):
                raise reader.fail(
                    f"{key}.allowed_hosts[{i}]",
                    f"{pattern!r} is not a lower-case host name or a *.domain pattern (no scheme, port or path)",
                )

    if not isinstance(raw["providers"], list) or not raw["providers"]:
        raise reader.fail(f"{key}.providers", "must be a non-empty list of providers")
    providers: dict[str, Provider] = {}
    for i, item in enumerate(raw["providers"]):
        provider = _parse_provider(reader, item, f"{key}.providers[{i}]", region, allowed_hosts)
        if provider.name in providers:
            raise reader.fail(
                f"{key}.providers[{i}].name", f"{provider.name!r} is used by another provider; names must be unique"
            )
        providers[provider.name] = provider

    if not isinstance(raw["models"], list) or not raw["models"]:
        raise reader.fail(f"{key}.models", "must be a non-empty list of models")
    models: dict[str, Model] = {}
    for i, item in enumerate(raw["models"]):
        model = _parse_model(reader, item, f"{key}.models[{i}]", region, providers, areas or {}, areas_key)
        if model.name in models:
            raise reader.fail(
                f"{key}.models[{i}].name", f"{model.name!r} is listed twice; public model names must be unique"
            )
        models[model.name] = model

    guardrails = _parse_guardrails(reader, raw.get("guardrails"), f"{key}.guardrails", Guardrails(), models)
    org_guardrails: dict[str, Guardrails] = {}
    if raw.get("org_guardrails") is not None:
        orgs = raw["org_guardrails"]
        if not isinstance(orgs, dict):
            raise reader.fail(f"{key}.org_guardrails", "must be a mapping of org id to guardrail overrides")
        for org, override in orgs.items():
            if not isinstance(org, str) or not _NAME_RE.match(org):
                raise reader.fail(f"{key}.org_guardrails.{org}", "an org id is lower-case letters, digits and dashes")
            org_guardrails[org] = _parse_guardrails(reader, override, f"{key}.org_guardrails.{org}", guardrails, models)

    retention = DEFAULT_AUDIT_RETENTION_MONTHS
    if raw.get("audit_retention_months") is not None:
        retention = reader.integer(raw["audit_retention_months"], f"{key}.audit_retention_months", 1, 120)
    ttl = DEFAULT_KEY_CACHE_TTL_SECONDS
    if raw.get("key_cache_ttl_seconds") is not None:
        ttl = reader.integer(raw["key_cache_ttl_seconds"], f"{key}.key_cache_ttl_seconds", 0, 300)
    deployment = parse_runtime(reader, raw, key)
    memory = parse_memory(reader, raw.get("memory"), f"{key}.memory", models)

    return GatewayConfig(
        providers=tuple(providers.values()),
        models=tuple(models.values()),
        allowed_hosts=allowed_hosts,
        guardrails=guardrails,
        org_guardrails=org_guardrails,
        audit_retention_months=retention,
        key_cache_ttl_seconds=ttl,
        runtime=deployment.runtime,
        max_generation_seconds=deployment.max_generation_seconds,
        memory=memory,
    )


def _parse_provider(
    reader: Reader, raw: Any, key: str, region: GatewayRegion, allowed_hosts: tuple[str, ...]
) -> Provider:
    if not isinstance(raw, dict):
        raise reader.fail(key, "must be a mapping with name and type")
    ptype = raw.get("type")
    if ptype not in PROVIDER_TYPES:
        raise reader.fail(f"{key}.type", f"{ptype!r} is not a provider type; valid: {', '.join(PROVIDER_TYPES)}")
    raw = reader.mapping(raw, key, _PROVIDER_KEYS[ptype], _PROVIDER_KEYS[ptype])
    name = reader.string(raw["name"], f"{key}.name", _NAME_RE, "a provider name (lower-case letters, digits, dashes)")

    if ptype == "bedrock":
        if region.partition == "aws-cn":
            raise reader.fail(
                f"{key}.type",
                "Amazon Bedrock does not exist in the aws-cn partition; use openai_compatible with an allowlisted in-country host",
            )
        aws_region = reader.string(raw["aws_region"], f"{key}.aws_region")
        if aws_region not in region.inference_regions:
            raise reader.fail(
                f"{key}.aws_region",
                f"{aws_region!r} is not one of this region's inference_regions; valid: {', '.join(region.inference_regions)}",
            )
        return Provider(name=name, type=ptype, aws_region=aws_region)

    if ptype == "azure_openai":
        location = reader.string(raw["location"], f"{key}.location")
        valid = _azure_locations(region)
        if location not in valid:
            raise reader.fail(
                f"{key}.location",
                f"{location!r} is not an Azure location inside this region's promise; valid: {', '.join(valid) or 'none'}",
            )
        endpoint = reader.string(raw["endpoint"], f"{key}.endpoint")
        host = _https_host(reader, endpoint, f"{key}.endpoint")
        suffixes = AZURE_HOST_SUFFIXES.get(region.partition, ())
        if not any(host.endswith(s) for s in suffixes) or urlsplit(endpoint).path not in ("", "/"):
            raise reader.fail(
                f"{key}.endpoint",
                f"{endpoint!r} is not an Azure OpenAI resource endpoint; expected https://<resource>{suffixes[0] if suffixes else ''}",
            )
        if not host_allowed(host, allowed_hosts):
            raise reader.fail(
                f"{key}.endpoint", f"host {host!r} is not in allowed_hosts ({', '.join(allowed_hosts) or 'empty'})"
            )
        api_version = reader.string(
            str(raw["api_version"]), f"{key}.api_version", _API_VERSION_RE, "an API version such as 2024-10-21"
        )
        return Provider(
            name=name, type=ptype, endpoint=endpoint.rstrip("/"), location=location, api_version=api_version
        )

    base_url = reader.string(raw["base_url"], f"{key}.base_url")
    host = _https_host(reader, base_url, f"{key}.base_url")
    if not host_allowed(host, allowed_hosts):
        raise reader.fail(
            f"{key}.base_url",
            f"host {host!r} is not in allowed_hosts ({', '.join(allowed_hosts) or 'empty'}); add it only if it processes in region",
        )
    return Provider(name=name, type=ptype, base_url=base_url.rstrip("/"))


def _https_host(reader: Reader, url: str, key: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.query or parts.fragment:
        raise reader.fail(key, f"{url!r} must be an https:// URL with a host and no credentials, query or fragment")
    return parts.hostname.lower()


def _azure_locations(region: GatewayRegion) -> list[str]:
    if region.geography == "EU":
        return [loc for loc, country in AZURE_LOCATION_COUNTRY.items() if country in EU_MEMBER_STATES]
    countries = {AWS_REGION_COUNTRY.get(r) for r in region.inference_regions}
    return [loc for loc, country in AZURE_LOCATION_COUNTRY.items() if country in countries]


def _parse_price(reader: Reader, value: Any, key: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise reader.fail(key, f'must be a price in USD per million tokens such as "3.00", got {value!r}')
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise reader.fail(
            key, f'{value!r} is not a number; write a price in USD per million tokens such as "3.00"'
        ) from None
    if not price.is_finite() or price < 0 or price > _PRICE_MAX:
        raise reader.fail(key, f"{value!r} is out of range; valid: 0 to {_PRICE_MAX} USD per million tokens")
    return price


def _parse_model(
    reader: Reader,
    raw: Any,
    key: str,
    region: GatewayRegion,
    providers: Mapping[str, Provider],
    areas: Mapping[str, ProcessingArea],
    areas_key: str,
) -> Model:
    raw = reader.mapping(
        raw, key, _MODEL_KEYS, ("name", "provider", "target", "input_usd_per_mtok", "output_usd_per_mtok")
    )
    name = reader.string(raw["name"], f"{key}.name", _MODEL_NAME_RE, "a model name (letters, digits, . _ : / -)")
    provider_name = reader.string(raw["provider"], f"{key}.provider")
    if provider_name not in providers:
        raise reader.fail(
            f"{key}.provider", f"{provider_name!r} is not a configured provider; valid: {', '.join(providers)}"
        )
    provider = providers[provider_name]
    kind = raw.get("kind", "chat")
    if kind not in MODEL_KINDS:
        raise reader.fail(f"{key}.kind", f"{kind!r} is not a model kind; valid: {', '.join(MODEL_KINDS)}")
    target = reader.string(raw["target"], f"{key}.target")
    input_price = _parse_price(reader, raw["input_usd_per_mtok"], f"{key}.input_usd_per_mtok")
    output_price = _parse_price(reader, raw["output_usd_per_mtok"], f"{key}.output_usd_per_mtok")
    cache_prices = {
        name: _parse_price(reader, raw[name], f"{key}.{name}") if raw.get(name) is not None else None
        for name in ("cache_read_usd_per_mtok", "cache_write_usd_per_mtok")
    }
    for name in (n for n, price in cache_prices.items() if price is not None and kind != "chat"):
        raise reader.fail(f"{key}.{name}", "only chat models read or write a prompt cache; remove the key")
    deployment_type = None
    destinations: tuple[str, ...] = ()

    if "deployment_type" in raw and provider.type != "azure_openai":
        raise reader.fail(f"{key}.deployment_type", "only azure_openai models have a deployment type; remove the key")
    area: ProcessingArea | None = None
    if raw.get("processing_area") is not None:
        area_id = reader.string(raw["processing_area"], f"{key}.processing_area")
        if provider.type != "bedrock":
            raise reader.fail(
                f"{key}.processing_area",
                "only Bedrock models take a processing area (their geography profile is what reaches further); remove the key",
            )
        if area_id not in areas:
            raise reader.fail(
                f"{key}.processing_area",
                f"{area_id!r} is not a processing area of this region; defined in {areas_key}: {', '.join(areas) or 'none'}",
            )
        area = areas[area_id]

    if provider.type == "bedrock":
        destinations = _bedrock_destinations(
            reader, target, f"{key}.target", region, provider, area, areas, areas_key, key
        )
    elif provider.type == "azure_openai":
        if not _AZURE_DEPLOYMENT_RE.match(target):
            raise reader.fail(f"{key}.target", f"{target!r} is not an Azure OpenAI deployment name")
        deployment_type = reader.string(raw.get("deployment_type"), f"{key}.deployment_type")
        valid = list(AZURE_REGIONAL_DEPLOYMENT_TYPES)
        if region.geography in AZURE_DATA_ZONE_GEOGRAPHIES:  # the EU and US data zones match those promises
            valid += AZURE_DATA_ZONE_DEPLOYMENT_TYPES
        if deployment_type not in valid:
            why = (
                "Global deployments may process prompts in any Azure location"
                if deployment_type.startswith("Global")
                else f"{region.geography} has no Azure data zone"
                if deployment_type.startswith("DataZone")
                else "unknown type"
            )
            raise reader.fail(
                f"{key}.deployment_type", f"{deployment_type!r} is refused ({why}); valid: {', '.join(valid)}"
            )
        destinations = (
            (f"azure:{provider.location}",)
            if deployment_type in AZURE_REGIONAL_DEPLOYMENT_TYPES
            else (f"azure-data-zone:{region.geography}",)
        )
    else:
        if not _MODEL_NAME_RE.match(target):
            raise reader.fail(f"{key}.target", f"{target!r} is not an upstream model name")
        destinations = (f"host:{urlsplit(provider.base_url or '').hostname}",)

    return Model(
        name=name,
        provider=provider_name,
        target=target,
        kind=kind,
        input_usd_per_mtok=input_price,
        output_usd_per_mtok=output_price,
        deployment_type=deployment_type,
        destinations=destinations,
        processing_area=area.id if area else None,
        area=area,
        **cache_prices,
    )


def _opt_in_advice(
    outside: list[str],
    destinations: tuple[str, ...],
    areas: Mapping[str, ProcessingArea],
    areas_key: str,
    model_key: str,
) -> str:
    """How to offer a model whose profile reaches ``outside``: name an area that covers it, or how to define one."""
    covering = [a for a in areas.values() if set(destinations) <= set(a.regions)]
    if covering:
        choices = " or ".join(f"processing_area: {a.id} ({a.name})" for a in covering)
        return f"to offer it, opt in explicitly with {choices} on {model_key}"
    return (
        f"to offer it, opt in explicitly: define a named area in {areas_key} whose regions include "
        f"{', '.join(outside)} and set processing_area: <that area> on {model_key}"
    )


def _bedrock_destinations(
    reader: Reader,
    target: str,
    key: str,
    region: GatewayRegion,
    provider: Provider,
    area: ProcessingArea | None = None,
    areas: Mapping[str, ProcessingArea] | None = None,
    areas_key: str = "processing_areas",
    model_key: str = "the model",
) -> tuple[str, ...]:
    if target.startswith("arn:"):
        raise reader.fail(
            key, "give a model id or a geography inference profile id, not an ARN (the stack builds the ARNs)"
        )
    if target.startswith(_REFUSED_PROFILE_PREFIXES):
        raise reader.fail(
            key,
            f"{target!r} is a global inference profile, which may route prompts to any commercial AWS region; "
            f"use a single-region model id or a geography profile whose destinations are all in {', '.join(region.inference_regions)}",
        )
    if not _BEDROCK_ID_RE.match(target):
        raise reader.fail(key, f"{target!r} is not a Bedrock model id such as amazon.nova-pro-v1:0")
    if target.startswith(_GEOGRAPHY_PROFILE_PREFIXES):
        if target not in PROFILE_DESTINATIONS:
            known = ", ".join(sorted(p for p in PROFILE_DESTINATIONS if p.split(".", 1)[0] == target.split(".", 1)[0]))
            raise reader.fail(
                key,
                f"{target!r} is an inference profile whose destination regions regiongate does not know; "
                f"known profiles: {known or 'none'} (or add it to bedrock-profiles.yaml after checking its destinations with `regiongate profiles check`)",
            )
        destinations = PROFILE_DESTINATIONS[target]
        outside = [r for r in destinations if r not in region.inference_regions]
        if outside and area is None:
            raise reader.fail(
                key,
                f"inference profile {target!r} may route prompts to {', '.join(outside)}, outside this region's "
                f"inference_regions ({', '.join(region.inference_regions)}), so it is not offered by default; "
                f"use the single-region model id {target.split('.', 1)[1]!r} instead, or "
                + _opt_in_advice(outside, destinations, areas or {}, areas_key, model_key),
            )
        if area is not None:
            beyond = [r for r in destinations if r not in area.regions]
            if beyond:
                raise reader.fail(
                    key,
                    f"inference profile {target!r} may route prompts to {', '.join(beyond)}, outside processing area "
                    f"{area.id} ({area.describe()}); that area does not cover it",
                )
            if not outside:
                raise reader.fail(
                    f"{model_key}.processing_area",
                    f"{target!r} stays inside inference_regions ({', '.join(region.inference_regions)}): it needs no "
                    f"wider area; remove processing_area so nothing states a wider area than the model uses",
                )
        if provider.aws_region not in destinations:
            raise reader.fail(
                key,
                f"inference profile {target!r} cannot be called from {provider.aws_region}; its regions: {', '.join(destinations)}",
            )
        _refuse_retired(reader, key, target)
        return destinations
    if area is not None:
        raise reader.fail(
            f"{model_key}.processing_area",
            f"{target!r} is a single-region model id, processed in {provider.aws_region} only: it needs no wider area; "
            "remove processing_area",
        )
    offered = bedrock_profiles.shipped_table().offered_in(target)
    if target in bedrock_profiles.shipped_table().foundation_models and provider.aws_region not in offered:
        # A model the table knows, in a region it does not list: Bedrock would refuse every call at run time.
        raise reader.fail(
            key,
            f"{target!r} is not offered on demand in {provider.aws_region} (bedrock-profiles.yaml lists "
            f"{', '.join(offered) or 'no region'}); use a geography profile of it whose destinations are all in "
            f"{', '.join(region.inference_regions)}, or another model",
        )
    _refuse_retired(reader, key, target)
    return (provider.aws_region or "",)


def _refuse_retired(reader: Reader, key: str, target: str) -> None:
    """After the residency checks (which say more about a model than its age): a retired model is never offered."""
    retired = bedrock_profiles.shipped_table().retired(target)
    if retired is not None:
        raise reader.fail(
            key,
            f"{target!r} was retired by its provider on {retired.isoformat()} (bedrock-profiles.yaml) and is not "
            "offered; choose a current model",
        )


def _parse_guardrails(reader: Reader, raw: Any, key: str, base: Guardrails, models: Mapping[str, Model]) -> Guardrails:
    if raw is None:
        return base
    raw = reader.mapping(raw, key, _GUARDRAIL_KEYS)
    max_bytes = base.max_request_bytes
    if raw.get("max_request_bytes") is not None:
        max_bytes = reader.integer(
            raw["max_request_bytes"], f"{key}.max_request_bytes", 1024, DEFAULT_MAX_REQUEST_BYTES
        )
    max_tokens = base.max_input_tokens
    if raw.get("max_input_tokens") is not None:
        max_tokens = reader.integer(raw["max_input_tokens"], f"{key}.max_input_tokens", 1, 10_000_000)
    allowlist = base.model_allowlist
    if raw.get("model_allowlist") is not None:
        allowlist = reader.string_list(raw["model_allowlist"], f"{key}.model_allowlist")
        for i, name in enumerate(allowlist):
            if name not in models:
                raise reader.fail(
                    f"{key}.model_allowlist[{i}]", f"{name!r} is not in the model catalogue; valid: {', '.join(models)}"
                )
    detectors = base.detectors
    if raw.get("detectors") is not None:
        if not isinstance(raw["detectors"], list):
            raise reader.fail(f"{key}.detectors", "must be a list of detectors")
        parsed = []
        for i, item in enumerate(raw["detectors"]):
            k = f"{key}.detectors[{i}]"
            item = reader.mapping(item, k, _DETECTOR_KEYS, ("type", "action"))
            kind = item["type"]
            if kind not in (*BUILTIN_DETECTORS, "regex"):
                raise reader.fail(
                    f"{k}.type", f"{kind!r} is not a detector; valid: {', '.join((*BUILTIN_DETECTORS, 'regex'))}"
                )
            action = item["action"]
            if action not in GUARDRAIL_ACTIONS:
                raise reader.fail(f"{k}.action", f"{action!r} is not an action; valid: {', '.join(GUARDRAIL_ACTIONS)}")
            name = reader.string(
                item.get("name", kind.replace("_", "-")),
                f"{k}.name",
                _NAME_RE,
                "a detector name (lower-case, digits, dashes)",
            )
            pattern = None
            if kind == "regex":
                pattern = reader.string(item.get("pattern"), f"{k}.pattern")
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise reader.fail(f"{k}.pattern", f"not a valid regular expression: {exc}") from None
            elif "pattern" in item:
                raise reader.fail(f"{k}.pattern", f"only regex detectors take a pattern; {kind} is built in")
            parsed.append(Detector(name=name, kind=kind, action=action, pattern=pattern))
        names = [d.name for d in parsed]
        if len(set(names)) != len(names):
            raise reader.fail(f"{key}.detectors", "two detectors share a name; give each a distinct name")
        detectors = tuple(parsed)
    return Guardrails(
        max_request_bytes=max_bytes, max_input_tokens=max_tokens, model_allowlist=allowlist, detectors=detectors
    )


def _runtime_policy(g: Guardrails) -> GuardrailPolicy:
    return GuardrailPolicy(
        max_request_bytes=g.max_request_bytes,
        max_input_tokens=g.max_input_tokens,
        model_allowlist=g.model_allowlist,
        detectors=tuple(
            {"name": d.name, "type": d.kind, "action": d.action, **({"pattern": d.pattern} if d.pattern else {})}
            for d in g.detectors
        ),
    )


def runtime_config(region: GatewayRegion) -> RuntimeConfig:
    """The region's side of the contract (regiongate.contract.document), typed; a region without a gateway
    has no providers or models and the default guardrails."""
    gateway: GatewayConfig = region.gateway or GatewayConfig(
        providers=(), models=(), allowed_hosts=(), guardrails=Guardrails()
    )
    return RuntimeConfig(
        code=region.code,
        display_name=region.display_name,
        aws_region=region.aws_region,
        partition=region.partition,
        geography=region.geography,
        inference_regions=tuple(region.inference_regions),
        providers={
            p.name: ProviderEntry(
                name=p.name,
                type=p.type,
                aws_region=p.aws_region,
                endpoint=p.endpoint,
                location=p.location,
                api_version=p.api_version,
                base_url=p.base_url,
            )
            for p in gateway.providers
        },
        models={
            m.name: ModelEntry(
                name=m.name,
                provider=m.provider,
                target=m.target,
                kind=m.kind,
                input_usd_per_mtok=m.input_usd_per_mtok,
                output_usd_per_mtok=m.output_usd_per_mtok,
                deployment_type=m.deployment_type,
                processing_area=ProcessingAreaEntry(m.area.name, m.area.regions) if m.area is not None else None,
                cache_read_usd_per_mtok=m.cache_read_usd_per_mtok,
                cache_write_usd_per_mtok=m.cache_write_usd_per_mtok,
            )
            for m in gateway.models
        },
        allowed_hosts=tuple(gateway.allowed_hosts),
        guardrails=_runtime_policy(gateway.guardrails),
        org_guardrails={org: _runtime_policy(g) for org, g in sorted(gateway.org_guardrails.items())},
        audit_retention_months=gateway.audit_retention_months,
        key_cache_ttl_seconds=gateway.key_cache_ttl_seconds,
        max_generation_seconds=gateway.max_generation_seconds,
        memory=gateway.memory.offer(),
    )


def deployment_runtime(region: GatewayRegion) -> GatewayRuntime:
    """How ``region`` runs its gateway (a region without a gateway section: the Lambda, its defaults)."""
    return region.gateway.deployment if region.gateway is not None else GatewayRuntime()


def runtime_document(region: GatewayRegion) -> dict[str, Any]:
    """What every runtime reads (the functions at ``REGION_DOCUMENT_PATH``, the console from its environment):
    no secrets, deterministic order, written by the contract's own ``to_document``."""
    return runtime_config(region).to_document()


def bedrock_grants(region: GatewayRegion) -> list[BedrockGrant]:
    """Exactly what the gateway may invoke: each model in its provider's region; for a geography profile the
    profile in the provider's region plus the foundation model in every destination region of the profile."""
    gateway: GatewayConfig | None = region.gateway
    if gateway is None:
        return []
    grants: set[BedrockGrant] = set()
    for model in gateway.models:
        provider = gateway.provider(model.provider)
        if provider.type != "bedrock" or provider.aws_region is None:
            continue
        if model.target in PROFILE_DESTINATIONS:
            grants.add(BedrockGrant(provider.aws_region, "inference-profile", model.target))
            foundation = model.target.split(".", 1)[1]
            for destination in PROFILE_DESTINATIONS[model.target]:
                grants.add(BedrockGrant(destination, "foundation-model", foundation))
        else:
            grants.add(BedrockGrant(provider.aws_region, "foundation-model", model.target))
    return sorted(grants, key=lambda g: (g.resource_type, g.resource_id, g.aws_region))
