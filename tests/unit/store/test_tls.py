"""TLS settings of a database connection, without a server: which mode and CA each way of configuring gives,
and what is refused (the handshakes themselves: tests/integration/store/test_database_tls.py)."""

from __future__ import annotations

import ssl
from urllib.parse import parse_qs

import pytest

from regiongate.contract import environment
from regiongate.contract.environment import Settings, SettingsError
from regiongate.store import tls
from regiongate.store.postgres import ConnectionParams

CA = str(tls.COMMERCIAL_BUNDLE)


def url(query: str) -> tuple[str, str | None]:
    return tls.url_ssl(parse_qs(query))


def test_a_url_reads_sslmode_and_sslrootcert_and_a_ca_means_verify_full():
    assert url("") == ("disable", None)
    assert url("sslmode=require") == ("require", None)
    assert url(f"sslrootcert={CA}") == ("verify-full", CA)
    assert url(f"sslmode=require&sslrootcert={CA}") == ("verify-full", CA)
    assert url(f"sslmode=verify-ca&sslrootcert={CA}") == ("verify-ca", CA)
    assert tls.url_ssl(parse_qs("sslmode=verify-full"), CA) == ("verify-full", CA)  # DB_CA_BUNDLE
    params = ConnectionParams.from_url(f"postgresql://u:p@db:5432/x?sslrootcert={CA}")
    assert (params.ssl_mode, params.ca_bundle) == ("verify-full", CA)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("sslmode=prefer", r"sslmode=prefer is not supported; valid: disable, require, verify-ca, verify-full"),
        ("sslmode=verify-full", r"sslmode=verify-full needs a CA file: add sslrootcert="),
        (f"sslmode=disable&sslrootcert={CA}", r"a CA file .* is given but sslmode=disable"),
    ],
)
def test_a_url_that_cannot_mean_what_it_says_is_refused(query, message):
    with pytest.raises(tls.TlsConfigurationError, match=message):
        url(query)


def test_in_aws_a_ca_bundle_is_required_unless_acknowledged(caplog):
    assert tls.aws_ssl(CA, None, "db") == ("verify-full", CA)
    with pytest.raises(SettingsError, match=r"DB_HOST=db is set but DB_CA_BUNDLE is not: refusing"):
        tls.aws_ssl(None, None, "db")
    assert tls.aws_ssl(None, environment.DB_TLS_UNVERIFIED, "db") == ("require", None)
    assert "database TLS is NOT verified" in caplog.text


def test_client_contexts_verify_or_say_they_do_not():
    assert tls.client_context("disable", None) is False
    full = tls.client_context("verify-full", CA)
    assert isinstance(full, ssl.SSLContext)
    assert (full.verify_mode, full.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert full.minimum_version >= ssl.TLSVersion.TLSv1_2
    chain_only = tls.client_context("verify-ca", CA)
    assert isinstance(chain_only, ssl.SSLContext)
    assert (chain_only.verify_mode, chain_only.check_hostname) == (ssl.CERT_REQUIRED, False)
    unverified = tls.client_context("require", None)
    assert isinstance(unverified, ssl.SSLContext) and unverified.verify_mode == ssl.CERT_NONE
    with pytest.raises(tls.TlsConfigurationError, match="ssl mode verify-full needs a CA file"):
        tls.client_context("verify-full", None)


def test_a_file_without_certificates_is_named(tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(tls.TlsConfigurationError, match=r"junk\.pem holds no usable certificate"):
        tls.client_context("verify-full", str(junk))


BASE = {
    "REGIONGATE_REGION_CODE": "eu",
    "REGIONGATE_CONFIG_PATH": "/x",
    "DB_HOST": "db.internal",
    "DB_NAME": "regiongate",
    "DB_SECRET_ARN": "arn",
}


def test_the_functions_refuse_to_start_without_a_way_to_verify():
    with pytest.raises(SettingsError, match=r"DB_HOST is set but DB_CA_BUNDLE is not"):
        Settings.from_env(BASE)
    with pytest.raises(SettingsError, match=r"DB_TLS must be unverified-acknowledged or unset, got 'off'"):
        Settings.from_env({**BASE, "DB_TLS": "off"})
    assert Settings.from_env({**BASE, "DB_CA_BUNDLE": CA}).db_ca_bundle == CA
    assert Settings.from_env({**BASE, "DB_TLS": "unverified-acknowledged"}).db_tls == "unverified-acknowledged"


def test_the_constructs_set_exactly_one_of_the_two():
    assert environment.database_tls_environment(ca_bundle="/ca.pem") == {"DB_CA_BUNDLE": "/ca.pem"}
    assert environment.database_tls_environment(unverified_acknowledged=True) == {"DB_TLS": "unverified-acknowledged"}
    for wrong in ({}, {"ca_bundle": "/ca.pem", "unverified_acknowledged": True}):
        with pytest.raises(ValueError, match="exactly one of ca_bundle and unverified_acknowledged"):
            environment.database_tls_environment(**wrong)
