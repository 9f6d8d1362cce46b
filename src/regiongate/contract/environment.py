"""The environment of every runtime: each variable named here once, read by a typed ``from_env`` that names what
is missing, and set by the constructs through the builders below (so the names on both sides are the same)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from regiongate.contract.document import DocumentError, RuntimeConfig
from regiongate.contract.limits import CONSOLE_PORT, DATABASE_NAME, DATABASE_PORT, REGION_DOCUMENT_PATH

# --- the variables ------------------------------------------------------------------------------------------
REGION_CODE = "REGIONGATE_REGION_CODE"
REGION_DOCUMENT_FILE = "REGIONGATE_CONFIG_PATH"  # functions: the document's path (in a layer)
REGION_DOCUMENT_JSON = "REGIONGATE_REGION_DOCUMENT"  # console: the document itself, as JSON
DATABASE_URL = "DATABASE_URL"  # locally, instead of the DB_* variables
DB_HOST = "DB_HOST"
DB_PORT = "DB_PORT"
DB_NAME = "DB_NAME"
DB_SECRET_ARN = "DB_SECRET_ARN"
DB_CA_BUNDLE = "DB_CA_BUNDLE"
AUDIT_QUEUE_URL = "AUDIT_QUEUE_URL"
PROVIDER_SECRET_ARN = "PROVIDER_SECRET_ARN"
PROVIDER_CREDENTIALS_FILE = "REGIONGATE_PROVIDER_CREDENTIALS_FILE"  # locally, instead of PROVIDER_SECRET_ARN
LOG_LEVEL = "REGIONGATE_LOG_LEVEL"
CONSOLE_LISTEN_PORT = "CONSOLE_PORT"

_REGION_CODE_RE = re.compile(r"[a-z]{2,8}")


class SettingsError(RuntimeError):
    """A missing or invalid environment variable (the message names it)."""


def port_number(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name) or str(default)
    try:
        port = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a port number, got {raw!r}") from None
    if not 0 < port < 65536:
        raise SettingsError(f"{name} must be a port number, got {raw!r}")
    return port


def region_code(env: Mapping[str, str]) -> str:
    code = env.get(REGION_CODE, "")
    if not code:
        raise SettingsError(f"missing environment variable: {REGION_CODE}")
    if not _REGION_CODE_RE.fullmatch(code):
        raise SettingsError(f"{REGION_CODE} must be 2 to 8 lower-case letters, got {code!r}")
    return code


def _missing_database_variables(env: Mapping[str, str]) -> None:
    if env.get(DATABASE_URL):
        return
    missing = [name for name in (DB_HOST, DB_NAME, DB_SECRET_ARN) if not env.get(name)]
    if missing:
        raise SettingsError(f"missing environment variable(s): {', '.join(missing)} (or set {DATABASE_URL})")


# --- the functions (gateway, audit writer) ------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    region_code: str
    config_path: str
    database_url: str | None = None
    db_host: str | None = None
    db_port: int = DATABASE_PORT
    db_name: str | None = None
    db_secret_arn: str | None = None
    db_ca_bundle: str | None = None
    audit_queue_url: str | None = None
    provider_secret_arn: str | None = None
    provider_credentials_file: str | None = None
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        missing = [name for name in (REGION_CODE, REGION_DOCUMENT_FILE) if not env.get(name)]
        if missing:
            raise SettingsError(f"missing environment variable(s): {', '.join(missing)}")
        _missing_database_variables(env)
        return cls(
            region_code=env[REGION_CODE],
            config_path=env[REGION_DOCUMENT_FILE],
            database_url=env.get(DATABASE_URL) or None,
            db_host=env.get(DB_HOST) or None,
            db_port=port_number(env, DB_PORT, DATABASE_PORT),
            db_name=env.get(DB_NAME) or None,
            db_secret_arn=env.get(DB_SECRET_ARN) or None,
            db_ca_bundle=env.get(DB_CA_BUNDLE) or None,
            audit_queue_url=env.get(AUDIT_QUEUE_URL) or None,
            provider_secret_arn=env.get(PROVIDER_SECRET_ARN) or None,
            provider_credentials_file=env.get(PROVIDER_CREDENTIALS_FILE) or None,
            log_level=env.get(LOG_LEVEL, "INFO"),
        )

    def region_document(self) -> RuntimeConfig:
        """The document at ``config_path``, checked to be this region's (a mismatch names both variables)."""
        try:
            return RuntimeConfig.load(self.config_path, self.region_code)
        except DocumentError as exc:
            raise SettingsError(
                f"{REGION_DOCUMENT_FILE}={self.config_path} ({REGION_CODE}={self.region_code}): {exc}"
            ) from None


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process's settings (read once)."""
    return Settings.from_env()


# --- the console --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConsoleEnvironment:
    region: RuntimeConfig | None  # None when the caller gave the region (``read_region=False``)
    port: int
    database_url: str | None = None
    db_host: str | None = None
    db_port: int = DATABASE_PORT
    db_name: str | None = None
    db_secret_arn: str | None = None
    db_ca_bundle: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, read_region: bool = True) -> ConsoleEnvironment:
        """ECS: the region code and document, CONSOLE_PORT, DB_HOST/DB_PORT/DB_NAME + DB_SECRET_ARN (TLS).
        Locally: DATABASE_URL instead of the DB_* variables."""
        env = os.environ if env is None else env
        region: RuntimeConfig | None = None
        if read_region:
            code = region_code(env)
            text = env.get(REGION_DOCUMENT_JSON, "")
            if not text:
                raise SettingsError(f"missing environment variable: {REGION_DOCUMENT_JSON}")
            try:
                region = RuntimeConfig.from_json(text, REGION_DOCUMENT_JSON)
            except DocumentError as exc:
                raise SettingsError(str(exc)) from None
            if region.code != code:
                raise SettingsError(
                    f"{REGION_DOCUMENT_JSON} is the document of region {region.code}, but {REGION_CODE}={code}"
                )
        port = port_number(env, CONSOLE_LISTEN_PORT, CONSOLE_PORT)
        _missing_database_variables(env)
        return cls(
            region=region,
            port=port,
            database_url=env.get(DATABASE_URL) or None,
            db_host=env.get(DB_HOST) or None,
            db_port=port_number(env, DB_PORT, DATABASE_PORT),
            db_name=env.get(DB_NAME) or None,
            db_secret_arn=env.get(DB_SECRET_ARN) or None,
            db_ca_bundle=env.get(DB_CA_BUNDLE) or None,
        )


# --- what the constructs set --------------------------------------------------------------------------------
def database_environment(*, host: str, secret_arn: str) -> dict[str, str]:
    """Where the audit store is and which secret signs in to it (never the credentials themselves)."""
    return {DB_HOST: host, DB_PORT: str(DATABASE_PORT), DB_NAME: DATABASE_NAME, DB_SECRET_ARN: secret_arn}


def function_environment(*, code: str, database: Mapping[str, str]) -> dict[str, str]:
    """Every function: its region, where its document is, the audit store."""
    return {REGION_CODE: code, REGION_DOCUMENT_FILE: REGION_DOCUMENT_PATH, **database}


def gateway_environment(
    function: Mapping[str, str], *, audit_queue_url: str, provider_secret_arn: str
) -> dict[str, str]:
    return {**function, AUDIT_QUEUE_URL: audit_queue_url, PROVIDER_SECRET_ARN: provider_secret_arn}


def rotation_environment(function: Mapping[str, str]) -> dict[str, str]:
    """The secret to rotate is named in each event: no DB_SECRET_ARN, only the region and where to sign in."""
    return {name: value for name, value in function.items() if name != DB_SECRET_ARN}


def console_environment(*, region: RuntimeConfig, database: Mapping[str, str]) -> dict[str, str]:
    """The console task: its region and the region's document (a few KB of JSON), its port, the audit store."""
    return {
        REGION_CODE: region.code,
        CONSOLE_LISTEN_PORT: str(CONSOLE_PORT),
        **database,
        REGION_DOCUMENT_JSON: region.to_json(),
    }
