"""TLS to the audit store: the server's certificate and host name are verified against a CA bundle (libpq's
``sslmode=verify-full``), or the connection is plain only where it never leaves the machine.

- In AWS (``DB_HOST``) a connection needs ``DB_CA_BUNDLE``: the RDS CA bundle of the partition, shipped with the
  code (``rds-ca/`` beside this module: the commercial bundle, with its provenance README). Without it the
  connection is refused, unless the deployment explicitly acknowledged an unverified connection
  (``DB_TLS=unverified-acknowledged``, set by the stack only when regions.yaml says so): then it is encrypted but
  the server is not authenticated, and every load of the parameters logs a warning.
- Locally (``DATABASE_URL``) libpq's spelling: ``sslmode=disable|require|verify-ca|verify-full`` and
  ``sslrootcert=<CA file>``. A CA file (in the URL or ``DB_CA_BUNDLE``) means verified: ``verify-full`` unless
  ``verify-ca`` is asked for explicitly.

A certificate that does not verify raises :class:`TlsVerificationError` naming the server, the CA file and what
OpenSSL found (another CA, expired, another host name); it is not a lost connection, so nothing retries it.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from regiongate.contract import environment

log = logging.getLogger("regiongate.store.tls")

SSL_MODES = ("disable", "require", "verify-ca", "verify-full")
VERIFYING_MODES = ("verify-ca", "verify-full")
# The commercial partition's RDS CA bundle, shipped as package data (its README says where it comes from);
# tests/unit/store/test_rds_ca.py checks this digest and the regions it covers.
RDS_CA_DIR = Path(__file__).resolve().parent / "rds-ca"
COMMERCIAL_BUNDLE_NAME = "global-bundle.pem"
COMMERCIAL_BUNDLE_SHA256 = "05c6b4a9bf4daa95c888711481e19cc8e2e11aed4de8db759f51f4a6fce64917"
COMMERCIAL_BUNDLE = RDS_CA_DIR / COMMERCIAL_BUNDLE_NAME


class TlsConfigurationError(ValueError):
    """The TLS settings cannot give a verified connection (missing or unreadable CA file, contradictory mode)."""


class TlsVerificationError(RuntimeError):
    """The database server's certificate did not verify: the message names the server, the CA file and why."""


def _one(query: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def url_ssl(query: Mapping[str, Sequence[str]], ca_bundle: str | None = None) -> tuple[str, str | None]:
    """(ssl mode, CA file) from a DATABASE_URL's query; ``ca_bundle`` (DB_CA_BUNDLE) applies when the URL names
    no ``sslrootcert``. No sslmode and no CA: ``disable`` (the local test server)."""
    mode = _one(query, "sslmode")
    ca = _one(query, "sslrootcert") or ca_bundle or None
    if mode is not None and mode not in SSL_MODES:
        raise TlsConfigurationError(f"sslmode={mode} is not supported; valid: {', '.join(SSL_MODES)}")
    if ca is None:
        if mode in VERIFYING_MODES:
            raise TlsConfigurationError(
                f"sslmode={mode} needs a CA file: add sslrootcert=<path of the CA bundle> to the URL "
                f"or set {environment.DB_CA_BUNDLE}"
            )
        return mode or "disable", None
    if mode == "disable":
        raise TlsConfigurationError(
            f"a CA file ({ca}) is given but sslmode=disable: remove sslmode (a CA file means verify-full) or the CA"
        )
    return ("verify-ca" if mode == "verify-ca" else "verify-full"), ca


def aws_ssl(ca_bundle: str | None, db_tls: str | None, host: str) -> tuple[str, str | None]:
    """(ssl mode, CA file) for a DB_HOST connection: verified with DB_CA_BUNDLE, or refused, or (acknowledged)
    encrypted without verification."""
    if ca_bundle:
        return "verify-full", ca_bundle
    if db_tls == environment.DB_TLS_UNVERIFIED:
        log.warning(
            "database TLS is NOT verified (acknowledged in regions.yaml: database_tls: unverified_acknowledged): "
            "the connection to %s is encrypted, but the server is not authenticated",
            host,
        )
        return "require", None
    raise environment.SettingsError(
        f"{environment.DB_HOST}={host} is set but {environment.DB_CA_BUNDLE} is not: refusing a database "
        "connection whose server certificate cannot be verified. Set DB_CA_BUNDLE to the RDS CA bundle of the "
        f"partition (the stack does), or acknowledge an unverified connection with "
        f"{environment.DB_TLS}={environment.DB_TLS_UNVERIFIED}"
    )


def client_context(ssl_mode: str, ca_bundle: str | None) -> ssl.SSLContext | Literal[False]:
    """The ``ssl_context`` argument of pg8000 for ``ssl_mode``: ``False`` (no TLS at all) for ``disable``."""
    if ssl_mode not in SSL_MODES:
        raise TlsConfigurationError(f"ssl mode {ssl_mode!r} is not supported; valid: {', '.join(SSL_MODES)}")
    if ssl_mode == "disable":
        if ca_bundle:
            raise TlsConfigurationError(f"a CA file ({ca_bundle}) is given but the ssl mode is disable")
        return False
    if ca_bundle is None:
        if ssl_mode in VERIFYING_MODES:
            raise TlsConfigurationError(f"ssl mode {ssl_mode} needs a CA file ({environment.DB_CA_BUNDLE})")
        # Encrypted, not authenticated: only ever reached by an explicit choice (sslmode=require in a URL, or the
        # deployment's acknowledgement, see aws_ssl).
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context
    path = Path(ca_bundle)
    if not path.is_file():
        raise TlsConfigurationError(
            f"the database CA bundle {ca_bundle} does not exist: it is shipped with the code "
            f"(regiongate/store/rds-ca/) or named in regions.yaml (database_ca_bundle)"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname by default
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cafile=str(path))
    except ssl.SSLError as exc:
        raise TlsConfigurationError(f"the database CA bundle {ca_bundle} holds no usable certificate: {exc}") from None
    if ssl_mode != "verify-full":  # verify-ca, or require with a CA (libpq's behaviour): the chain, not the name
        context.check_hostname = False
    return context


_HINTS = {
    # X509_V_ERR_* codes (OpenSSL's x509_vfy.h)
    2: "the server's certificate is not signed by a CA in the bundle (another CA, or the wrong partition's bundle)",
    10: "the server's certificate has expired",
    9: "the server's certificate is not valid yet",
    18: "the server presents a self-signed certificate that is not in the bundle",
    19: "the server's certificate chain ends in a CA that is not in the bundle",
    20: "the server's certificate is not signed by a CA in the bundle (another CA, or the wrong partition's bundle)",
    62: "the certificate is valid for another host name than the one connected to",
    64: "the certificate is valid for another host name than the IP address connected to",
}


def verification_error(exc: ssl.SSLCertVerificationError, host: str, port: int, ca_bundle: str | None) -> Exception:
    """A clear error for a certificate that did not verify."""
    code = exc.verify_code
    reason = exc.verify_message or str(exc)
    hint = _HINTS.get(code, "")
    return TlsVerificationError(
        f"TLS to the database {host}:{port} refused: certificate verification failed ({reason})"
        + (f": {hint}" if hint else "")
        + f"; CA bundle: {ca_bundle}"
    )
