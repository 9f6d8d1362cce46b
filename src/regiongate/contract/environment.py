"""The environment of every runtime: each variable named here once, read by a typed ``from_env`` that names what
is missing, and set by the constructs through the builders below (so the names on both sides are the same)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from regiongate.contract.document import DocumentError, RuntimeConfig
from regiongate.contract.limits import (
    CONSOLE_PORT,
    DATABASE_NAME,
    DATABASE_PORT,
    DEFAULT_AUDIT_BUFFER_EVENTS,
    GATEWAY_PORT,
    REGION_DOCUMENT_PATH,
)

# --- the variables ------------------------------------------------------------------------------------------
REGION_CODE = "REGIONGATE_REGION_CODE"
REGION_DOCUMENT_FILE = "REGIONGATE_CONFIG_PATH"  # functions: the document's path (in a layer)
REGION_DOCUMENT_JSON = "REGIONGATE_REGION_DOCUMENT"  # console and gateway container: the document, as JSON
DATABASE_URL = "DATABASE_URL"  # locally, instead of the DB_* variables
DB_HOST = "DB_HOST"
DB_PORT = "DB_PORT"
DB_NAME = "DB_NAME"
DB_SECRET_ARN = "DB_SECRET_ARN"
DB_CA_BUNDLE = "DB_CA_BUNDLE"  # the CA file the server certificate is verified against (verify-full)
# Set only where the deployment acknowledged an unverified connection (regions.yaml database_tls).
DB_TLS = "DB_TLS"
DB_TLS_UNVERIFIED = "unverified-acknowledged"
AUDIT_QUEUE_URL = "AUDIT_QUEUE_URL"
PROVIDER_SECRET_ARN = "PROVIDER_SECRET_ARN"
PROVIDER_CREDENTIALS_FILE = "REGIONGATE_PROVIDER_CREDENTIALS_FILE"  # locally, instead of PROVIDER_SECRET_ARN
# The stack key's ARN: envelope encryption of the orgs' own provider credentials (regiongate.store.provider_credentials).
CREDENTIALS_KEY_ARN = "REGIONGATE_CREDENTIALS_KEY_ARN"
LOG_LEVEL = "REGIONGATE_LOG_LEVEL"
CONSOLE_LISTEN_PORT = "CONSOLE_PORT"
GATEWAY_LISTEN_PORT = "GATEWAY_PORT"  # the gateway container
# The gateway container: audit events it may hold while the queue is unreachable (then new requests get 503).
AUDIT_BUFFER_EVENTS = "REGIONGATE_AUDIT_BUFFER_EVENTS"
# The gateway container: how many server processes share its port (the task's vCPUs; regiongate.gateway.runtime.processes).
GATEWAY_PROCESSES = "REGIONGATE_GATEWAY_PROCESSES"
MAX_GATEWAY_PROCESSES = 64

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
    tls = env.get(DB_TLS)
    if tls and tls != DB_TLS_UNVERIFIED:
        raise SettingsError(f"{DB_TLS} must be {DB_TLS_UNVERIFIED} or unset, got {tls!r}")
    if env.get(DATABASE_URL):
        return
    missing = [name for name in (DB_HOST, DB_NAME, DB_SECRET_ARN) if not env.get(name)]
    if missing:
        raise SettingsError(f"missing environment variable(s): {', '.join(missing)} (or set {DATABASE_URL})")
    if not env.get(DB_CA_BUNDLE) and not tls:
        # Refused at start, not at the first request: the server's certificate could never be verified.
        raise SettingsError(
            f"{DB_HOST} is set but {DB_CA_BUNDLE} is not: a database connection must verify the server's certificate "
            f"against the RDS CA bundle (the stack sets {DB_CA_BUNDLE}); an unverified connection needs the "
            f"deployment's explicit acknowledgement ({DB_TLS}={DB_TLS_UNVERIFIED})"
        )


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
    db_tls: str | None = None
    audit_queue_url: str | None = None
    provider_secret_arn: str | None = None
    provider_credentials_file: str | None = None
    log_level: str = "INFO"
    credentials_key_arn: str | None = None

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
            db_tls=env.get(DB_TLS) or None,
            audit_queue_url=env.get(AUDIT_QUEUE_URL) or None,
            provider_secret_arn=env.get(PROVIDER_SECRET_ARN) or None,
            provider_credentials_file=env.get(PROVIDER_CREDENTIALS_FILE) or None,
            log_level=env.get(LOG_LEVEL, "INFO"),
            credentials_key_arn=env.get(CREDENTIALS_KEY_ARN) or None,
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
    db_tls: str | None = None
    credentials_key_arn: str | None = None

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
            db_tls=env.get(DB_TLS) or None,
            credentials_key_arn=env.get(CREDENTIALS_KEY_ARN) or None,
        )


# --- the gateway container ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class GatewayContainerEnvironment:
    """The gateway task: the Lambda's variables, except that the document comes as JSON in
    ``REGIONGATE_REGION_DOCUMENT`` (a task has no layer; its root file system is read-only), and its port."""

    settings: Settings  # config_path is empty: the document is ``region``
    region: RuntimeConfig
    port: int
    audit_buffer_events: int = DEFAULT_AUDIT_BUFFER_EVENTS
    # Server processes on the port (1: one process, no supervisor); each holds its own audit buffer.
    processes: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GatewayContainerEnvironment:
        env = os.environ if env is None else env
        code = region_code(env)
        region = _document_from_environment(env, code)
        port = port_number(env, GATEWAY_LISTEN_PORT, GATEWAY_PORT)
        _missing_database_variables(env)
        if not env.get(AUDIT_QUEUE_URL):
            raise SettingsError(
                f"missing environment variable: {AUDIT_QUEUE_URL} (the gateway serves no request it cannot audit)"
            )
        settings = Settings(
            region_code=code,
            config_path="",
            database_url=env.get(DATABASE_URL) or None,
            db_host=env.get(DB_HOST) or None,
            db_port=port_number(env, DB_PORT, DATABASE_PORT),
            db_name=env.get(DB_NAME) or None,
            db_secret_arn=env.get(DB_SECRET_ARN) or None,
            db_ca_bundle=env.get(DB_CA_BUNDLE) or None,
            db_tls=env.get(DB_TLS) or None,
            audit_queue_url=env[AUDIT_QUEUE_URL],
            provider_secret_arn=env.get(PROVIDER_SECRET_ARN) or None,
            provider_credentials_file=env.get(PROVIDER_CREDENTIALS_FILE) or None,
            log_level=env.get(LOG_LEVEL, "INFO"),
            credentials_key_arn=env.get(CREDENTIALS_KEY_ARN) or None,
        )
        raw_buffer = env.get(AUDIT_BUFFER_EVENTS) or str(DEFAULT_AUDIT_BUFFER_EVENTS)
        if not raw_buffer.isdigit() or int(raw_buffer) < 1:
            raise SettingsError(f"{AUDIT_BUFFER_EVENTS} must be a positive number of events, got {raw_buffer!r}")
        return cls(
            settings=settings,
            region=region,
            port=port,
            audit_buffer_events=int(raw_buffer),
            processes=gateway_processes(env),
        )


def gateway_processes(env: Mapping[str, str]) -> int:
    raw = env.get(GATEWAY_PROCESSES) or "1"
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_GATEWAY_PROCESSES:
        raise SettingsError(
            f"{GATEWAY_PROCESSES} must be a number of server processes from 1 to {MAX_GATEWAY_PROCESSES}, got {raw!r}"
        )
    return int(raw)


def _document_from_environment(env: Mapping[str, str], code: str) -> RuntimeConfig:
    text = env.get(REGION_DOCUMENT_JSON, "")
    if not text:
        raise SettingsError(f"missing environment variable: {REGION_DOCUMENT_JSON}")
    try:
        region = RuntimeConfig.from_json(text, REGION_DOCUMENT_JSON)
    except DocumentError as exc:
        raise SettingsError(str(exc)) from None
    if region.code != code:
        raise SettingsError(f"{REGION_DOCUMENT_JSON} is the document of region {region.code}, but {REGION_CODE}={code}")
    return region


# --- what the constructs set --------------------------------------------------------------------------------
def database_environment(*, host: str, secret_arn: str) -> dict[str, str]:
    """Where the audit store is and which secret signs in to it (never the credentials themselves)."""
    return {DB_HOST: host, DB_PORT: str(DATABASE_PORT), DB_NAME: DATABASE_NAME, DB_SECRET_ARN: secret_arn}


def database_tls_environment(*, ca_bundle: str | None = None, unverified_acknowledged: bool = False) -> dict[str, str]:
    """How a client verifies the audit store: the CA file's path in its own file system, or (only with the
    operator's explicit acknowledgement) the marker that lets it connect encrypted but unverified."""
    if (ca_bundle is None) == (not unverified_acknowledged):
        raise ValueError("give exactly one of ca_bundle and unverified_acknowledged=True")
    return {DB_CA_BUNDLE: ca_bundle} if ca_bundle is not None else {DB_TLS: DB_TLS_UNVERIFIED}


def function_environment(*, code: str, database: Mapping[str, str]) -> dict[str, str]:
    """Every function: its region, where its document is, the audit store."""
    return {REGION_CODE: code, REGION_DOCUMENT_FILE: REGION_DOCUMENT_PATH, **database}


def gateway_environment(
    function: Mapping[str, str],
    *,
    audit_queue_url: str,
    provider_secret_arn: str,
    credentials_key_arn: str | None = None,
) -> dict[str, str]:
    """``credentials_key_arn``: the stack key, which opens the orgs' own provider credentials."""
    extra = {CREDENTIALS_KEY_ARN: credentials_key_arn} if credentials_key_arn else {}
    return {**function, AUDIT_QUEUE_URL: audit_queue_url, PROVIDER_SECRET_ARN: provider_secret_arn, **extra}


def gateway_container_environment(gateway: Mapping[str, str], *, region: RuntimeConfig) -> dict[str, str]:
    """The gateway task: the Lambda's variables with the document itself instead of its path, and the port."""
    return {
        **{name: value for name, value in gateway.items() if name != REGION_DOCUMENT_FILE},
        GATEWAY_LISTEN_PORT: str(GATEWAY_PORT),
        REGION_DOCUMENT_JSON: region.to_json(),
    }


def gateway_processes_environment(processes: int) -> dict[str, str]:
    """The gateway task's server processes (one per vCPU of the task: sizing.gateway_task_vcpus)."""
    if not 1 <= processes <= MAX_GATEWAY_PROCESSES:
        raise ValueError(f"processes must be from 1 to {MAX_GATEWAY_PROCESSES}, got {processes}")
    return {GATEWAY_PROCESSES: str(processes)}


def rotation_environment(function: Mapping[str, str]) -> dict[str, str]:
    """The secret to rotate is named in each event: no DB_SECRET_ARN, only the region and where to sign in."""
    return {name: value for name, value in function.items() if name != DB_SECRET_ARN}


def console_environment(
    *, region: RuntimeConfig, database: Mapping[str, str], credentials_key_arn: str | None = None
) -> dict[str, str]:
    """The console task: its region and the region's document (a few KB of JSON), its port, the audit store, and
    the stack key that seals the orgs' own provider credentials (``credentials_key_arn``)."""
    return {
        REGION_CODE: region.code,
        CONSOLE_LISTEN_PORT: str(CONSOLE_PORT),
        **database,
        REGION_DOCUMENT_JSON: region.to_json(),
        **({CREDENTIALS_KEY_ARN: credentials_key_arn} if credentials_key_arn else {}),
    }
