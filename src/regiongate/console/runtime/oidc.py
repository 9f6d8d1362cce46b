"""OpenID Connect for the console: discovery, the authorization code flow with PKCE (S256), ID token checks.

The ID token is verified here with ``cryptography`` (no JWT library): only the signature algorithms the
issuer's discovery document announces *and* we allow (RS256, PS256, ES256), a key of the issuer's JWKS chosen
by ``kid``, then ``iss`` (exactly the configured issuer), ``aud`` (the client id; with several audiences ``azp``
must be the client id), ``exp``, ``iat`` and ``nbf`` with a small leeway, and the ``nonce`` of this sign-in.
Every refusal is an :class:`OidcError` whose message is safe to show. Nothing of the token is logged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from regiongate.contract.console_oidc import LOOPBACK_HOSTS, OidcSettings

log = logging.getLogger("regiongate.console")

LEEWAY = timedelta(seconds=60)
MAX_TOKEN_AGE = timedelta(minutes=10)  # iat older than this (plus the leeway) is refused
CACHE_FOR = timedelta(hours=1)  # discovery document and JWKS
MIN_REFRESH = timedelta(seconds=60)  # an unknown kid refetches the JWKS at most this often
MAX_RESPONSE_BYTES = 512 * 1024
MAX_TOKEN_CHARS = 16 * 1024
HTTP_TIMEOUT = 10.0
ALGORITHMS = ("RS256", "PS256", "ES256")


class OidcError(Exception):
    """A refused single sign-on (the message is safe to show; it never contains token content)."""


def b64url_decode(text: str) -> bytes:
    if not isinstance(text, str) or any(c in text for c in "=+/ \n"):
        raise OidcError("The identity provider's token is malformed.")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise OidcError("The identity provider's token is malformed.") from None


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge): RFC 7636, 43 characters of verifier."""
    verifier = secrets.token_urlsafe(32)
    return verifier, b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def _int(value: str) -> int:
    return int.from_bytes(b64url_decode(value), "big")


def public_key(jwk: dict[str, Any]) -> Any:
    kty = jwk.get("kty")
    if kty == "RSA":
        return rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])).public_key()
    if kty == "EC" and jwk.get("crv") == "P-256":
        return ec.EllipticCurvePublicNumbers(_int(jwk["x"]), _int(jwk["y"]), ec.SECP256R1()).public_key()
    raise OidcError("The identity provider's signing key has an unsupported type.")


def _verify_signature(alg: str, key: Any, signing_input: bytes, signature: bytes) -> None:
    try:
        if alg == "RS256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "PS256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(
                signature,
                signing_input,
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                hashes.SHA256(),
            )
        elif alg == "ES256" and isinstance(key, ec.EllipticCurvePublicKey):
            if len(signature) != 64:
                raise InvalidSignature
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA256()))
        else:
            raise OidcError("The identity provider's token is signed with a key of the wrong type.")
    except InvalidSignature:
        raise OidcError("The identity provider's token has an invalid signature.") from None


def _key_for(header: dict[str, Any], jwks: dict[str, Any], alg: str) -> dict[str, Any] | None:
    kty = "EC" if alg.startswith("ES") else "RSA"
    candidates = [
        k
        for k in jwks.get("keys", [])
        if isinstance(k, dict)
        and k.get("kty") == kty
        and k.get("use", "sig") == "sig"
        and (k.get("alg") in (None, alg))
    ]
    kid = header.get("kid")
    if kid is not None:
        candidates = [k for k in candidates if k.get("kid") == kid]
    return candidates[0] if len(candidates) == 1 else None


def _numeric(claims: dict[str, Any], name: str) -> datetime:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OidcError(f"The identity provider's token has no valid {name} claim.")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise OidcError(f"The identity provider's token has no valid {name} claim.") from None


def verify_id_token(
    token: str,
    *,
    jwks: Callable[[bool], dict[str, Any]],
    issuer: str,
    client_id: str,
    nonce: str,
    now: datetime,
    algorithms: tuple[str, ...] = ALGORITHMS,
) -> dict[str, Any]:
    """The verified claims of ``token``. ``jwks(refresh)`` gives the issuer's key set (``refresh``: a key was not
    found, fetch it again, for a rotation)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        raise OidcError("The identity provider's token is malformed.")
    header_b64, payload_b64, signature_b64 = token.split(".")
    try:
        header = json.loads(b64url_decode(header_b64))
        claims = json.loads(b64url_decode(payload_b64))
    except (ValueError, UnicodeDecodeError):
        raise OidcError("The identity provider's token is malformed.") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise OidcError("The identity provider's token is malformed.")
    alg = header.get("alg")
    if alg not in algorithms:
        raise OidcError("The identity provider's token uses a signature algorithm the console does not accept.")
    if "crit" in header:
        raise OidcError("The identity provider's token has critical header parameters the console does not know.")
    jwk = _key_for(header, jwks(False), alg) or _key_for(header, jwks(True), alg)
    if jwk is None:
        raise OidcError("The identity provider's token is signed with a key it does not publish.")
    _verify_signature(alg, public_key(jwk), f"{header_b64}.{payload_b64}".encode("ascii"), b64url_decode(signature_b64))

    if claims.get("iss") != issuer:
        raise OidcError("The token was issued by another identity provider.")
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
    if client_id not in audiences:
        raise OidcError("The token was issued for another application (wrong audience).")
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise OidcError("The token was issued for another application (wrong authorized party).")
    if "azp" in claims and claims["azp"] != client_id:
        raise OidcError("The token was issued for another application (wrong authorized party).")
    if _numeric(claims, "exp") <= now - LEEWAY:
        raise OidcError("The identity provider's token has expired. Sign in again.")
    issued = _numeric(claims, "iat")
    if issued > now + LEEWAY:
        raise OidcError("The identity provider's token is dated in the future: check the clocks.")
    if issued < now - MAX_TOKEN_AGE - LEEWAY:
        raise OidcError("The identity provider's token is too old. Sign in again.")
    if "nbf" in claims and _numeric(claims, "nbf") > now + LEEWAY:
        raise OidcError("The identity provider's token is not valid yet: check the clocks.")
    if not isinstance(claims.get("nonce"), str) or not secrets.compare_digest(claims["nonce"].encode(), nonce.encode()):
        raise OidcError("The token does not belong to this sign-in (wrong nonce).")
    if not isinstance(claims.get("sub"), str) or not claims["sub"] or len(claims["sub"]) > 255:
        raise OidcError("The identity provider's token names no subject.")
    return claims


@dataclass(frozen=True)
class Discovery:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: tuple[str, ...]


def _check_endpoint(url: Any, what: str) -> str:
    parts = urllib.parse.urlsplit(url if isinstance(url, str) else "")
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS):
        return str(url)
    raise OidcError(f"The identity provider's {what} is not an https URL.")


class OidcClient:
    """One issuer and client: discovery and keys cached for an hour, the code exchange, the token checks.

    ``clock`` is the time ID tokens are checked against (tests move it to make a token expire)."""

    def __init__(
        self,
        settings: OidcSettings,
        *,
        client_secret: Callable[[], str],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        opener: Callable[..., Any] = urllib.request.urlopen,
    ) -> None:
        self.settings = settings
        self.client_secret = client_secret
        self.clock = clock
        self.opener = opener
        self._lock = threading.Lock()
        self._discovery: tuple[datetime, Discovery] | None = None
        self._jwks: tuple[datetime, dict[str, Any]] | None = None

    def _get_json(self, request: urllib.request.Request | str, what: str) -> dict[str, Any]:
        try:
            with self.opener(request, timeout=HTTP_TIMEOUT) as response:
                body = response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise OidcError(f"The identity provider refused the {what} request (HTTP {exc.code}).") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            log.error("identity provider unreachable for %s: %s", what, type(exc).__name__)
            raise OidcError(f"The identity provider could not be reached for the {what}. Try again later.") from None
        if len(body) > MAX_RESPONSE_BYTES:
            raise OidcError(f"The identity provider's {what} answer is too large.")
        try:
            value = json.loads(body)
        except ValueError:
            raise OidcError(f"The identity provider's {what} answer is not JSON.") from None
        if not isinstance(value, dict):
            raise OidcError(f"The identity provider's {what} answer is not a JSON object.")
        return value

    def discovery(self) -> Discovery:
        now = self.clock()
        with self._lock:
            if self._discovery and self._discovery[0] > now:
                return self._discovery[1]
        issuer = self.settings.issuer
        doc = self._get_json(issuer.rstrip("/") + "/.well-known/openid-configuration", "discovery")
        if doc.get("issuer") != issuer:
            raise OidcError("The identity provider's discovery document names another issuer.")
        methods = doc.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise OidcError("The identity provider does not support PKCE with S256.")
        announced = doc.get("id_token_signing_alg_values_supported") or ["RS256"]
        found = Discovery(
            authorization_endpoint=_check_endpoint(doc.get("authorization_endpoint"), "authorization endpoint"),
            token_endpoint=_check_endpoint(doc.get("token_endpoint"), "token endpoint"),
            jwks_uri=_check_endpoint(doc.get("jwks_uri"), "key set URL"),
            algorithms=tuple(a for a in ALGORITHMS if a in announced),
        )
        if not found.algorithms:
            raise OidcError("The identity provider signs ID tokens with no algorithm the console accepts.")
        with self._lock:
            self._discovery = (now + CACHE_FOR, found)
        return found

    def jwks(self, refresh: bool = False) -> dict[str, Any]:
        now = self.clock()
        with self._lock:
            cached = self._jwks
        if cached is not None:
            expires, keys = cached
            fresh = expires - CACHE_FOR + MIN_REFRESH > now  # fetched within MIN_REFRESH
            if expires > now and (not refresh or fresh):
                return keys
        keys = self._get_json(self.discovery().jwks_uri, "key set")
        with self._lock:
            self._jwks = (now + CACHE_FOR, keys)
        return keys

    def authorization_url(self, *, state: str, nonce: str, code_challenge: str) -> str:
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": self.settings.client_id,
                "redirect_uri": self.settings.redirect_uri,
                "scope": "openid email profile",
                "state": state,
                "nonce": nonce,
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
            }
        )
        endpoint = self.discovery().authorization_endpoint
        return endpoint + ("&" if "?" in endpoint else "?") + query

    def exchange(self, code: str, code_verifier: str) -> str:
        """The ID token for an authorization code (client_secret_basic, RFC 6749 section 2.3.1)."""
        quote = urllib.parse.quote
        credentials = f"{quote(self.settings.client_id, safe='')}:{quote(self.client_secret(), safe='')}"
        body = urllib.parse.urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.settings.redirect_uri,
                "code_verifier": code_verifier,
            }
        ).encode()
        request = urllib.request.Request(
            self.discovery().token_endpoint,
            data=body,
            method="POST",
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "accept": "application/json",
                "authorization": "Basic " + base64.b64encode(credentials.encode()).decode("ascii"),
            },
        )
        answer = self._get_json(request, "token")
        token = answer.get("id_token")
        if not isinstance(token, str):
            raise OidcError("The identity provider returned no ID token.")
        return token

    def verify(self, token: str, nonce: str) -> dict[str, Any]:
        return verify_id_token(
            token,
            jwks=self.jwks,
            issuer=self.settings.issuer,
            client_id=self.settings.client_id,
            nonce=nonce,
            now=self.clock(),
            algorithms=self.discovery().algorithms,
        )


@dataclass(frozen=True)
class MappedUser:
    subject: str
    email: str
    role: str
    org_id: str | None


ROLE_RANK = {"org_viewer": 0, "org_admin": 1, "platform_admin": 2}


def map_claims(claims: dict[str, Any], settings: OidcSettings) -> MappedUser:
    """The org and role the verified claims give, by the configured mapping only: never a default role."""
    mapping = settings.mapping
    email = claims.get(mapping.email_claim)
    if not isinstance(email, str) or "@" not in email or len(email) > 254:
        raise OidcError("Your identity provider sent no e-mail address, so the console cannot name your account.")
    groups = claims.get(mapping.groups_claim)
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list):
        groups = []
    matched = [r for r in mapping.roles if r.group in groups]
    if not matched:
        raise OidcError(
            "Your identity provider account is not mapped to any organisation and role of this console. "
            "Ask your administrator to add you to one of the console's groups."
        )
    orgs = {r.org_id for r in matched if r.role != "platform_admin"}
    best = max(matched, key=lambda r: ROLE_RANK[r.role])
    if best.role != "platform_admin" and len(orgs) > 1:
        raise OidcError(
            "Your groups map you to more than one organisation; the console needs exactly one. Ask your administrator."
        )
    return MappedUser(subject=claims["sub"], email=email.strip().lower(), role=best.role, org_id=best.org_id)
