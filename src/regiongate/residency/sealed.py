"""Secrets an app seals into its own stores (envelope encryption with a KMS key of the stack), placed from the
template alone: the store marked with their data kind, the key the runtimes are told to seal with (an environment
variable of a function or task), the roles whose policy statements may seal, open and assume the roles they name,
and the region STS is reached in. The caller says what to look for (``report_data.SealedSecrets``); anything that
is not where a reader would expect it (a key of another region or a multi-region key, no store, no STS endpoint of
the stack's region) is listed as a problem, never smoothed over.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from regiongate.residency.inventory import describe_key, key_name
from regiongate.residency.model import Resource, as_list, get_path, parse_arn, render, resources_of
from regiongate.residency.policy import ResidencyPolicy
from regiongate.residency.report_data import SealedPlacement, SealedSecrets

# An interface endpoint's service name: com.amazonaws.<region>.sts (cn.com.amazonaws.<region>.sts in China).
_STS_SERVICE = re.compile(r"^(?:cn\.)?com\.amazonaws\.(?P<region>[a-z0-9-]+)\.sts$")


def _policies_with(template: Mapping[str, Any], sid: str) -> tuple[list[str], list[Mapping[str, Any]]]:
    """(role logical ids, statements) of every AWS::IAM::Policy statement with this Sid."""
    roles: list[str] = []
    statements: list[Mapping[str, Any]] = []
    for resource in resources_of(template):
        if resource.type != "AWS::IAM::Policy":
            continue
        for statement in as_list(get_path(resource.properties, "PolicyDocument", "Statement")):
            if isinstance(statement, Mapping) and statement.get("Sid") == sid:
                statements.append(statement)
                roles += [r["Ref"] for r in as_list(resource.properties.get("Roles")) if isinstance(r, Mapping)]
    return sorted(set(roles)), statements


def _key_values(template: Mapping[str, Any], variable: str) -> list[tuple[Resource, Any]]:
    """Every value ``variable`` is given in a Lambda function's or an ECS container's environment."""
    found: list[tuple[Resource, Any]] = []
    for resource in resources_of(template):
        if resource.type == "AWS::Lambda::Function":
            variables = get_path(resource.properties, "Environment", "Variables") or {}
            if variable in variables:
                found.append((resource, variables[variable]))
        elif resource.type == "AWS::ECS::TaskDefinition":
            for container in as_list(resource.properties.get("ContainerDefinitions")):
                for pair in as_list(get_path(container, "Environment")):
                    if isinstance(pair, Mapping) and pair.get("Name") == variable:
                        found.append((resource, pair.get("Value")))
    return found


def _describe_sealing_key(
    template: Mapping[str, Any], spec: SealedSecrets, policy: ResidencyPolicy, region: str, problems: list[str]
) -> tuple[str, str]:
    values = _key_values(template, spec.key_variable)
    if not values:
        problems.append(f"no function or task is given {spec.key_variable}: the template does not say which key seals")
        return "", ""
    described: dict[str, str] = {}
    for resource, value in values:
        target = value.get("Fn::GetAtt", [None])[0] if isinstance(value, Mapping) else None
        arn = render(value, resource, policy)
        parsed = parse_arn(arn)
        key_region = parsed.region if parsed is not None else ""
        if target is not None and resource.type_of(target) == "AWS::KMS::Key":
            key = resource.other(target) or {}
            multi = get_path(key, "Properties", "MultiRegion") in (True, "true")
            kind = "a MULTI-REGION" if multi else "a single-region"
            text = f"{key_name({'Ref': target}, resource)}, {arn}, {kind} key"
            if multi:
                problems.append(f"the key {target} is multi-region: its replicas could open the secrets elsewhere")
        else:
            text = f"key {arn} (not a key of this stack)"
            problems.append(f"{spec.key_variable} names {arn}, which is not a KMS key of this stack")
        if key_region and key_region != region:
            problems.append(f"the sealing key is in {key_region}, not in the stack's region {region}")
        described[text] = key_region
    if len(described) > 1:
        problems.append(f"the runtimes are given different keys in {spec.key_variable}: {'; '.join(described)}")
    (text, key_region), *_ = described.items()
    return text, key_region


def _context(statements: list[Mapping[str, Any]]) -> str:
    """The encryption context pairs every statement requires, e.g. ``region = eu``; "" if any requires none."""
    required: set[str] | None = None
    for statement in statements:
        pairs = {
            f"{name.removeprefix('kms:EncryptionContext:')} = {value}"
            for operator, conditions in (statement.get("Condition") or {}).items()
            if operator == "StringEquals"
            for name, value in conditions.items()
            if name.startswith("kms:EncryptionContext:")
        }
        required = pairs if required is None else required & pairs
    return ", ".join(sorted(required or ()))


def _sts_region(template: Mapping[str, Any], policy: ResidencyPolicy) -> str:
    regions = []
    for resource in resources_of(template):
        if resource.type == "AWS::EC2::VPCEndpoint":
            match = _STS_SERVICE.match(render(resource.properties.get("ServiceName"), resource, policy))
            if match:
                regions.append(match["region"])
    return ", ".join(sorted(set(regions)))


def sealed_placement(
    template: Mapping[str, Any], spec: SealedSecrets, *, metadata_key: str, region: str, policy: ResidencyPolicy
) -> SealedPlacement | None:
    """Where ``spec``'s secrets are in this stack; None if the stack has neither a store for them nor a key."""
    stores = tuple(
        f"{r.logical_id} ({r.type}) in {region}, at rest under {describe_key(r)}"
        for r in resources_of(template)
        if spec.kind in as_list(r.metadata.get(metadata_key))
    )
    if not stores and not _key_values(template, spec.key_variable):
        return None
    problems: list[str] = []
    if not stores:
        problems.append(f"no resource is marked as holding {spec.kind}")
    key, key_region = _describe_sealing_key(template, spec, policy, region, problems)
    sealers, seal_statements = _policies_with(template, spec.seal_sid)
    openers, open_statements = _policies_with(template, spec.open_sid)
    context = _context(seal_statements + open_statements)
    if (seal_statements or open_statements) and not context:
        problems.append("a grant to seal or open them requires no encryption context")
    assumed_by, assume_statements = _policies_with(template, spec.assume_sid) if spec.assume_sid else ([], [])
    assumed = sorted(
        {render(s.get("Resource"), Resource("", "", {}, template=template), policy) for s in assume_statements}
    )
    sts_region = _sts_region(template, policy) if assume_statements else ""
    if assume_statements and sts_region != region:
        problems.append(
            f"STS is reached through {('an endpoint in ' + sts_region) if sts_region else 'no endpoint of the stack'}, "
            f"not the stack's region {region}"
        )
    return SealedPlacement(
        kind=spec.kind,
        stores=stores,
        key=key,
        key_region=key_region,
        sealers=tuple(sealers),
        openers=tuple(openers),
        context=context,
        assumed_roles=", ".join(assumed),
        assumed_by=tuple(assumed_by),
        sts_region=sts_region,
        problems=tuple(problems),
    )


def sentences(placement: SealedPlacement, spec: SealedSecrets) -> list[str]:
    """The report's sentences about one placement: every fact from the template, the problems first."""
    out = [f"NOT AS EXPECTED: {problem}." for problem in placement.problems]
    if placement.stores:
        out.append(f"Stored in {'; '.join(placement.stores)}.")
    if placement.key:
        out.append(
            f"Each secret is sealed with a data key of its own, generated by KMS under {placement.key}"
            + (f" in {placement.key_region}" if placement.key_region else "")
            + f" (the runtimes are given it as {spec.key_variable}); only the sealed data key, nonce and ciphertext "
            "are stored."
        )
    context = f" with the encryption context {placement.context}" if placement.context else ""
    sealed = (
        f"Sealed (kms:GenerateDataKey) only by {', '.join(placement.sealers)}"
        if placement.sealers
        else "No role of the stack is granted to seal them (kms:GenerateDataKey)"
    )
    opened = (
        f"opened (kms:Decrypt) only by {', '.join(placement.openers)}"
        if placement.openers
        else "none is granted to open them (kms:Decrypt)"
    )
    out.append(f"{sealed}; {opened}{context}.")
    if placement.assumed_roles:
        out.append(
            f"{spec.roles[:1].upper()}{spec.roles[1:]} ({placement.assumed_roles}) are assumed by {', '.join(placement.assumed_by)} "
            f"with STS in {placement.sts_region or 'a region the template does not show'}"
            + (" (the stack's interface endpoint)" if placement.sts_region else "")
            + "."
        )
    return out
