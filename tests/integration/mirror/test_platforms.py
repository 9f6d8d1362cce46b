"""`regiongate mirror` records in images.lock.yaml which platforms the copied digest holds (``platforms``), read
from the index it copies or, for a single manifest, from its image config; two real registries on loopback."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from regiongate.mirror.lock import LockError, load_lock, write_lock
from regiongate.mirror.registry import RegistryClient
from regiongate.mirror.targets import RegistryTarget
from tests.fixtures.images import (
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    BuiltImage,
    build_index,
    build_manifest,
    digest,
    multi_arch_image,
    push,
    random_bytes,
)
from tests.fixtures.mirror import CountingTarget, run_mirror


@pytest.fixture
def target(target_registry) -> CountingTarget:
    return CountingTarget(RegistryTarget(RegistryClient(target_registry.host, scheme="http")))


def _attestation(seed: str) -> BuiltImage:
    """A BuildKit provenance attestation: an image manifest an index lists under platform unknown/unknown."""
    return build_manifest([random_bytes(f"{seed}-provenance", 2_000)], media_type=OCI_MANIFEST, arch="unknown")


@pytest.mark.parametrize("index_type", [OCI_INDEX, DOCKER_MANIFEST_LIST], ids=["oci", "docker"])
def test_an_index_records_its_platforms(source_client, source_registry, target, repo_name, tmp_path, index_type):
    image = multi_arch_image(repo_name, media_type=index_type)
    push(source_client, repo_name, image, "1.0")

    _, out, _ = run_mirror([f"gateway={source_registry.host}/{repo_name}:1.0"], target, tmp_path / "lock.yaml")

    entry = load_lock(tmp_path / "lock.yaml").images["gateway"]
    assert entry.digest == image.digest and entry.platforms == ("linux/amd64", "linux/arm64")
    assert "platforms: linux/amd64, linux/arm64" in out
    assert "platforms:\n    - linux/amd64\n    - linux/arm64\n" in (tmp_path / "lock.yaml").read_text()


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_a_single_manifest_records_the_platform_of_its_config(
    source_client, source_registry, target, repo_name, tmp_path, arch
):
    image = build_manifest([random_bytes(f"{repo_name}-layer", 50_000)], media_type=OCI_MANIFEST, arch=arch)
    push(source_client, repo_name, image, "1.0")

    run_mirror([f"gateway={source_registry.host}/{repo_name}:1.0"], target, tmp_path / "lock.yaml")

    lock = load_lock(tmp_path / "lock.yaml")
    assert lock.images["gateway"].platforms == (f"linux/{arch}",)
    other = "x86_64" if arch == "arm64" else "arm64"
    lock.require_platform("gateway", "arm64" if arch == "arm64" else "x86_64")
    with pytest.raises(LockError, match=rf"holds linux/{arch}, not linux/"):
        lock.require_platform("gateway", other)


def test_attestation_manifests_are_copied_but_are_no_platform(
    source_client, source_registry, target, repo_name, tmp_path
):
    amd64 = build_manifest([random_bytes(f"{repo_name}-a", 40_000)], media_type=OCI_MANIFEST, arch="amd64")
    attestation = _attestation(repo_name)
    index = build_index([("amd64", amd64), ("unknown", attestation)])
    # build_index names the platform after the architecture; an attestation's os is unknown too.
    document = json.loads(index.body)
    document["manifests"][1]["platform"] = {"os": "unknown", "architecture": "unknown"}
    body = json.dumps(document, indent=2).encode()
    index = BuiltImage(digest=digest(body), media_type=OCI_INDEX, body=body, blobs=index.blobs, children=index.children)
    push(source_client, repo_name, index, "1.0")

    run_mirror([f"gateway={source_registry.host}/{repo_name}:1.0"], target, tmp_path / "lock.yaml")

    entry = load_lock(tmp_path / "lock.yaml").images["gateway"]
    assert entry.digest == index.digest and entry.platforms == ("linux/amd64",)
    assert target.inner.client.get_manifest("regiongate/gateway", attestation.digest)[0] == attestation.body


def test_mirroring_again_records_the_platforms_a_lock_from_before_lacked(
    source_client, source_registry, target, repo_name, tmp_path
):
    image = multi_arch_image(repo_name)
    push(source_client, repo_name, image, "1.0")
    path = tmp_path / "lock.yaml"
    run_mirror([f"gateway={source_registry.host}/{repo_name}:1.0"], target, path)
    # As a lock written before platforms were recorded, with a deployment that already holds the digest.
    old = load_lock(path)
    write_lock(old.with_image(replace(old.images["gateway"], platforms=(), deployments=("tenant-acme",))))
    with pytest.raises(LockError, match="does not record which platforms"):
        load_lock(path).require_platform("gateway", "arm64")

    _, out, _ = run_mirror([f"gateway={source_registry.host}/{repo_name}:1.0"], target, path)

    entry = load_lock(path).images["gateway"]
    assert "up to date" in out and target.calls["upload_blob"] == len(image.blobs)  # nothing copied twice
    assert entry.platforms == ("linux/amd64", "linux/arm64") and entry.deployments == ("tenant-acme",)
    load_lock(path).require_platform("gateway", "arm64", "tenant-acme")


def test_a_deployment_or_region_mirror_records_them_too(source_client, source_registry, target, repo_name, tmp_path):
    image = multi_arch_image(repo_name)
    push(source_client, repo_name, image, "1.0")
    path = tmp_path / "lock.yaml"
    source = f"gateway={source_registry.host}/{repo_name}:1.0"
    run_mirror([source], target, path)
    old = load_lock(path)
    write_lock(old.with_image(replace(old.images["gateway"], platforms=())))

    run_mirror([source], target, path, target_region="eu-west-1", deployments=("tenant-acme",))

    entry = load_lock(path).images["gateway"]
    assert entry.regions == {"eu-west-1": ("regiongate/tenant-acme/gateway",)}
    assert entry.platforms == ("linux/amd64", "linux/arm64")


@pytest.mark.parametrize(
    ("platforms", "problem"),
    [
        ("linux/amd64", "must be a list of platforms such as linux/amd64"),
        ("[amd64]", "must be a list of platforms such as linux/amd64"),
        ("[Linux/AMD64]", "must be a list of platforms such as linux/amd64"),
    ],
)
def test_malformed_platforms_are_refused_with_their_key(tmp_path: Path, platforms: str, problem: str) -> None:
    path = tmp_path / "images.lock.yaml"
    path.write_text(
        "version: 1\nimages:\n  gateway:\n    repository: regiongate/gateway\n"
        f"    digest: sha256:{'ab' * 32}\n    platforms: {platforms}\n"
    )
    with pytest.raises(LockError, match=r"images\.gateway\.platforms: must be a list of platforms") as error:
        load_lock(path)
    assert problem in error.value.problem


def test_platforms_without_a_digest_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "images.lock.yaml"
    path.write_text(
        "version: 1\nimages:\n  gateway:\n    repository: regiongate/gateway\n    platforms: [linux/amd64]\n"
    )
    with pytest.raises(LockError, match=r"images\.gateway\.platforms: an image without a digest holds no platforms"):
        load_lock(path)


def test_the_shipped_example_entries_list_both_platforms() -> None:
    lock = load_lock()
    for name in ("console", "gateway"):
        assert lock.images[name].platforms == ("linux/amd64", "linux/arm64")
