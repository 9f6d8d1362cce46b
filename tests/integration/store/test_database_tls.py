"""Database TLS against a real PostgreSQL (a cluster of this module's own, ``ssl=on``, certificates from test CAs):
the right CA and host name pass; another CA, an expired certificate and another host name are refused, on every
path a runtime connects by (DATABASE_URL, the functions' DB_HOST settings, the rotation function)."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from regiongate.contract.environment import Settings, SettingsError
from regiongate.store.connections import connection_params
from regiongate.store.postgres import ConnectionParams
from regiongate.store.tls import TlsVerificationError
from tests.fixtures.tls_postgres import CertificateAuthority, TlsPostgres

HOST = "localhost"  # the name in the server's certificate; 127.0.0.1 is not in it


@pytest.fixture(scope="module")
def cas(tmp_path_factory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("tls")
    right, other = CertificateAuthority("regiongate test RDS CA"), CertificateAuthority("someone else's CA")
    (folder / "right.pem").write_bytes(right.pem)
    (folder / "other.pem").write_bytes(other.pem)
    return {
        "right": right,
        "other": other,
        "right_file": str(folder / "right.pem"),
        "other_file": str(folder / "other.pem"),
    }


@pytest.fixture(scope="module")
def valid_certificate(cas):
    # Relative to the machine's real clock, which OpenSSL checks validity against (tests/fixtures/tls_postgres.py).
    return cas["right"].issue(dns_names=(HOST,), valid_from=-timedelta(hours=1), valid_until=timedelta(days=1))


@pytest.fixture(scope="module")
def server(valid_certificate):
    cluster = TlsPostgres(valid_certificate)
    yield cluster
    cluster.close()


def params(server, host=HOST, **values) -> ConnectionParams:
    return ConnectionParams(host=host, port=server.port, database="postgres", user="postgres", password=None, **values)


def ssl_in_use(conn) -> bool:
    return conn.run("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")[0][0]


def test_the_right_ca_and_host_name_pass(server, cas):
    conn = params(server, ssl_mode="verify-full", ca_bundle=cas["right_file"]).connect()
    try:
        assert ssl_in_use(conn) is True
    finally:
        conn.close()


def test_another_ca_is_refused(server, cas):
    with pytest.raises(TlsVerificationError, match=r"localhost:\d+ refused: .*not signed by a CA in the bundle"):
        params(server, ssl_mode="verify-full", ca_bundle=cas["other_file"]).connect()


def test_another_host_name_is_refused(server, cas, valid_certificate):
    with pytest.raises(TlsVerificationError, match=r"127\.0\.0\.1:\d+ refused: .*valid for another host name"):
        params(server, host="127.0.0.1", ssl_mode="verify-full", ca_bundle=cas["right_file"]).connect()
    # verify-ca checks the chain only (libpq's meaning): the same connection passes
    params(server, host="127.0.0.1", ssl_mode="verify-ca", ca_bundle=cas["right_file"]).connect().close()
    elsewhere = cas["right"].issue(
        dns_names=("db.elsewhere.example",), valid_from=-timedelta(hours=1), valid_until=timedelta(days=1)
    )
    server.serve(elsewhere)
    try:
        with pytest.raises(TlsVerificationError, match=r"localhost:\d+ refused: .*valid for another host name"):
            params(server, ssl_mode="verify-full", ca_bundle=cas["right_file"]).connect()
    finally:
        server.serve(valid_certificate)


def test_an_expired_certificate_is_refused(server, cas, valid_certificate):
    expired = cas["right"].issue(dns_names=(HOST,), valid_from=-timedelta(days=2), valid_until=-timedelta(days=1))
    server.serve(expired)
    try:
        with pytest.raises(TlsVerificationError, match=r"refused: .*has expired"):
            params(server, ssl_mode="verify-full", ca_bundle=cas["right_file"]).connect()
    finally:
        server.serve(valid_certificate)


def test_the_functions_settings_verify_against_db_ca_bundle(server, cas):
    """The gateway's and writer's path: DB_HOST + DB_CA_BUNDLE from the stack, the password from the secret."""

    def settings(ca_file: str) -> Settings:
        return Settings.from_env(
            {
                "REGIONGATE_REGION_CODE": "eu",
                "REGIONGATE_CONFIG_PATH": "/x",
                "DB_HOST": HOST,
                "DB_PORT": str(server.port),
                "DB_NAME": "postgres",
                "DB_SECRET_ARN": "arn:test",
                "DB_CA_BUNDLE": ca_file,
            }
        )

    secret = {"username": "postgres", "password": "unused-with-trust"}
    conn = connection_params(settings(cas["right_file"]), lambda arn: secret).connect()
    try:
        assert ssl_in_use(conn) is True
    finally:
        conn.close()
    with pytest.raises(TlsVerificationError, match="not signed by a CA in the bundle"):
        connection_params(settings(cas["other_file"]), lambda arn: secret).connect()


def test_the_rotation_function_verifies_against_db_ca_bundle(server, cas, monkeypatch):
    from regiongate.rotation.runtime import handler as rotation

    monkeypatch.setenv("DB_HOST", HOST)
    monkeypatch.setenv("DB_PORT", str(server.port))
    monkeypatch.setenv("DB_NAME", "postgres")
    monkeypatch.setenv("DB_CA_BUNDLE", cas["right_file"])
    rotation.tls_connect({"username": "postgres", "password": "x"}).close()
    monkeypatch.setenv("DB_CA_BUNDLE", cas["other_file"])
    with pytest.raises(TlsVerificationError, match="not signed by a CA in the bundle"):
        rotation.tls_connect({"username": "postgres", "password": "x"})
    monkeypatch.delenv("DB_CA_BUNDLE")
    with pytest.raises(
        SettingsError, match="refusing a database connection whose server certificate cannot be verified"
    ):
        rotation.tls_connect({"username": "postgres", "password": "x"})


def test_a_database_url_with_a_ca_verifies_and_one_without_stays_as_asked(server, cas):
    url = f"postgresql://postgres@{HOST}:{server.port}/postgres"
    conn = ConnectionParams.from_url(f"{url}?sslrootcert={cas['right_file']}").connect()
    try:
        assert ssl_in_use(conn) is True
    finally:
        conn.close()
    # DB_CA_BUNDLE (regiongate serve's environment) applies to a URL that names no CA
    with pytest.raises(TlsVerificationError, match="not signed by a CA in the bundle"):
        ConnectionParams.from_url(url, cas["other_file"]).connect()
    # sslmode=disable is plain TCP, not an opportunistic unverified TLS
    conn = ConnectionParams.from_url(f"{url}?sslmode=disable").connect()
    try:
        assert ssl_in_use(conn) is False
    finally:
        conn.close()


def test_an_acknowledged_unverified_connection_is_encrypted_and_logged(server, caplog):
    settings = Settings.from_env(
        {
            "REGIONGATE_REGION_CODE": "cn",
            "REGIONGATE_CONFIG_PATH": "/x",
            "DB_HOST": HOST,
            "DB_PORT": str(server.port),
            "DB_NAME": "postgres",
            "DB_SECRET_ARN": "arn:test",
            "DB_TLS": "unverified-acknowledged",
        }
    )
    with caplog.at_level(logging.WARNING, logger="regiongate.store.tls"):
        connected = connection_params(settings, lambda arn: {"username": "postgres", "password": "x"})
    assert (connected.ssl_mode, connected.ca_bundle) == ("require", None)
    assert "database TLS is NOT verified" in caplog.text
    conn = connected.connect()
    try:
        assert ssl_in_use(conn) is True
    finally:
        conn.close()


def test_a_missing_ca_file_is_named(server, tmp_path):
    missing = str(Path(tmp_path) / "nowhere.pem")
    with pytest.raises(ValueError, match=r"the database CA bundle .*nowhere\.pem does not exist"):
        params(server, ssl_mode="verify-full", ca_bundle=missing).connect()


def test_the_cli_verifies_with_db_ca_bundle(server, cas, monkeypatch):
    from regiongate.cli.commands import db

    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@{HOST}:{server.port}/postgres")
    monkeypatch.setenv("DB_CA_BUNDLE", cas["right_file"])
    with db.open_store().pool.connection() as conn:
        assert ssl_in_use(conn) is True
    monkeypatch.setenv("DB_CA_BUNDLE", cas["other_file"])
    store = db.open_store()
    with pytest.raises(TlsVerificationError, match="not signed by a CA in the bundle"), store.pool.connection():
        pass
