"""ID token verification and the claim mapping (regiongate.console.runtime.oidc), with tokens signed here."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from regiongate.console.runtime.oidc import OidcError, map_claims, pkce_pair, verify_id_token
from regiongate.contract.console_oidc import ClaimMapping, OidcSettings, RoleMapping

ISSUER, CLIENT = "https://idp.example.com/realms/eu", "regiongate-console-eu"
NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
NONCE = "n-0S6_WzA2Mj"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def number(value: int) -> str:
    return b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def rsa_jwk(key, kid: str = "k1") -> dict:
    n = key.public_key().public_numbers()
    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": number(n.n), "e": number(n.e)}


def ec_jwk(key, kid: str = "e1") -> dict:
    n = key.public_key().public_numbers()
    return {
        "kty": "EC",
        "kid": kid,
        "crv": "P-256",
        "x": b64(n.x.to_bytes(32, "big")),
        "y": b64(n.y.to_bytes(32, "big")),
    }


def claims(**changes) -> dict:
    base = {
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "user-1",
        "exp": int((NOW + timedelta(minutes=5)).timestamp()),
        "iat": int(NOW.timestamp()),
        "nonce": NONCE,
        "email": "alice@acme.example",
        "groups": ["rg-acme-admins"],
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict, *, key=KEY, alg: str = "RS256", kid: str | None = "k1", header: dict | None = None) -> str:
    head = {"alg": alg, "typ": "JWT", **({"kid": kid} if kid else {}), **(header or {})}
    signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(payload).encode())}".encode()
    if alg == "RS256":
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "PS256":
        signature = key.sign(
            signing_input, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()
        )
    elif alg == "ES256":
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        signature = b""
    return f"{signing_input.decode()}.{b64(signature)}"


class KeySet:
    def __init__(self, *keys: dict, after_refresh: tuple[dict, ...] | None = None) -> None:
        self.keys, self.after_refresh, self.refreshes = list(keys), after_refresh, 0

    def __call__(self, refresh: bool) -> dict:
        if refresh:
            self.refreshes += 1
            if self.after_refresh is not None:
                self.keys = list(self.after_refresh)
        return {"keys": self.keys}


def verify(token: str, jwks=None, **kw):
    args = {"issuer": ISSUER, "client_id": CLIENT, "nonce": NONCE, "now": NOW}
    args.update(kw)
    return verify_id_token(token, jwks=jwks or KeySet(rsa_jwk(KEY)), **args)


def test_a_valid_token_gives_its_claims():
    assert verify(sign(claims()))["sub"] == "user-1"


@pytest.mark.parametrize("alg, key, jwk", [("PS256", KEY, None), ("ES256", EC_KEY, "ec")])
def test_other_allowed_algorithms(alg, key, jwk):
    keys = KeySet(ec_jwk(EC_KEY, "k1")) if jwk == "ec" else KeySet({**rsa_jwk(KEY), "alg": "PS256"})
    assert verify(sign(claims(), key=key, alg=alg), jwks=keys)["sub"] == "user-1"


def test_bad_signature_is_refused():
    token = sign(claims())
    header, _, signature = token.split(".")
    tampered = f"{header}.{b64(json.dumps(claims(sub='admin')).encode())}.{signature}"
    with pytest.raises(OidcError, match="invalid signature"):
        verify(tampered)
    with pytest.raises(OidcError, match="invalid signature"):
        verify(sign(claims(), key=OTHER_KEY))  # signed by a key that is not the published one under its kid


def test_unsigned_and_symmetric_tokens_are_refused():
    with pytest.raises(OidcError, match="signature algorithm"):
        verify(sign(claims(), alg="none"))
    with pytest.raises(OidcError, match="signature algorithm"):
        verify(sign(claims(), alg="HS256"))
    with pytest.raises(OidcError, match="signature algorithm"):  # allowed by us but not announced by the issuer
        verify(sign(claims(), alg="PS256"), algorithms=("RS256",))


def test_an_unknown_key_refetches_the_key_set_once():
    rotated = KeySet(rsa_jwk(OTHER_KEY, "old"), after_refresh=(rsa_jwk(KEY, "k1"),))
    assert verify(sign(claims()), jwks=rotated)["sub"] == "user-1"
    assert rotated.refreshes == 1
    unknown = KeySet(rsa_jwk(OTHER_KEY, "old"))
    with pytest.raises(OidcError, match="key it does not publish"):
        verify(sign(claims()), jwks=unknown)


def test_wrong_audience_is_refused():
    with pytest.raises(OidcError, match="wrong audience"):
        verify(sign(claims(aud="another-application")))
    with pytest.raises(OidcError, match="wrong authorized party"):  # several audiences need azp = us
        verify(sign(claims(aud=[CLIENT, "another-application"])))
    with pytest.raises(OidcError, match="wrong authorized party"):
        verify(sign(claims(azp="another-application")))
    assert verify(sign(claims(aud=[CLIENT, "api"], azp=CLIENT)))["sub"] == "user-1"


def test_wrong_issuer_is_refused():
    with pytest.raises(OidcError, match="another identity provider"):
        verify(sign(claims(iss="https://idp.example.com/realms/us")))


def test_expired_token_is_refused_past_the_leeway():
    expired = int((NOW - timedelta(seconds=61)).timestamp())
    with pytest.raises(OidcError, match="expired"):
        verify(sign(claims(exp=expired, iat=expired - 300)))
    within_leeway = int((NOW - timedelta(seconds=30)).timestamp())
    assert verify(sign(claims(exp=within_leeway, iat=within_leeway - 300)))["sub"] == "user-1"
    with pytest.raises(OidcError, match="no valid exp"):
        verify(sign(claims(exp=None)))


def test_issued_at_must_be_recent_and_not_in_the_future():
    with pytest.raises(OidcError, match="dated in the future"):
        verify(sign(claims(iat=int((NOW + timedelta(minutes=5)).timestamp()))))
    with pytest.raises(OidcError, match="too old"):
        verify(sign(claims(iat=int((NOW - timedelta(minutes=30)).timestamp()))))
    with pytest.raises(OidcError, match="no valid iat"):
        verify(sign(claims(iat=None)))
    with pytest.raises(OidcError, match="not valid yet"):
        verify(sign(claims(nbf=int((NOW + timedelta(minutes=5)).timestamp()))))


def test_wrong_or_missing_nonce_is_refused():
    with pytest.raises(OidcError, match="wrong nonce"):
        verify(sign(claims(nonce="another-sign-in")))
    with pytest.raises(OidcError, match="wrong nonce"):
        verify(sign(claims(nonce=None)))


def test_malformed_tokens_are_refused():
    for token in ("", "a.b", "a.b.c.d", "!!!.e30.", sign(claims()).replace(".", "=.", 1), "x" * 20000):
        with pytest.raises(OidcError, match="malformed"):
            verify(token)
    with pytest.raises(OidcError, match="critical header"):
        verify(sign(claims(), header={"crit": ["exp"]}))


def test_pkce_pair_is_s256():
    verifier, challenge = pkce_pair()
    import hashlib

    assert 43 <= len(verifier) <= 128
    assert challenge == b64(hashlib.sha256(verifier.encode()).digest())


# --- the claim mapping ----------------------------------------------------------------------------------------

SETTINGS = OidcSettings(
    issuer=ISSUER,
    client_id=CLIENT,
    redirect_uri="https://console.eu.example.com/login/sso/callback",
    mapping=ClaimMapping(
        groups_claim="groups",
        roles=(
            RoleMapping(group="rg-acme-admins", role="org_admin", org_id="acme"),
            RoleMapping(group="rg-acme-viewers", role="org_viewer", org_id="acme"),
            RoleMapping(group="rg-globex-viewers", role="org_viewer", org_id="globex"),
            RoleMapping(group="rg-platform", role="platform_admin"),
        ),
    ),
    client_secret="x",
)


def test_groups_map_to_org_and_the_highest_role():
    mapped = map_claims(
        claims(groups=["staff", "rg-acme-viewers", "rg-acme-admins"], email="Alice@Acme.example"), SETTINGS
    )
    assert (mapped.org_id, mapped.role, mapped.email, mapped.subject) == (
        "acme",
        "org_admin",
        "alice@acme.example",
        "user-1",
    )
    assert map_claims(claims(groups="rg-acme-viewers"), SETTINGS).role == "org_viewer"  # a single string
    platform = map_claims(claims(groups=["rg-platform"]), SETTINGS)
    assert (platform.role, platform.org_id) == ("platform_admin", None)


def test_unmapped_claims_are_refused_never_given_a_default_role():
    for groups in (["staff", "marketing"], [], None, 42, {"rg-acme-admins": True}):
        with pytest.raises(OidcError, match="not mapped to any organisation and role"):
            map_claims(claims(groups=groups), SETTINGS)
    with pytest.raises(OidcError, match="more than one organisation"):
        map_claims(claims(groups=["rg-acme-viewers", "rg-globex-viewers"]), SETTINGS)
    with pytest.raises(OidcError, match="no e-mail address"):
        map_claims(claims(email=None), SETTINGS)
