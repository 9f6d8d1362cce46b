"""The console's single sign-on (OpenID Connect) settings, as the stack hands them to the console task.

regions.yaml ``console_oidc`` (regiongate.config.console_oidc) is parsed at synth time; the console construct puts
these variables in the task's environment and grants the task read access to the client secret. The secret's
value never appears in the environment: the console reads it from Secrets Manager (locally, from
``CONSOLE_OIDC_CLIENT_SECRET``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from regiongate.contract.environment import SettingsError

ISSUER = "CONSOLE_OIDC_ISSUER"
CLIENT_ID = "CONSOLE_OIDC_CLIENT_ID"
CLIENT_SECRET_ARN = "CONSOLE_OIDC_CLIENT_SECRET_ARN"
CLIENT_SECRET = "CONSOLE_OIDC_CLIENT_SECRET"  # locally only, instead of the ARN
REDIRECT_URI = "CONSOLE_OIDC_REDIRECT_URI"
MAPPING = "CONSOLE_OIDC_MAPPING"  # JSON: the claim mapping (groups claim, group -> org + role)

ROLES = ("platform_admin", "org_admin", "org_viewer")
CALLBACK_PATH = "/login/sso/callback"
ORG_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class RoleMapping:
    """Members of ``group`` (a value of the groups claim) are ``role`` in ``org_id`` (None: platform admin)."""

    group: str
    role: str
    org_id: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"group": self.group, "role": self.role, "org": self.org_id}


@dataclass(frozen=True)
class ClaimMapping:
    groups_claim: str
    roles: tuple[RoleMapping, ...]
    email_claim: str = "email"

    def to_json(self) -> str:
        return json.dumps(
            {
                "groups_claim": self.groups_claim,
                "email_claim": self.email_claim,
                "roles": [r.to_json() for r in self.roles],
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> ClaimMapping:
        try:
            raw = json.loads(text)
            roles = tuple(
                RoleMapping(group=str(r["group"]), role=str(r["role"]), org_id=r.get("org")) for r in raw["roles"]
            )
            mapping = cls(groups_claim=str(raw["groups_claim"]), roles=roles, email_claim=str(raw["email_claim"]))
        except (ValueError, KeyError, TypeError):
            raise SettingsError(
                f"{MAPPING} is not a claim mapping (JSON with groups_claim, email_claim, roles)"
            ) from None
        for role in mapping.roles:
            check_role_mapping(role)
        if not mapping.roles:
            raise SettingsError(f"{MAPPING} maps no group to a role: nobody could sign in")
        return mapping


def check_role_mapping(role: RoleMapping) -> None:
    if not role.group:
        raise SettingsError("a role mapping needs a group")
    if role.role not in ROLES:
        raise SettingsError(f"role {role.role!r} is not one of {', '.join(ROLES)}")
    if role.role == "platform_admin":
        if role.org_id is not None:
            raise SettingsError("a platform admin belongs to no organisation: drop org")
    elif role.org_id is None or not ORG_RE.match(role.org_id):
        raise SettingsError(f"group {role.group!r}: an org_admin or org_viewer mapping needs an organisation id")


def check_issuer(issuer: str) -> str:
    """An https URL without query or fragment (http only on loopback, for tests and local runs)."""
    parts = urlsplit(issuer)
    host = parts.hostname or ""
    if parts.query or parts.fragment or not host:
        raise SettingsError(f"the OIDC issuer must be a URL without query or fragment, got {issuer!r}")
    if parts.scheme != "https" and not (parts.scheme == "http" and host in LOOPBACK_HOSTS):
        raise SettingsError(f"the OIDC issuer must be an https URL, got {issuer!r}")
    return issuer


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    client_id: str
    redirect_uri: str
    mapping: ClaimMapping
    client_secret_arn: str | None = None
    client_secret: str | None = None  # locally only

    def environment(self) -> dict[str, str]:
        """The task's variables (never the secret's value)."""
        assert self.client_secret_arn is not None
        return {
            ISSUER: self.issuer,
            CLIENT_ID: self.client_id,
            CLIENT_SECRET_ARN: self.client_secret_arn,
            REDIRECT_URI: self.redirect_uri,
            MAPPING: self.mapping.to_json(),
        }

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OidcSettings | None:
        """None when single sign-on is not configured (no CONSOLE_OIDC_ISSUER)."""
        issuer = env.get(ISSUER)
        if not issuer:
            return None
        missing = [name for name in (CLIENT_ID, REDIRECT_URI, MAPPING) if not env.get(name)]
        if not env.get(CLIENT_SECRET_ARN) and not env.get(CLIENT_SECRET):
            missing.append(CLIENT_SECRET_ARN)
        if missing:
            raise SettingsError(f"{ISSUER} is set, so single sign-on needs {', '.join(missing)} as well")
        return cls(
            issuer=check_issuer(issuer),
            client_id=env[CLIENT_ID],
            redirect_uri=env[REDIRECT_URI],
            mapping=ClaimMapping.from_json(env[MAPPING]),
            client_secret_arn=env.get(CLIENT_SECRET_ARN) or None,
            client_secret=env.get(CLIENT_SECRET) or None,
        )
