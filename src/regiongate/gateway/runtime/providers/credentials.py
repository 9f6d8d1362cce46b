"""Provider credentials (API keys) by provider name, and where they are loaded from."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from regiongate.contract.errors import GatewayError, ServiceUnavailable


class Credentials:
    """Provider credentials by provider name, loaded lazily once: ``{"<provider>": {"api_key": "…"}}``.

    Sources, first found wins per provider: environment variable ``REGIONGATE_PROVIDER_<NAME>_API_KEY``
    (name upper-cased, dashes as underscores), the JSON file at ``REGIONGATE_PROVIDER_CREDENTIALS_FILE``,
    the Secrets Manager secret at ``PROVIDER_SECRET_ARN``.
    """

    def __init__(self, loader: Callable[[], Mapping[str, Any]], env: Mapping[str, str] | None = None) -> None:
        self._loader = loader
        self._env = os.environ if env is None else env
        self._values: Mapping[str, Any] | None = None
        self._lock = threading.Lock()

    def api_key(self, provider: str) -> str:
        env_name = f"REGIONGATE_PROVIDER_{provider.upper().replace('-', '_')}_API_KEY"
        value = self._env.get(env_name)  # one read of os.environ (Python code per lookup), not two
        if value:
            return value
        if self._values is None:
            with self._lock:
                if self._values is None:
                    try:
                        self._values = self._loader() or {}
                    except GatewayError:
                        raise
                    except Exception as exc:
                        raise ServiceUnavailable(
                            f"provider credentials could not be loaded ({type(exc).__name__})"
                        ) from None
        entry = self._values.get(provider)
        key = entry.get("api_key") if isinstance(entry, Mapping) else entry if isinstance(entry, str) else None
        if not key or not isinstance(key, str):
            raise ServiceUnavailable(f"no credentials are configured for provider {provider}")
        return key


def _json_object(text: str | bytes) -> Mapping[str, Any]:
    value = json.loads(text)
    if not isinstance(value, Mapping):
        raise ValueError("provider credentials must be a JSON object")
    return value


def file_loader(path: str) -> Callable[[], Mapping[str, Any]]:
    def load() -> Mapping[str, Any]:
        with open(path, encoding="utf-8") as fh:
            return _json_object(fh.read())

    return load


def secret_loader(secret_arn: str, region_name: str) -> Callable[[], Mapping[str, Any]]:
    def load() -> Mapping[str, Any]:
        import boto3  # on first use, never at Lambda import

        client = boto3.client("secretsmanager", region_name=region_name)
        secret: str = client.get_secret_value(SecretId=secret_arn)["SecretString"]
        return _json_object(secret)

    return load
