"""The shipped RDS CA bundle: the file its README describes (sha256), CA roots only, covering every commercial
region regiongate accepts without a named bundle."""

from __future__ import annotations

import hashlib
import re

from cryptography import x509

from regiongate.config.database_tls import COMMERCIAL_BUNDLE_REGIONS
from regiongate.store import tls


def certificates() -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(tls.COMMERCIAL_BUNDLE.read_bytes())


def test_the_bundle_is_the_one_its_readme_pins():
    digest = hashlib.sha256(tls.COMMERCIAL_BUNDLE.read_bytes()).hexdigest()
    assert digest == tls.COMMERCIAL_BUNDLE_SHA256
    readme = (tls.RDS_CA_DIR / "README.md").read_text()
    assert f"sha256 of this file: `{digest}`" in readme


def test_every_certificate_is_a_self_signed_amazon_rds_root_ca():
    found = certificates()
    assert len(found) == 102
    for cert in found:
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert cert.subject == cert.issuer
        assert "Amazon RDS" in cert.subject.rfc4514_string()


def test_the_regions_without_a_named_bundle_are_exactly_those_with_three_roots_in_it():
    roots: dict[str, int] = {}
    for cert in certificates():
        (name,) = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
        match = re.fullmatch(r"Amazon RDS ([a-z]{2}-[a-z]+-\d) Root CA (RSA2048|RSA4096|ECC384) G1", str(name.value))
        if match:
            roots[match[1]] = roots.get(match[1], 0) + 1
    assert {region for region, count in roots.items() if count == 3} == set(COMMERCIAL_BUNDLE_REGIONS)
