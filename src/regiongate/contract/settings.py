"""One typed settings object, read from the environment once, plus the region's runtime document."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any


class SettingsError(RuntimeError):
    """A missing or invalid environment variable (the message names it)."""


@dataclass(frozen=True)
class Settings:
    region_code: str
    config_path: str
    database_url: str | None = None
    db_host: str | None = None
    db_port: int = 5432
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
        missing = [name for name in ("REGIONGATE_REGION_CODE", "REGIONGATE_CONFIG_PATH") if not env.get(name)]
        if missing:
            raise SettingsError(f"missing environment variable(s): {', '.join(missing)}")
        if not env.get("DATABASE_URL"):
            missing_db = [name for name in ("DB_HOST", "DB_NAME", "DB_SECRET_ARN") if not env.get(name)]
            if missing_db:
                raise SettingsError(f"missing environment variable(s): {', '.join(missing_db)} (or set DATABASE_URL)")
        try:
            port = int(env.get("DB_PORT", "5432"))
        except ValueError:
            raise SettingsError(f"DB_PORT must be a port number, got {env.get('DB_PORT')!r}") from None
        return cls(
            region_code=env["REGIONGATE_REGION_CODE"],
            config_path=env["REGIONGATE_CONFIG_PATH"],
            database_url=env.get("DATABASE_URL") or None,
            db_host=env.get("DB_HOST") or None,
            db_port=port,
            db_name=env.get("DB_NAME") or None,
            db_secret_arn=env.get("DB_SECRET_ARN") or None,
            db_ca_bundle=env.get("DB_CA_BUNDLE") or None,
            audit_queue_url=env.get("AUDIT_QUEUE_URL") or None,
            provider_secret_arn=env.get("PROVIDER_SECRET_ARN") or None,
            provider_credentials_file=env.get("REGIONGATE_PROVIDER_CREDENTIALS_FILE") or None,
            log_level=env.get("REGIONGATE_LOG_LEVEL", "INFO"),
        )


@dataclass(frozen=True)
class ModelEntry:
    name: str
    provider: str
    target: str
    kind: str
    input_usd_per_mtok: Decimal
    output_usd_per_mtok: Decimal
    deployment_type: str | None = None


@dataclass(frozen=True)
class ProviderEntry:
    name: str
    type: str
    aws_region: str | None = None
    endpoint: str | None = None
    location: str | None = None
    api_version: str | None = None
    base_url: str | None = None


@dataclass(frozen=True)
class GuardrailPolicy:
    max_request_bytes: int
    max_input_tokens: int
    model_allowlist: tuple[str, ...] | None
    detectors: tuple[dict, ...]


@dataclass(frozen=True)
class RuntimeConfig:
    """The region's document (regiongate.config.gateway.runtime_document), typed."""

    code: str
    display_name: str
    aws_region: str
    partition: str
    geography: str
    inference_regions: tuple[str, ...]
    providers: Mapping[str, ProviderEntry]
    models: Mapping[str, ModelEntry]
    allowed_hosts: tuple[str, ...]
    guardrails: GuardrailPolicy
    org_guardrails: Mapping[str, GuardrailPolicy] = field(default_factory=dict)
    audit_retention_months: int = 13
    key_cache_ttl_seconds: int = 30

    def guardrails_for(self, org_id: str | None) -> GuardrailPolicy:
        return self.org_guardrails.get(org_id or "", self.guardrails)

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> RuntimeConfig:
        def policy(g: Mapping[str, Any]) -> GuardrailPolicy:
            allow = g.get("model_allowlist")
            return GuardrailPolicy(
                max_request_bytes=int(g.get("max_request_bytes", 1_000_000)),
                max_input_tokens=int(g.get("max_input_tokens", 200_000)),
                model_allowlist=tuple(allow) if allow is not None else None,
                detectors=tuple(g.get("detectors", ())),
            )

        models = {
            m["name"]: ModelEntry(
                name=m["name"],
                provider=m["provider"],
                target=m["target"],
                kind=m.get("kind", "chat"),
                input_usd_per_mtok=Decimal(m["input_usd_per_mtok"]),
                output_usd_per_mtok=Decimal(m["output_usd_per_mtok"]),
                deployment_type=m.get("deployment_type"),
            )
            for m in doc.get("models", ())
        }
        providers = {p["name"]: ProviderEntry(**p) for p in doc.get("providers", ())}
        return cls(
            code=doc["code"],
            display_name=doc.get("display_name", doc["code"].upper()),
            aws_region=doc["aws_region"],
            partition=doc.get("partition", "aws"),
            geography=doc.get("geography", ""),
            inference_regions=tuple(doc.get("inference_regions", ())),
            providers=providers,
            models=models,
            allowed_hosts=tuple(doc.get("allowed_hosts", ())),
            guardrails=policy(doc.get("guardrails", {})),
            org_guardrails={org: policy(g) for org, g in doc.get("org_guardrails", {}).items()},
            audit_retention_months=int(doc.get("audit_retention_months", 13)),
            key_cache_ttl_seconds=int(doc.get("key_cache_ttl_seconds", 30)),
        )

    @classmethod
    def load(cls, path: str, expected_code: str | None = None) -> RuntimeConfig:
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
        except FileNotFoundError:
            raise SettingsError(f"REGIONGATE_CONFIG_PATH={path}: file not found") from None
        config = cls.from_document(doc)
        if expected_code and config.code != expected_code:
            raise SettingsError(
                f"REGIONGATE_REGION_CODE={expected_code} but {path} is the configuration of region {config.code}"
            )
        return config


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process's settings (read once)."""
    return Settings.from_env()
