"""OidcClient's discovery, authorization URL and code exchange against a fake network; the task's settings."""

from __future__ import annotations

import base64
import io
import json
import urllib.parse
from datetime import UTC, datetime

import pytest

from regiongate.console.runtime.oidc import OidcClient, OidcError
from regiongate.console.runtime.server import _client_secret_value
from regiongate.contract import console_oidc as env
from regiongate.contract.console_oidc import ClaimMapping, OidcSettings, RoleMapping
from regiongate.contract.environment import SettingsError

ISSUER = "https://idp.example.com/realms/eu"
MAPPING = ClaimMapping(groups_claim="groups", roles=(RoleMapping(group="g", role="org_viewer", org_id="acme"),))
SETTINGS = OidcSettings(
    issuer=ISSUER,
    client_id="console eu",
    redirect_uri="https://console.example.com/login/sso/callback",
    mapping=MAPPING,
    client_secret_arn="arn:aws:secretsmanager:eu-central-1:111111111111:secret:x",
)
NOW = datetime(2030, 1, 1, tzinfo=UTC)


class Network:
    def __init__(self, **discovery) -> None:
        self.discovery = {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/auth",
            "token_endpoint": f"{ISSUER}/token",
            "jwks_uri": f"{ISSUER}/jwks",
            "code_challenge_methods_supported": ["plain", "S256"],
            "id_token_signing_alg_values_supported": ["RS256", "HS256"],
            **discovery,
        }
        self.requests: list = []

    def __call__(self, request, timeout):
        self.requests.append(request)
        url = request if isinstance(request, str) else request.full_url
        if url.endswith("/.well-known/openid-configuration"):
            return io.BytesIO(json.dumps(self.discovery).encode())
        if url.endswith("/token"):
            return io.BytesIO(json.dumps({"id_token": "a.b.c", "access_token": "x"}).encode())
        raise AssertionError(url)


def client(network) -> OidcClient:
    return OidcClient(SETTINGS, client_secret=lambda: "s3cr:t/", clock=lambda: NOW, opener=network)


def test_authorization_url_carries_pkce_state_and_nonce():
    url = urllib.parse.urlsplit(client(Network()).authorization_url(state="st", nonce="no", code_challenge="ch"))
    query = dict(urllib.parse.parse_qsl(url.query))
    assert url.geturl().startswith(f"{ISSUER}/auth?")
    assert query == {
        "response_type": "code",
        "client_id": "console eu",
        "redirect_uri": SETTINGS.redirect_uri,
        "scope": "openid email profile",
        "state": "st",
        "nonce": "no",
        "code_challenge": "ch",
        "code_challenge_method": "S256",
    }


def test_code_exchange_uses_client_secret_basic_and_the_verifier():
    network = Network()
    assert client(network).exchange("the-code", "the-verifier") == "a.b.c"
    request = network.requests[-1]
    form = dict(urllib.parse.parse_qsl(request.data.decode()))
    assert form == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": SETTINGS.redirect_uri,
        "code_verifier": "the-verifier",
    }
    user, secret = base64.b64decode(request.get_header("Authorization").split()[1]).decode().split(":")
    assert (urllib.parse.unquote(user), urllib.parse.unquote(secret)) == ("console eu", "s3cr:t/")


def test_discovery_is_cached_and_only_allowed_algorithms_are_kept():
    network = Network()
    oidc = client(network)
    assert oidc.discovery().algorithms == ("RS256",)  # never HS256
    oidc.discovery()
    assert len(network.requests) == 1


@pytest.mark.parametrize(
    "change, message",
    [
        ({"issuer": "https://evil.example.com"}, "names another issuer"),
        ({"code_challenge_methods_supported": ["plain"]}, "PKCE with S256"),
        ({"token_endpoint": "http://idp.example.com/token"}, "not an https URL"),
        ({"id_token_signing_alg_values_supported": ["HS256"]}, "no algorithm the console accepts"),
    ],
)
def test_a_bad_discovery_document_is_refused(change, message):
    with pytest.raises(OidcError, match=message):
        client(Network(**change)).discovery()


def test_settings_from_the_task_environment():
    variables = SETTINGS.environment()
    assert OidcSettings.from_env(variables) == SETTINGS
    assert OidcSettings.from_env({}) is None
    with pytest.raises(SettingsError, match="CONSOLE_OIDC_CLIENT_ID"):
        OidcSettings.from_env({env.ISSUER: ISSUER})
    with pytest.raises(SettingsError, match="https URL"):
        OidcSettings.from_env({**variables, env.ISSUER: "http://idp.example.com"})
    with pytest.raises(SettingsError, match="claim mapping"):
        OidcSettings.from_env({**variables, env.MAPPING: "{}"})
    loopback = OidcSettings.from_env({**variables, env.ISSUER: "http://127.0.0.1:9000"})
    assert loopback is not None and loopback.issuer == "http://127.0.0.1:9000"


def test_the_client_secret_value():
    assert _client_secret_value('{"client_secret": "abc"}') == "abc"
    assert _client_secret_value('{"client_secret": ""}') == ""  # the stack's secret, not filled in yet
    assert _client_secret_value("plain-secret\n") == "plain-secret"
