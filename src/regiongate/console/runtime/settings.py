"""The console's settings: one typed object, read from the environment once, naming any missing variable."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from regiongate.console.runtime import PORT
from regiongate.store.postgres import ConnectionParams


class SettingsError(RuntimeError):
    """A missing or invalid environment variable (the message names it)."""


@dataclass(frozen=True)
class Region:
    """What the console needs to know about its region."""

    code: str
    display_name: str
    models: tuple[str, ...] = ()  # the region's model names (for key allowlists); empty: free text


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
    db_port: int = 5432
    db_name: str | None = None
    db_ca_bundle: str | None = None

    @property
    def database_url(self) -> str | None:
        """Read by the gateway's ``connection_params``: the console resolves DATABASE_URL itself."""
        return None

    def connector(self) -> Callable[[], Any]:
        """Opens a database connection: the gateway's own refresh-on-rotation path when credentials come from
        Secrets Manager, so a rotated password never locks the console out."""
        if self.db is not None:
            return self.db.connect
        from regiongate.gateway.runtime.app import secret_json_fetcher
        from regiongate.store.postgres import RefreshingConnect, connection_params

        region_name = self.db_secret_arn.split(":")[3]  # the secret lives in the console's own region
        return RefreshingConnect(lambda: connection_params(self, secret_json_fetcher(region_name)))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, region: Region | None = None) -> ConsoleSettings:
        """ECS: REGIONGATE_REGION_CODE, CONSOLE_PORT, DB_HOST/DB_PORT/DB_NAME + DB_SECRET_ARN (TLS).
        Locally: DATABASE_URL instead of the DB_* variables."""
        env = os.environ if env is None else env
        if region is None:
            code = env.get("REGIONGATE_REGION_CODE", "")
            if not code:
                raise SettingsError("missing environment variable: REGIONGATE_REGION_CODE")
            if not re.fullmatch(r"[a-z]{2,8}", code):
                raise SettingsError(f"REGIONGATE_REGION_CODE must be 2 to 8 lower-case letters, got {code!r}")
            region = region_from_catalogue(code, env.get("REGIONGATE_REGIONS_FILE"))
        try:
            port = int(env.get("CONSOLE_PORT", str(PORT)))
        except ValueError:
            raise SettingsError(f"CONSOLE_PORT must be a port number, got {env.get('CONSOLE_PORT')!r}") from None
        if env.get("DATABASE_URL"):
            try:
                db = ConnectionParams.from_url(env["DATABASE_URL"])
            except ValueError as exc:
                raise SettingsError(f"DATABASE_URL: {exc}") from None
            return cls(region=region, port=port, db=db)
        missing = [n for n in ("DB_HOST", "DB_NAME", "DB_SECRET_ARN") if not env.get(n)]
        if missing:
            raise SettingsError(f"missing environment variable(s): {', '.join(missing)} (or set DATABASE_URL)")
        if not re.fullmatch(r"arn:[a-z-]+:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+", env["DB_SECRET_ARN"]):
            raise SettingsError(f"DB_SECRET_ARN must be a Secrets Manager secret ARN, got {env['DB_SECRET_ARN']!r}")
        try:
            db_port = int(env.get("DB_PORT", "5432"))
        except ValueError:
            raise SettingsError(f"DB_PORT must be a port number, got {env.get('DB_PORT')!r}") from None
        return cls(
            region=region,
            port=port,
            db=None,
            db_secret_arn=env["DB_SECRET_ARN"],
            db_host=env["DB_HOST"],
            db_port=db_port,
            db_name=env["DB_NAME"],
            db_ca_bundle=env.get("DB_CA_BUNDLE") or None,
        )


def region_from_catalogue(code: str, path: str | None = None) -> Region:
    """The region's display name and models from regions.yaml (shipped in the image), or just its code."""
    try:
        from regiongate.config.regions import DEFAULT_CONFIG_PATH, load_catalogue
    except ImportError:  # the catalogue is optional: keys then take free-text model names
        return Region(code=code, display_name=code.upper())
    catalogue_path = path or DEFAULT_CONFIG_PATH
    if not os.path.exists(catalogue_path):
        return Region(code=code, display_name=code.upper())
    config = load_catalogue(catalogue_path).region(code)
    models = tuple(m.name for m in config.gateway.models) if config.gateway is not None else ()
    return Region(code=config.code, display_name=config.display_name, models=models)
