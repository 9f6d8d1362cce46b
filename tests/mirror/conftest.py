"""Fixtures of the mirror tests: no AWS credentials and no network beyond 127.0.0.1, real registries on
loopback, and moto's ECR in cn-north-1 reached through a named AWS profile."""

from __future__ import annotations

import ipaddress
import re
import socket
from pathlib import Path

import pytest

from regiongate.mirror.registry import RegistryClient
from tests.mirror.registries import INSTALL_HINT, REGISTRY_BINARY, TokenService, bcrypt_hash, start_registry

_AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
)
TOKEN_USER, TOKEN_PASSWORD = "mirror-bot", "correct-horse"


@pytest.fixture(autouse=True)
def _no_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test can reach an AWS account: credentials, profiles, SSO caches and IMDS are all out of reach."""
    for name in _AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    monkeypatch.delenv("REGIONGATE_SOURCE_USERNAME", raising=False)
    monkeypatch.delenv("REGIONGATE_SOURCE_PASSWORD", raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse any connection that is not to the loopback range, so a bug cannot reach the internet or AWS."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address):  # noqa: ANN001
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = host == "localhost"
            if not loopback:
                raise ConnectionRefusedError(f"test tried to connect to {address!r}; only loopback is allowed")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(scope="session")
def registry_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("registries")


@pytest.fixture(scope="session")
def _registry_binary() -> str:
    if not REGISTRY_BINARY:
        pytest.skip(f"docker-registry binary not found; `make test` installs it: {INSTALL_HINT}")
    return REGISTRY_BINARY


@pytest.fixture(scope="session")
def source_registry(_registry_binary: str, registry_workdir: Path):
    """An anonymous registry the images are copied from."""
    registry = start_registry(registry_workdir, "source")
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def target_registry(_registry_binary: str, registry_workdir: Path):
    """An anonymous registry used as an OCI target."""
    registry = start_registry(registry_workdir, "target")
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def token_service(registry_workdir: Path):
    service = TokenService(
        registry_workdir, username=TOKEN_USER, password=TOKEN_PASSWORD, service="regiongate-test", issuer="regiongate-test-issuer"
    )
    yield service
    service.close()


@pytest.fixture(scope="session")
def token_registry(_registry_binary: str, registry_workdir: Path, token_service: TokenService):
    """A registry that demands Bearer tokens from ``token_service`` (the Docker Hub / GHCR flow)."""
    registry = start_registry(registry_workdir, "token", token=token_service)
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def basic_registry(_registry_binary: str, registry_workdir: Path):
    """A registry behind htpasswd basic auth."""
    if bcrypt_hash("probe") is None:
        pytest.skip("no bcrypt implementation for the htpasswd file (Python's crypt module is gone in 3.13+)")
    registry = start_registry(registry_workdir, "basic", htpasswd=(TOKEN_USER, TOKEN_PASSWORD))
    yield registry
    registry.stop()


@pytest.fixture
def source_client(source_registry) -> RegistryClient:
    return RegistryClient(source_registry.host, scheme="http")


@pytest.fixture
def repo_name(request: pytest.FixtureRequest) -> str:
    """A repository path unique to the test, so tests sharing a session registry never collide."""
    return "src/" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
