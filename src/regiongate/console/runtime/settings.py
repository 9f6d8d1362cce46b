"""The console's settings: one typed object, read from the environment once, naming any missing variable.

The variables and the region document are the contract's (:mod:`regiongate.contract.environment`): in ECS the
task's environment carries the same document the functions read, so the console shows exactly the deployed models.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from regiongate.contract import processing
from regiongate.contract.console_oidc import OidcSettings
from regiongate.contract.document import RuntimeConfig
from regiongate.contract.environment import CREDENTIALS_KEY_ARN, DB_SECRET_ARN, ConsoleEnvironment, SettingsError
from regiongate.contract.limits import DATABASE_PORT
from regiongate.store.connections import refreshing_connect
from regiongate.store.postgres import ConnectionParams

__all__ = ["ConsoleSettings", "Region", "SettingsError"]

_SECRET_ARN_RE = re.compile(r"arn:[a-z-]+:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+")


@dataclass(frozen=True)
class Region:
    """What the console needs to know about its region."""

    code: str
    display_name: str
    models: tuple[str, ...] = ()  # the region's model names (for key allowlists); empty: free text
    # The region document (None in tests that build a Region by hand): where the key pages say a key's models
    # may be processed (regiongate.contract.processing).
    document: RuntimeConfig | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, document: RuntimeConfig) -> Region:
        return cls(
            code=document.code, display_name=document.display_name, models=tuple(document.models), document=document
        )

    def processing(self, model_allowlist: tuple[str, ...] | None) -> list[str]:
        """Where a key with ``model_allowlist`` may have its prompts processed, one line per place."""
        return processing.describe_key(self.document, model_allowlist) if self.document is not None else []


@dataclass(frozen=True)
class ConsoleSettings:
    region: Region
    port: int
    # Locally: the DATABASE_URL parameters. In ECS: None, and the credentials are read from the secret at
    # DB_SECRET_ARN on first connection and again after a rotation (see ``connector``).
    db: ConnectionParams | None
    host: str = "0.0.0.0"
    secure_cookies: bool = True
    db_secret_arn: str | None = None
    db_host: str | None = None
    db_port: int = DATABASE_PORT
    db_name: str | None = None
    db_ca_bundle: str | None = None
    db_tls: str | None = None
    oidc: OidcSettings | None = None  # single sign-on (CONSOLE_OIDC_*), when the region configures it
    credentials_key_arn: str | None = None  # the stack key that seals orgs' provider keys (credentials_pages)

    @property
    def database_url(self) -> str | None:
        """Read by the store's ``connection_params``: the console resolves DATABASE_URL itself."""
        return None

    def connector(self) -> Callable[[], Any]:
        """Opens a database connection: the functions' own refresh-on-rotation path when credentials come from
        Secrets Manager, so a rotated password never locks the console out."""
        if self.db is not None:
            return self.db.connect
        assert self.db_secret_arn is not None  # from_env: DATABASE_URL or DB_SECRET_ARN
        region_name = self.db_secret_arn.split(":")[3]  # the secret lives in the console's own region
        return refreshing_connect(self, region_name)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, region: Region | None = None) -> ConsoleSettings:
        """ECS: REGIONGATE_REGION_CODE, REGIONGATE_REGION_DOCUMENT, CONSOLE_PORT, DB_HOST/DB_PORT/DB_NAME +
        DB_SECRET_ARN (TLS). Locally: DATABASE_URL instead of the DB_* variables. A ``region`` given by the
        caller replaces the first two."""
        settings = cls._from_env(env, region)
        variables = os.environ if env is None else env
        return replace(
            settings,
            oidc=OidcSettings.from_env(variables),
            credentials_key_arn=variables.get(CREDENTIALS_KEY_ARN) or None,
        )

    @classmethod
    def _from_env(cls, env: Mapping[str, str] | None, region: Region | None) -> ConsoleSettings:
        read = ConsoleEnvironment.from_env(env, read_region=region is None)
        if region is None:
            assert read.region is not None
            region = Region.of(read.region)
        if read.database_url:
            try:
                db = ConnectionParams.from_url(read.database_url, read.db_ca_bundle)
            except ValueError as exc:
                raise SettingsError(f"DATABASE_URL: {exc}") from None
            return cls(region=region, port=read.port, db=db)
        assert read.db_secret_arn is not None
        if not _SECRET_ARN_RE.fullmatch(read.db_secret_arn):
            raise SettingsError(f"{DB_SECRET_ARN} must be a Secrets Manager secret ARN, got {read.db_secret_arn!r}")
        return cls(
            region=region,
            port=read.port,
            db=None,
            db_secret_arn=read.db_secret_arn,
            db_host=read.db_host,
            db_port=read.db_port,
            db_name=read.db_name,
            db_ca_bundle=read.db_ca_bundle,
            db_tls=read.db_tls,
        )
