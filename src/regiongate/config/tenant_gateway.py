"""A single-tenant deployment's gateway: its geography's catalogue, served from the tenant's own region.

A tenant takes the models of the ``regions:`` entry of its geography, but never that region's gateway: every
Bedrock model is called in the tenant's home region, and a model is served only where it can be processed
inside the tenant's ``inference_regions`` (by default the home region alone):

- a model id offered on demand in the home region (``foundation_models`` of bedrock-profiles.yaml);
- else the geography profile of the model, called from the home region, when all its destinations are
  inference regions of the tenant (an explicit opt-in: the operator lists those regions);
- an Azure regional deployment in a country of the tenant's inference regions; an in-country OpenAI-compatible
  host when the tenant is in the country of the catalogue's region.

A model that is not offered that way is refused with the nearest choice inside the geography the operator could
opt into (the regions to add to ``inference_regions``), or the advice to leave it out of ``models``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from regiongate.config import bedrock_profiles
from regiongate.config.gateway import (
    AWS_REGION_COUNTRY,
    AZURE_LOCATION_COUNTRY,
    PROFILE_DESTINATIONS,
    GatewayConfig,
    Guardrails,
    Model,
    Provider,
)
from regiongate.contract.hosts import host_allowed

# The geography profile prefix of each geography (Bedrock's naming).
PROFILE_PREFIX: Mapping[str, str] = {"EU": "eu", "US": "us", "APAC": "apac"}


@dataclass(frozen=True)
class TenantRegion:
    """What the resolution reads of a tenant: where it lives and where it may process."""

    code: str  # the catalogue region it takes its models from
    aws_region: str
    geography: str
    inference_regions: tuple[str, ...]
    catalogue_region: str  # the AWS region of that catalogue entry


@dataclass(frozen=True)
class Refusal:
    model: str
    reason: str
    opt_in: str | None = None  # the nearest in-geography choice, if there is one

    def sentence(self) -> str:
        return f"{self.reason}; " + (self.opt_in or "leave it out of models")


def _where(region: str) -> str:
    country = AWS_REGION_COUNTRY.get(region)
    return f"{region} ({country})" if country else region


def bedrock_provider_name(aws_region: str) -> str:
    return f"bedrock-{aws_region}"


def resolve(model: Model, provider: Provider, tenant: TenantRegion) -> Model | Refusal:
    """``model`` as the tenant serves it (target, provider, destinations), or why it cannot be served."""
    if provider.type == "bedrock":
        return _resolve_bedrock(model, tenant)
    countries = {AWS_REGION_COUNTRY[r] for r in tenant.inference_regions if r in AWS_REGION_COUNTRY}
    if provider.type == "azure_openai":
        location = provider.location or ""
        if model.destinations != (f"azure:{location}",):
            return Refusal(
                model.name,
                f"{model.name} is an Azure {model.deployment_type} deployment, which may process in any Azure "
                f"region of the {tenant.geography} data zone, not only where the tenant's inference_regions are",
            )
        country = AZURE_LOCATION_COUNTRY.get(location)
        if country not in countries:
            return Refusal(
                model.name,
                f"{model.name} is processed in Azure {location} ({country}), outside the countries of "
                f"inference_regions ({', '.join(sorted(countries))})",
            )
        return model
    # An allowlisted OpenAI-compatible host processes in the country of the catalogue's region.
    home_country = AWS_REGION_COUNTRY.get(tenant.catalogue_region)
    if AWS_REGION_COUNTRY.get(tenant.aws_region) != home_country:
        host = urlsplit(provider.base_url or "").hostname
        return Refusal(
            model.name, f"{model.name} is served by {host}, allowlisted for {home_country}, not {tenant.aws_region}"
        )
    return model


def _resolve_bedrock(model: Model, tenant: TenantRegion) -> Model | Refusal:
    table = bedrock_profiles.shipped_table()
    prefix, _, rest = model.target.partition(".")
    profiled = model.target in PROFILE_DESTINATIONS
    foundation = rest if profiled else model.target
    home = tenant.aws_region
    provider = bedrock_provider_name(home)
    # A tenant serves a model only inside its own inference_regions: never through the catalogue's wider area.
    model = replace(model, processing_area=None, area=None)
    if home in table.offered_in(foundation):
        return replace(model, provider=provider, target=foundation, destinations=(home,))
    profile = f"{prefix if profiled else PROFILE_PREFIX.get(tenant.geography, '')}.{foundation}"
    destinations = PROFILE_DESTINATIONS.get(profile, ())
    why = f"{foundation} is not offered on demand in {home}"
    if home not in destinations:
        return Refusal(
            model.name,
            f"{why}, and no {tenant.geography} inference profile of it can be called from {home}",
        )
    outside = [r for r in destinations if r not in tenant.inference_regions]
    if outside:
        return Refusal(
            model.name,
            f"{why}; its {tenant.geography} profile {profile} may also process in "
            f"{', '.join(_where(r) for r in outside)}",
            f"to opt in, add {', '.join(outside)} to inference_regions (the nearest choice inside {tenant.geography})",
        )
    return replace(model, provider=provider, target=profile, destinations=destinations)


def served_models(home: GatewayConfig, tenant: TenantRegion) -> tuple[list[Model], list[Refusal]]:
    """Every catalogue model as the tenant would serve it, and those it cannot serve."""
    served: list[Model] = []
    refused: list[Refusal] = []
    for model in home.models:
        result = resolve(model, home.provider(model.provider), tenant)
        if isinstance(result, Refusal):
            refused.append(result)
        else:
            served.append(result)
    return served, refused


def tenant_gateway(home: GatewayConfig, models: list[Model]) -> GatewayConfig:
    """The gateway of a tenant serving ``models`` (already resolved): its own Bedrock providers, only the
    providers and hosts those models use, guardrails narrowed to them."""
    names = {m.name for m in models}
    providers: dict[str, Provider] = {}
    for model in models:
        if model.provider in providers:
            continue
        if model.provider.startswith("bedrock-") and model.provider not in {p.name for p in home.providers}:
            region = model.provider.removeprefix("bedrock-")
            providers[model.provider] = Provider(name=model.provider, type="bedrock", aws_region=region)
        else:
            providers[model.provider] = home.provider(model.provider)
    hosts = [
        host
        for p in providers.values()
        for host in (urlsplit(p.endpoint or p.base_url or "").hostname,)
        if host is not None and p.type != "bedrock"
    ]
    allowed = tuple(pattern for pattern in home.allowed_hosts if any(host_allowed(h, (pattern,)) for h in hosts))

    def narrowed(g: Guardrails) -> Guardrails:
        if g.model_allowlist is None:
            return g
        return replace(g, model_allowlist=tuple(m for m in g.model_allowlist if m in names))

    return replace(
        home,
        providers=tuple(providers.values()),
        models=tuple(models),
        allowed_hosts=allowed,
        guardrails=narrowed(home.guardrails),
        org_guardrails={org: narrowed(g) for org, g in home.org_guardrails.items()},
    )
