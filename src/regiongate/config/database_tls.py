"""How a deployment's database clients verify the audit store's certificate: regions.yaml (and tenant file) keys
``database_ca_bundle``, ``database_ca_bundle_sha256`` and ``database_tls``.

- A commercial region whose RDS roots are in the bundle regiongate ships (``regiongate/store/rds-ca/``) needs
  nothing: every client verifies against it.
- Anywhere else (AWS China, GovCloud, a commercial region newer than the shipped bundle) the deployment names the
  bundle file of its region, pinned by its sha256; synthesis refuses a missing file or another digest.
- Without one, synthesis fails with the steps to get it, unless the entry says ``database_tls:
  unverified_acknowledged``: the connections are then encrypted but the server is not authenticated, synthesis
  warns, and the residency report lists the finding with the operator's acknowledgement.
"""

from __future__ import annotations

import hashlib
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regiongate.config.reader import Choice, Reader, Rule, Text, key_path

VERIFIED = "verified"
UNVERIFIED_ACKNOWLEDGED = "unverified_acknowledged"
MODES = (VERIFIED, UNVERIFIED_ACKNOWLEDGED)
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
README = "src/regiongate/store/rds-ca/README.md"

# The regions whose three G1 roots (RSA2048, RSA4096, ECC384) are in the shipped commercial bundle;
# tests/unit/store/test_rds_ca.py derives the same list from the bundle's certificates.
COMMERCIAL_BUNDLE_REGIONS = frozenset(
    {
        "af-south-1",
        "ap-east-1",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-south-1",
        "ap-south-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-7",
        "ca-central-1",
        "ca-west-1",
        "eu-central-1",
        "eu-central-2",
        "eu-north-1",
        "eu-south-1",
        "eu-south-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "il-central-1",
        "me-central-1",
        "me-south-1",
        "mx-central-1",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
    }
)

_BUNDLE = Text(what="the RDS CA bundle file of the region (a path relative to this file)")
_SHA256 = Text(SHA256_RE, "the sha256 of database_ca_bundle (64 lower-case hex digits)")
_MODE = Choice(MODES, "how database clients verify the audit store's certificate")
RULES: Mapping[str, Rule] = {"database_ca_bundle": _BUNDLE, "database_ca_bundle_sha256": _SHA256, "database_tls": _MODE}
KEYS = tuple(RULES)


@dataclass(frozen=True)
class CaBundle:
    """A CA bundle file the deployment names, already checked against its pinned digest."""

    path: Path
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class DatabaseTls:
    """``bundle`` None and not acknowledged: the shipped commercial bundle."""

    bundle: CaBundle | None = None
    unverified_acknowledged: bool = False

    @property
    def verified(self) -> bool:
        return not self.unverified_acknowledged


def missing_bundle_steps(aws_region: str, partition: str) -> str:
    """What the operator does to get and pin the bundle of ``aws_region`` (the rds-ca README in one sentence)."""
    host = "truststore.pki.rds.amazonaws.com.cn" if partition == "aws-cn" else "truststore.pki.rds.amazonaws.com"
    where = (
        "AWS China publishes its own RDS CA bundles"
        if partition == "aws-cn"
        else f"the shipped RDS CA bundle has no roots for {aws_region} ({partition})"
    )
    return (
        f"the audit store's certificate cannot be verified: {where}, and none is named here. "
        f"On a connected machine: (1) download the RDS CA bundle of {aws_region} (e.g. {aws_region}-bundle.pem) from "
        f"{host}, as linked from the RDS user guide's SSL/TLS page; (2) check its subjects with `openssl crl2pkcs7 "
        f"-nocrl -certfile {aws_region}-bundle.pem | openssl pkcs7 -print_certs -noout`; (3) `sha256sum` it; "
        f"(4) put it beside this file and set database_ca_bundle: {aws_region}-bundle.pem and "
        "database_ca_bundle_sha256: <the digest>. Or, knowingly, database_tls: unverified_acknowledged (encrypted, "
        f"server not authenticated; synth warns and the residency report lists it). See {README}"
    )


def parse_database_tls(
    reader: Reader, raw: Mapping[str, Any], key: str, *, aws_region: str, partition: str
) -> DatabaseTls:
    """The deployment's :class:`DatabaseTls` from the keys in ``raw`` (a regions.yaml entry or a tenant file)."""
    mode = VERIFIED
    if raw.get("database_tls") is not None:
        mode = _MODE.parse(reader, raw["database_tls"], key_path(key, "database_tls"))
    bundle_key, sha_key = key_path(key, "database_ca_bundle"), key_path(key, "database_ca_bundle_sha256")
    named, pinned = raw.get("database_ca_bundle"), raw.get("database_ca_bundle_sha256")
    if named is None:
        if pinned is not None:
            raise reader.fail(sha_key, "is given without database_ca_bundle; name the file it is the digest of")
        covered = partition == "aws" and aws_region in COMMERCIAL_BUNDLE_REGIONS
        if mode == UNVERIFIED_ACKNOWLEDGED:
            if covered:
                raise reader.fail(
                    key_path(key, "database_tls"),
                    f"the shipped RDS CA bundle covers {aws_region}: connections are verified there; remove the key",
                )
            return DatabaseTls(unverified_acknowledged=True)
        if not covered:
            raise reader.fail(bundle_key, missing_bundle_steps(aws_region, partition))
        return DatabaseTls()
    if mode == UNVERIFIED_ACKNOWLEDGED:
        raise reader.fail(
            key_path(key, "database_tls"),
            "unverified_acknowledged contradicts database_ca_bundle: remove one (with a bundle, connections are verified)",
        )
    name = _BUNDLE.parse(reader, named, bundle_key)
    if pinned is None:
        raise reader.fail(sha_key, f"is required with database_ca_bundle: pin the file (`sha256sum {name}`)")
    sha256 = _SHA256.parse(reader, pinned, sha_key)
    path = (reader.path.parent / name).resolve()
    if not path.is_file():
        raise reader.fail(bundle_key, f"{path} does not exist (the path is relative to {reader.path.name})")
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != sha256:
        raise reader.fail(
            sha_key,
            f"{path.name} has sha256 {actual}, not the pinned {sha256}: the file changed or is not the one reviewed; "
            "compare its certificates with AWS's published bundle before updating the pin",
        )
    try:
        ssl.create_default_context(cafile=str(path))
    except ssl.SSLError as exc:
        raise reader.fail(bundle_key, f"{path.name} holds no PEM certificates a client can load: {exc}") from None
    return DatabaseTls(bundle=CaBundle(path=path, sha256=sha256))


def tenant_file_lines(home: DatabaseTls, home_region: str, aws_region: str, partition: str, directory: Path) -> str:
    """What `regiongate tenant add` writes about database TLS: the home entry's bundle (same AWS region only: RDS
    bundles outside the commercial one are per region) or its acknowledgement, spelled out so it is reviewed."""
    if partition == "aws" and aws_region in COMMERCIAL_BUNDLE_REGIONS:
        return "# database_ca_bundle: not needed; every connection is verified against the shipped RDS CA bundle.\n"
    if home.bundle is not None and home_region == aws_region:
        relative = os.path.relpath(home.bundle.path, Path(directory).resolve())
        return (
            "# The RDS CA bundle of the home region's entry in regions.yaml (path relative to this file).\n"
            f"database_ca_bundle: {relative}\n"
            f"database_ca_bundle_sha256: {home.bundle.sha256}\n"
        )
    if home.unverified_acknowledged:
        return (
            "# Copied from the home region's entry in regions.yaml: an UNVERIFIED database connection (encrypted, server\n"
            "# not authenticated). Replace with database_ca_bundle + database_ca_bundle_sha256 (src/regiongate/store/\n"
            "# rds-ca/README.md) unless this customer accepts it.\n"
            "database_tls: unverified_acknowledged\n"
        )
    return ""
