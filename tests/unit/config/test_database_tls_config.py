"""regions.yaml / tenant file database TLS keys: the shipped bundle where it covers the region, a named bundle
pinned by its sha256, or the steps to get one unless the operator explicitly acknowledges an unverified connection."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import pytest
import yaml

from regiongate.config import database_tls
from regiongate.config.regions import DEFAULT_CONFIG_PATH, ConfigError, parse_catalogue
from regiongate.store import tls

SHIPPED = yaml.safe_load(Path(DEFAULT_CONFIG_PATH).read_text())


def catalogue_with(tmp_path: Path, change) -> object:
    data = copy.deepcopy(SHIPPED)
    change(data["regions"])
    return parse_catalogue(data, tmp_path / "regions.yaml")


def test_commercial_regions_use_the_shipped_bundle_and_the_example_china_entry_is_acknowledged():
    catalogue = parse_catalogue(copy.deepcopy(SHIPPED))
    for code in ("eu", "us", "sg"):
        assert catalogue.region(code).database_tls == database_tls.DatabaseTls()
    assert catalogue.region("cn").database_tls.unverified_acknowledged


def test_china_without_a_bundle_fails_with_the_steps(tmp_path):
    with pytest.raises(
        ConfigError, match=r"regions\.cn\.database_ca_bundle: .*AWS China publishes its own RDS CA"
    ) as e:
        catalogue_with(tmp_path, lambda r: r["cn"].pop("database_tls"))
    for step in (
        "truststore.pki.rds.amazonaws.com.cn",
        "openssl crl2pkcs7",
        "sha256sum",
        "database_ca_bundle_sha256",
        "database_tls: unverified_acknowledged",
        "src/regiongate/store/rds-ca/README.md",
    ):
        assert step in str(e.value)


def test_a_named_bundle_is_pinned_by_its_sha256(tmp_path):
    bundle = tmp_path / "cn-north-1-bundle.pem"
    bundle.write_bytes(tls.COMMERCIAL_BUNDLE.read_bytes())  # a stand-in: any PEM of CA certificates
    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()

    def name(sha):
        def change(regions):
            regions["cn"].pop("database_tls")
            regions["cn"].update(database_ca_bundle=bundle.name, database_ca_bundle_sha256=sha)

        return change

    region = catalogue_with(tmp_path, name(digest)).region("cn")
    assert region.database_tls.bundle == database_tls.CaBundle(bundle.resolve(), digest)
    assert region.database_tls.verified
    with pytest.raises(ConfigError, match=rf"cn-north-1-bundle\.pem has sha256 {digest}, not the pinned 0{{64}}"):
        catalogue_with(tmp_path, name("0" * 64))


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (
            lambda r: r["cn"].update(database_ca_bundle="missing.pem", database_ca_bundle_sha256="a" * 64),
            "regions.cn.database_tls",
            "contradicts database_ca_bundle",
        ),
        (
            lambda r: (
                r["cn"].pop("database_tls"),
                r["cn"].update(database_ca_bundle="missing.pem", database_ca_bundle_sha256="a" * 64),
            ),
            "regions.cn.database_ca_bundle",
            "missing.pem does not exist",
        ),
        (
            lambda r: (r["cn"].pop("database_tls"), r["cn"].update(database_ca_bundle="x.pem")),
            "regions.cn.database_ca_bundle_sha256",
            "is required with database_ca_bundle",
        ),
        (
            lambda r: r["eu"].update(database_ca_bundle_sha256="a" * 64),
            "regions.eu.database_ca_bundle_sha256",
            "without database_ca_bundle",
        ),
        (
            lambda r: r["eu"].update(database_tls="unverified_acknowledged"),
            "regions.eu.database_tls",
            "the shipped RDS CA bundle covers eu-central-1",
        ),
        (
            lambda r: r["cn"].update(database_tls="off"),
            "regions.cn.database_tls",
            "'off' is not how database clients verify",
        ),
    ],
)
def test_contradictions_and_mistakes_are_clear(tmp_path, change, key, words):
    with pytest.raises(ConfigError, match=key) as e:
        catalogue_with(tmp_path, change)
    assert words in str(e.value)


def test_a_file_without_certificates_is_refused(tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")

    def change(regions):
        regions["cn"].pop("database_tls")
        regions["cn"].update(
            database_ca_bundle="junk.pem", database_ca_bundle_sha256=hashlib.sha256(b"not a certificate\n").hexdigest()
        )

    with pytest.raises(ConfigError, match=r"junk\.pem holds no PEM certificates"):
        catalogue_with(tmp_path, change)


def test_tenant_add_spells_out_the_home_entry_for_china(tmp_path):
    from regiongate.config import tenants

    catalogue = parse_catalogue(copy.deepcopy(SHIPPED))
    _, text = tenants.new_tenant_file(catalogue, tmp_path, "bank", aws_region="cn-north-1", account="555555555555")
    assert "an UNVERIFIED database connection" in text and "\ndatabase_tls: unverified_acknowledged\n" in text
    _, text = tenants.new_tenant_file(catalogue, tmp_path, "shop", aws_region="eu-west-1")
    assert "database_tls:" not in text and "verified against the shipped RDS CA bundle" in text
