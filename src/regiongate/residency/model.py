"""What a rule sees and returns, and the helpers rules share (template walking, intrinsics, ARNs).

A rule is a pure function ``check(resource, policy) -> RuleResult``. ``resource`` is one CloudFormation
resource as synthesized (its properties are template JSON: literal values and intrinsics such as
``{"Ref": ...}``, ``{"Fn::GetAtt": ...}``, ``{"Fn::Join": ...}``) together with read-only access to the
rest of its template, so a rule can tell that ``{"Fn::GetAtt": ["Key1234", "Arn"]}`` is the stack's own key.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from regiongate.residency.policy import ResidencyPolicy


class Compliance(enum.Enum):
    COMPLIANT = "compliant"
    NON_COMPLIANT = "non-compliant"
    NOT_APPLICABLE = "not applicable"


@dataclass(frozen=True)
class Detail:
    """One reason a resource fails: where (a property path such as ``Properties/ReplicaRegions/0``) and what."""

    location: str
    message: str


@dataclass(frozen=True)
class RuleResult:
    compliance: Compliance
    details: tuple[Detail, ...] = ()

    @property
    def failed(self) -> bool:
        return self.compliance is Compliance.NON_COMPLIANT


COMPLIANT = RuleResult(Compliance.COMPLIANT)
NOT_APPLICABLE = RuleResult(Compliance.NOT_APPLICABLE)


def non_compliant(details: list[Detail] | tuple[Detail, ...]) -> RuleResult:
    return RuleResult(Compliance.NON_COMPLIANT, tuple(details))


def verdict(details: list[Detail]) -> RuleResult:
    """Non-compliant with ``details``, or compliant when there are none."""
    return non_compliant(details) if details else COMPLIANT


@dataclass(frozen=True)
class Resource:
    logical_id: str
    type: str
    properties: Mapping[str, Any]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    template: Mapping[str, Any] = field(default_factory=dict)

    def other(self, logical_id: str) -> Mapping[str, Any] | None:
        return self.template.get("Resources", {}).get(logical_id)

    def type_of(self, logical_id: str) -> str | None:
        other = self.other(logical_id)
        return other.get("Type") if other else None


Check = Callable[[Resource, ResidencyPolicy], RuleResult]


def resources_of(template: Mapping[str, Any]) -> Iterator[Resource]:
    for logical_id, body in (template.get("Resources") or {}).items():
        yield Resource(
            logical_id=logical_id,
            type=body.get("Type", ""),
            properties=body.get("Properties") or {},
            metadata=body.get("Metadata") or {},
            template=template,
        )


# --- walking ---------------------------------------------------------------------------------------


def walk_strings(
    value: Any, path: str = "Properties", skip_keys: frozenset[str] = frozenset()
) -> Iterator[tuple[str, str]]:
    """Every literal string under ``value`` with its path; subtrees under ``skip_keys`` are left out."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key in skip_keys:
                continue
            yield from walk_strings(item, f"{path}/{key}", skip_keys)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk_strings(item, f"{path}/{index}", skip_keys)


_STRING_BUILDERS = frozenset({"Fn::Join", "Fn::Sub"})


def walk_rendered_strings(
    value: Any,
    resource: Resource,
    policy: ResidencyPolicy,
    path: str = "Properties",
    skip_keys: frozenset[str] = frozenset(),
) -> Iterator[tuple[str, str]]:
    """Like :func:`walk_strings`, but an ``Fn::Join``/``Fn::Sub`` is one string, rendered for this stack.

    ``{"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":bedrock:eu-west-1::…"]]}`` is then checked as
    ``arn:aws:bedrock:eu-west-1::…``, not as the fragment ``:bedrock:eu-west-1::…``.
    """
    if isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in _STRING_BUILDERS:
        yield path, render(value, resource, policy)
    elif isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key in skip_keys:
                continue
            yield from walk_rendered_strings(item, resource, policy, f"{path}/{key}", skip_keys)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk_rendered_strings(item, resource, policy, f"{path}/{index}", skip_keys)


def policy_statements(value: Any, path: str = "Properties") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every IAM-style statement (a mapping with ``Effect``) anywhere under ``value``."""
    if isinstance(value, Mapping):
        if "Effect" in value and ("Action" in value or "NotAction" in value):
            yield path, value
            return
        for key, item in value.items():
            yield from policy_statements(item, f"{path}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from policy_statements(item, f"{path}/{index}")


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def get_path(value: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(value, Mapping):
            value = value.get(key)
        elif isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
            value = value[key]
        else:
            return None
    return value


# --- regions ---------------------------------------------------------------------------------------

REGION_RE = re.compile(
    r"(?<![A-Za-z0-9])((?:us-gov|us|eu|ap|sa|ca|me|af|il|mx|cn)-"
    r"(?:north|south|east|west|central|northeast|southeast|northwest|southwest|iso-east|isob-east)-\d{1,2})"
    r"[a-z]?(?![A-Za-z0-9])"
)


def regions_in(text: str) -> list[str]:
    """AWS region codes written in ``text`` (an availability zone such as ``eu-central-1a`` counts as its region)."""
    return REGION_RE.findall(text)


# --- intrinsics ------------------------------------------------------------------------------------

UNKNOWN = "\u27e8?\u27e9"  # a value that cannot be known from the template (import, parameter, condition)


def _own_arn(resource: Resource, logical_id: str, policy: ResidencyPolicy) -> str:
    other_type = resource.type_of(logical_id) or "AWS::Unknown::Unknown"
    service = other_type.split("::")[1].lower() if other_type.count("::") == 2 else "unknown"
    account = policy.account or "\u27e8own-account\u27e9"
    return f"arn:{policy.partition}:{service}:{policy.home_region}:{account}:\u27e8own:{logical_id}\u27e9"


def render(value: Any, resource: Resource, policy: ResidencyPolicy) -> str:
    """A template value as the string it will become in this stack, with unknowables as placeholders.

    Pseudo parameters take the stack's own values; an ``Fn::GetAtt`` ``Arn`` of a resource of the same
    template becomes an ARN in the home region and own account; anything else unknown becomes ``⟨?⟩``.
    """
    result = _render(value, resource, policy)
    if isinstance(result, list):
        return ",".join(result)
    return result


def _pseudo(name: str, policy: ResidencyPolicy) -> str | None:
    return {
        "AWS::Region": policy.home_region,
        "AWS::Partition": policy.partition,
        "AWS::URLSuffix": policy.url_suffix,
        "AWS::AccountId": policy.account or "\u27e8own-account\u27e9",
        "AWS::StackName": "\u27e8stack-name\u27e9",
        "AWS::StackId": "\u27e8stack-id\u27e9",
        "AWS::NoValue": "",
    }.get(name)


def _render(value: Any, resource: Resource, policy: ResidencyPolicy) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, bool)):
        return str(value).lower() if isinstance(value, bool) else str(value)
    if isinstance(value, list):
        return [render(item, resource, policy) for item in value]
    if not isinstance(value, Mapping) or len(value) != 1:
        return UNKNOWN
    ((function, argument),) = value.items()
    if function == "Ref":
        pseudo = _pseudo(argument, policy)
        if pseudo is not None:
            return pseudo
        if resource.other(argument) is not None:
            return f"\u27e8own:{argument}\u27e9"
        return UNKNOWN
    if function == "Fn::GetAtt":
        target, attribute = (argument.split(".", 1) + [""])[:2] if isinstance(argument, str) else (argument + [""])[:2]
        if resource.other(target) is None:
            return UNKNOWN
        if attribute == "Arn" or attribute.endswith(".Arn") or attribute.endswith("Arn"):
            return _own_arn(resource, target, policy)
        return f"\u27e8own:{target}.{attribute}\u27e9"
    if function == "Fn::Join" and isinstance(argument, list) and len(argument) == 2:
        separator, parts = argument
        rendered = _render(parts, resource, policy)
        if not isinstance(rendered, list):
            return UNKNOWN
        return str(separator).join(str(part) for part in rendered)
    if function == "Fn::Split" and isinstance(argument, list) and len(argument) == 2:
        return render(argument[1], resource, policy).split(str(argument[0]))
    if function == "Fn::Select" and isinstance(argument, list) and len(argument) == 2:
        items = _render(argument[1], resource, policy)
        try:
            return items[int(argument[0])] if isinstance(items, list) else UNKNOWN
        except (ValueError, IndexError):
            return UNKNOWN
    if function == "Fn::Sub":
        text, variables = (
            (argument, {}) if isinstance(argument, str) else (argument[0], argument[1] if len(argument) > 1 else {})
        )

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return render(variables[name], resource, policy)
            if "." in name:
                return render({"Fn::GetAtt": name.split(".", 1)}, resource, policy)
            return render({"Ref": name}, resource, policy)

        return re.sub(r"\$\{([^!}][^}]*)\}", substitute, text)
    if function == "Fn::GetAZs":
        return [f"{policy.home_region}{letter}" for letter in "abc"]
    return UNKNOWN


def is_own(rendered: str) -> bool:
    """A rendered value that is (only) a reference to a resource of the same template."""
    return rendered.startswith("\u27e8own:") and rendered.endswith("\u27e9") and rendered.count("\u27e8") == 1


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str


def parse_arn(text: str) -> Arn | None:
    parts = text.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return None
    return Arn(*parts[1:6])


def check_in_region(rendered: str, policy: ResidencyPolicy, *, location: str, what: str) -> Detail | None:
    """``None`` if ``rendered`` is provably in the home region and own account, else a detail saying why not."""
    if is_own(rendered):
        return None
    arn = parse_arn(rendered)
    if arn is None:
        return Detail(
            location, f"{what} {rendered!r} is not an ARN of this stack: cannot prove it stays in {policy.home_region}"
        )
    if arn.region != policy.home_region:
        return Detail(
            location, f"{what} {rendered!r} is in region {arn.region or '(global)'}, not {policy.home_region}"
        )
    own_account = policy.account or "\u27e8own-account\u27e9"
    if arn.account not in (own_account, "\u27e8own-account\u27e9"):
        return Detail(location, f"{what} {rendered!r} is in account {arn.account}, not this stack's account")
    if arn.partition != policy.partition:
        return Detail(location, f"{what} {rendered!r} is in partition {arn.partition}, not {policy.partition}")
    return None


# --- keys ------------------------------------------------------------------------------------------


def is_own_key(value: Any, resource: Resource, policy: ResidencyPolicy) -> bool:
    """Whether a KMS key reference points at a customer-managed key defined in the same template."""
    if value is None:
        return False
    if isinstance(value, Mapping) and len(value) == 1:
        ((function, argument),) = value.items()
        target = None
        if function == "Ref" and isinstance(argument, str):
            target = argument
        elif function == "Fn::GetAtt":
            target = argument.split(".", 1)[0] if isinstance(argument, str) else argument[0]
        if target is not None:
            target_type = resource.type_of(target)
            if target_type == "AWS::KMS::Key":
                return True
            if target_type == "AWS::KMS::Alias":
                alias = resource.other(target) or {}
                return is_own_key(get_path(alias, "Properties", "TargetKeyId"), resource, policy)
            return False
    rendered = render(value, resource, policy)
    if rendered in policy.extra_key_arns:
        return True
    if isinstance(value, str) and value.startswith("alias/"):
        for other in (resource.template.get("Resources") or {}).values():
            if other.get("Type") == "AWS::KMS::Alias" and get_path(other, "Properties", "AliasName") == value:
                return is_own_key(get_path(other, "Properties", "TargetKeyId"), resource, policy)
    return False
