"""Database TLS of a deployment, wired: where each client finds its CA bundle, and the loud path of an
acknowledged unverified connection (regiongate.config.database_tls decides which applies).

- functions: the shipped commercial bundle is in their code asset (``regiongate/store/rds-ca/`` is package data
  of the store the asset carries); a bundle named in regions.yaml goes into the region-configuration layer;
- console: the image carries ``regiongate/store/rds-ca/`` (console/Dockerfile); a named bundle must be copied there
  before the image is built (src/regiongate/store/rds-ca/README.md).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from aws_cdk import Annotations
from constructs import IConstruct

from regiongate.config.regions import RegionConfig
from regiongate.console.infrastructure import IMAGE_CA_DIR
from regiongate.contract import environment
from regiongate.infra.assets import PACKAGE_DIR
from regiongate.residency import acknowledge
from regiongate.store import tls

LAMBDA_TASK_ROOT = "/var/task"  # where Lambda unpacks the code asset (its root holds regiongate/)
LAYER_ROOT = "/opt"
LAYER_CA_DIR = "regiongate/rds-ca"  # under the region-configuration layer
FUNCTION_COMMERCIAL_BUNDLE = (
    f"{LAMBDA_TASK_ROOT}/regiongate/{tls.COMMERCIAL_BUNDLE.relative_to(PACKAGE_DIR).as_posix()}"
)
RULE_ID = "DatabaseTlsVerified"
WARNING_ID = "regiongate:database-tls-unverified"


def function_environment(region: RegionConfig) -> dict[str, str]:
    """DB_CA_BUNDLE (or, acknowledged, DB_TLS) for the gateway, the audit writer and the rotation function."""
    setting = region.database_tls
    if setting.unverified_acknowledged:
        return environment.database_tls_environment(unverified_acknowledged=True)
    if setting.bundle is not None:
        return environment.database_tls_environment(ca_bundle=f"{LAYER_ROOT}/{LAYER_CA_DIR}/{setting.bundle.name}")
    return environment.database_tls_environment(ca_bundle=FUNCTION_COMMERCIAL_BUNDLE)


def console_environment(region: RegionConfig) -> dict[str, str]:
    """The same for the console task (paths inside the image)."""
    setting = region.database_tls
    if setting.unverified_acknowledged:
        return environment.database_tls_environment(unverified_acknowledged=True)
    name = setting.bundle.name if setting.bundle is not None else tls.COMMERCIAL_BUNDLE_NAME
    return environment.database_tls_environment(ca_bundle=f"{IMAGE_CA_DIR}/{name}")


def stage_layer_bundle(layer_root: Path, region: RegionConfig) -> None:
    """Copy a bundle named in regions.yaml into the region-configuration layer (checked against its pin at parse)."""
    target_dir = Path(layer_root) / LAYER_CA_DIR
    if target_dir.exists():
        shutil.rmtree(target_dir)  # a bundle no longer named must not stay in the layer
    bundle = region.database_tls.bundle
    if bundle is None:
        return
    target_dir.mkdir(parents=True)
    shutil.copyfile(bundle.path, target_dir / bundle.name)


UNVERIFIED_REASON = (
    "The operator acknowledged an unverified database connection in {source} (database_tls: "
    "unverified_acknowledged): no RDS CA bundle of {aws_region} ({partition}) is available to regiongate, so the "
    "connection to the audit store is encrypted but the server's certificate is not verified. OPEN until "
    "database_ca_bundle and database_ca_bundle_sha256 name the bundle (src/regiongate/store/rds-ca/README.md)."
)


def acknowledge_unverified(stack: IConstruct, region: RegionConfig, clients: list[IConstruct], source: str) -> None:
    """For an acknowledged unverified deployment: a synth warning, and the residency finding acknowledged on each
    database client with the operator's acknowledgement as its reason (the report lists it)."""
    if not region.database_tls.unverified_acknowledged:
        return
    reason = UNVERIFIED_REASON.format(source=source, aws_region=region.aws_region, partition=region.partition)
    Annotations.of(stack).add_warning_v2(
        WARNING_ID,
        f"OPEN residency finding {RULE_ID} ({len(clients)} database client(s)): database TLS is NOT verified in "
        f"{region.stack_name} ({region.aws_region}): {source} acknowledges an unverified connection (database_tls: "
        "unverified_acknowledged), so synthesis passes and the residency report lists the finding as open "
        "(open-acknowledged). Name the region's RDS CA bundle instead (src/regiongate/store/rds-ca/README.md).",
    )
    for client in clients:
        acknowledge(client, RULE_ID, reason, still_open=True)
