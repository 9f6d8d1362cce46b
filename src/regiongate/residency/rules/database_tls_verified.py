"""Database clients verify the server's certificate: a Lambda function or ECS container that is given a database
host must also be given a CA bundle, and no marker that accepts an unverified connection.

Generic: the conventional variable names of libpq and of apps like regiongate (``DB_HOST`` + ``DB_CA_BUNDLE``),
not regiongate's contract. A value that is an intrinsic counts as set (the host is usually ``Fn::GetAtt``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from regiongate.residency.model import NOT_APPLICABLE, Detail, Resource, RuleResult, as_list, get_path, verdict
from regiongate.residency.policy import ResidencyPolicy

# Where a client is told which database to reach.
HOST_VARIABLES = ("DB_HOST", "DATABASE_HOST", "PGHOST", "POSTGRES_HOST")
URL_VARIABLES = ("DATABASE_URL",)
# Where it is told which CA verifies the server (a URL may carry libpq's sslrootcert).
CA_VARIABLES = ("DB_CA_BUNDLE", "PGSSLROOTCERT")
# Markers that accept a connection without verification: DB_TLS=unverified-acknowledged, or a libpq sslmode below
# verify-ca.
UNVERIFIED_MARKERS = {"DB_TLS": ("unverified-acknowledged", "unverified_acknowledged", "unverified")}
VERIFYING_SSLMODES = ("verify-ca", "verify-full")


def _environments(resource: Resource) -> Iterator[tuple[str, dict[str, Any]]]:
    """(location, variables) of each environment of a Lambda function or of a task definition's containers."""
    if resource.type == "AWS::Lambda::Function":
        variables = get_path(resource.properties, "Environment", "Variables")
        if isinstance(variables, Mapping):
            yield "Properties/Environment/Variables", dict(variables)
    elif resource.type == "AWS::ECS::TaskDefinition":
        for index, container in enumerate(as_list(resource.properties.get("ContainerDefinitions"))):
            pairs = as_list(get_path(container, "Environment"))
            variables = {p.get("Name"): p.get("Value") for p in pairs if isinstance(p, Mapping)}
            yield f"Properties/ContainerDefinitions/{index}/Environment", variables


def _set(value: Any) -> bool:
    return value is not None and value != ""


def _check_one(location: str, variables: Mapping[str, Any]) -> Detail | None:
    hosts = [name for name in HOST_VARIABLES if _set(variables.get(name))]
    urls = [name for name in URL_VARIABLES if _set(variables.get(name))]
    if not hosts and not urls:
        return None  # not a database client
    for name, values in UNVERIFIED_MARKERS.items():
        if isinstance(variables.get(name), str) and variables[name] in values:
            return Detail(
                f"{location}/{name}",
                f"{name}={variables[name]}: the database connection is encrypted but the server's certificate is "
                "not verified (anyone on the path can impersonate the database)",
            )
    mode = variables.get("PGSSLMODE")
    if isinstance(mode, str) and mode not in VERIFYING_SSLMODES:
        return Detail(f"{location}/PGSSLMODE", f"PGSSLMODE={mode} does not verify the server's certificate")
    if any(_set(variables.get(name)) for name in CA_VARIABLES):
        return None
    url = next((variables[name] for name in urls), None)
    if isinstance(url, str) and "sslrootcert=" in url:
        return None
    given = ", ".join(hosts + urls)
    return Detail(
        location,
        f"{given} is set but no CA bundle ({' or '.join(CA_VARIABLES)}): the database client cannot verify the "
        "server's certificate and host name",
    )


def check(resource: Resource, policy: ResidencyPolicy) -> RuleResult:
    if resource.type not in ("AWS::Lambda::Function", "AWS::ECS::TaskDefinition"):
        return NOT_APPLICABLE
    details = [d for location, variables in _environments(resource) if (d := _check_one(location, variables))]
    return verdict(details)
