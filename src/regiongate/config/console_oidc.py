"""``console_oidc`` of a regions.yaml entry: the console's single sign-on (OpenID Connect, code flow + PKCE).

    console_oidc:
      issuer: https://login.example.com/realms/eu       # discovery at <issuer>/.well-known/openid-configuration
      client_id: regiongate-console-eu
      client_secret_arn: arn:aws:secretsmanager:eu-central-1:123456789012:secret:console-oidc-AbCdEf  # optional
      groups_claim: groups                              # default: groups
      extra_hosts: [keys.login.example.com]             # optional: hosts of its endpoints beyond the issuer's
      roles:                                            # a group value -> an org and role; nobody else signs in
        - {group: rg-acme-admins, org: acme, role: org_admin}
        - {group: rg-acme-viewers, org: acme, role: org_viewer}

The client secret lives in the region's Secrets Manager: an existing secret of the stack's own account and region
(``client_secret_arn``), or, without it, a secret the stack creates (encrypted with the stack key) whose
``client_secret`` the operator sets once. The console task may read that secret only. Its egress reaches the
issuer's host (and ``extra_hosts``) through the NAT, by name, behind the VPC's DNS firewall.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from regiongate.config.reader import JsonSchema, Reader, key_path
from regiongate.contract.console_oidc import ROLES, ClaimMapping, RoleMapping

KEY = "console_oidc"
KEYS = ("issuer", "client_id", "client_secret_arn", "groups_claim", "email_claim", "extra_hosts", "roles")
REQUIRED = ("issuer", "client_id", "roles")
ROLE_KEYS = ("group", "org", "role")
ISSUER_RE = re.compile(r"^https://[a-z0-9.-]+(?::\d{1,5})?(?:/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?$")
HOST_RE = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")
CLIENT_ID_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
CLAIM_RE = re.compile(r"^[A-Za-z0-9_:./-]{1,128}$")
ORG_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
SECRET_ARN_RE = re.compile(
    r"^arn:(?P<partition>[a-z-]+):secretsmanager:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):secret:[A-Za-z0-9/_+=.@-]+$"
)
MAX_ROLES = 200


@dataclass(frozen=True)
class ConsoleOidc:
    issuer: str
    client_id: str
    mapping: ClaimMapping
    client_secret_arn: str | None = None  # None: the stack creates the secret
    extra_hosts: tuple[str, ...] = ()

    @property
    def hosts(self) -> tuple[str, ...]:
        """The names the console resolves and reaches for sign-in: the issuer's host, then ``extra_hosts``."""
        return tuple(dict.fromkeys(((urlsplit(self.issuer).hostname or ""), *self.extra_hosts)))


def parse_console_oidc(
    reader: Reader, raw: Mapping[str, Any], key: str, *, console: bool, partition: str, aws_region: str, account: str
) -> ConsoleOidc | None:
    value = raw.get(KEY)
    if value is None:
        return None
    where = key_path(key, KEY)
    if not console:
        raise reader.fail(where, "needs the console (console: true): single sign-on is the console's")
    section = reader.mapping(value, where, KEYS, REQUIRED)
    issuer = reader.string(section["issuer"], key_path(where, "issuer"), ISSUER_RE, "an https URL, the issuer exactly")
    client_id = reader.string(section["client_id"], key_path(where, "client_id"), CLIENT_ID_RE, "a client id")
    secret_arn = None
    if section.get("client_secret_arn") is not None:
        secret_key = key_path(where, "client_secret_arn")
        secret_arn = reader.string(section["client_secret_arn"], secret_key, SECRET_ARN_RE, "a Secrets Manager ARN")
        match = SECRET_ARN_RE.match(secret_arn)
        assert match is not None
        if (match["partition"], match["region"], match["account"]) != (partition, aws_region, account):
            raise reader.fail(
                secret_key,
                f"the secret must be in the stack's own partition, region and account "
                f"(arn:{partition}:secretsmanager:{aws_region}:{account}:secret:…): the region's secrets stay in it",
            )
    groups_claim = "groups"
    if section.get("groups_claim") is not None:
        groups_claim = reader.string(section["groups_claim"], key_path(where, "groups_claim"), CLAIM_RE, "a claim name")
    email_claim = "email"
    if section.get("email_claim") is not None:
        email_claim = reader.string(section["email_claim"], key_path(where, "email_claim"), CLAIM_RE, "a claim name")
    extra_hosts: tuple[str, ...] = ()
    if section.get("extra_hosts") is not None:
        extra_hosts = reader.string_list(section["extra_hosts"], key_path(where, "extra_hosts"))
        for index, host in enumerate(extra_hosts):
            if not HOST_RE.match(host):
                raise reader.fail(
                    f"{key_path(where, 'extra_hosts')}[{index}]", f"{host!r} is not a lower-case DNS name"
                )
    roles = _parse_roles(reader, section["roles"], key_path(where, "roles"))
    return ConsoleOidc(
        issuer=issuer,
        client_id=client_id,
        mapping=ClaimMapping(groups_claim=groups_claim, roles=roles, email_claim=email_claim),
        client_secret_arn=secret_arn,
        extra_hosts=extra_hosts,
    )


def _parse_roles(reader: Reader, value: Any, key: str) -> tuple[RoleMapping, ...]:
    if not isinstance(value, list) or not value:
        raise reader.fail(key, "must list at least one {group, org, role}: nobody else can sign in by SSO")
    if len(value) > MAX_ROLES:
        raise reader.fail(key, f"at most {MAX_ROLES} mappings")
    roles: list[RoleMapping] = []
    for index, item in enumerate(value):
        where = f"{key}[{index}]"
        item = reader.mapping(item, where, ROLE_KEYS, ("group", "role"))
        group = reader.string(item["group"], key_path(where, "group"))
        role = reader.string(item["role"], key_path(where, "role"))
        if role not in ROLES:
            raise reader.fail(key_path(where, "role"), f"{role!r} is not a role; valid: {', '.join(ROLES)}")
        org = None
        if role == "platform_admin":
            if item.get("org") is not None:
                raise reader.fail(key_path(where, "org"), "a platform admin belongs to no organisation: remove org")
        else:
            if item.get("org") is None:
                raise reader.fail(key_path(where, "org"), f"is required for {role}")
            org = reader.string(item["org"], key_path(where, "org"), ORG_RE, "an organisation id")
        if any(r.group == group for r in roles):
            raise reader.fail(key_path(where, "group"), f"{group!r} is mapped twice; map each group once")
        roles.append(RoleMapping(group=group, role=role, org_id=org))
    return tuple(roles)


def schema() -> JsonSchema:
    string = {"type": "string", "minLength": 1}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(REQUIRED),
        "description": "The console's single sign-on (OpenID Connect authorization code flow with PKCE).",
        "properties": {
            "issuer": {**string, "pattern": ISSUER_RE.pattern, "description": "the issuer URL, exactly"},
            "client_id": {**string, "pattern": CLIENT_ID_RE.pattern},
            "client_secret_arn": {
                **string,
                "pattern": SECRET_ARN_RE.pattern,
                "description": "a secret of the stack's own account and region (default: the stack creates one)",
            },
            "groups_claim": {**string, "pattern": CLAIM_RE.pattern, "description": "default: groups"},
            "email_claim": {**string, "pattern": CLAIM_RE.pattern, "description": "default: email"},
            "extra_hosts": {
                "type": "array",
                "minItems": 1,
                "items": {**string, "pattern": HOST_RE.pattern},
                "description": "hosts of the issuer's endpoints beyond the issuer's own (egress and DNS firewall)",
            },
            "roles": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_ROLES,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["group", "role"],
                    "properties": {
                        "group": string,
                        "org": {**string, "pattern": ORG_RE.pattern},
                        "role": {"enum": list(ROLES)},
                    },
                },
                "description": "A value of the groups claim -> an org and role; unmapped users are refused.",
            },
        },
    }
