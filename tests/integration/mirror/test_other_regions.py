"""One lock for every region: the pinned digest per image, and where outside the lock's target region
(cn-north-1) it was mirrored (``regions``), so a stack in eu-west-1 gets tasks once its repository holds it."""

from __future__ import annotations

import re
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from regiongate.mirror.errors import MirrorError
from regiongate.mirror.lock import ImagesLock, LockedImage, LockError, load_lock, write_lock
from regiongate.mirror.targets import EcrTarget
from tests.fixtures.images import push, single_image
from tests.fixtures.mirror import run_mirror

DIGEST = "sha256:" + "ab" * 32
PROFILE = "mirror"


@pytest.fixture
def profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    credentials = tmp_path / "aws-credentials"
    credentials.write_text(f"[{PROFILE}]\naws_access_key_id = AKIAFAKEFAKEFAKE\naws_secret_access_key = fake\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    return PROFILE


@pytest.fixture
def ecr(profile):
    """moto ECR in cn-north-1 (the Cn stack) and eu-west-1 (the Eu stack and Tenant-acme)."""
    with mock_aws():
        clients = {
            r: boto3.Session(profile_name=profile, region_name=r).client("ecr") for r in ("cn-north-1", "eu-west-1")
        }
        clients["cn-north-1"].create_repository(repositoryName="regiongate/gateway")
        for name in ("regiongate/gateway", "regiongate/tenant-acme/gateway"):
            clients["eu-west-1"].create_repository(repositoryName=name)
        yield clients


def _stored_digest(client, repository: str) -> str:
    (image,) = client.batch_get_image(repositoryName=repository, imageIds=[{"imageTag": "1.0"}])["images"]
    return image["imageId"]["imageDigest"]


def test_mirroring_into_another_region_records_each_repository_there(
    ecr, profile, source_client, source_registry, repo_name, tmp_path
) -> None:
    lock_path = tmp_path / "lock.yaml"
    image = single_image(repo_name)
    push(source_client, repo_name, image, "1.0")
    source = [f"gateway={source_registry.host}/{repo_name}:1.0"]
    run_mirror(source, EcrTarget.from_profile(region="cn-north-1", profile=profile), lock_path)
    eu = EcrTarget.from_profile(region="eu-west-1", profile=profile)
    lock = load_lock(lock_path)
    assert not lock.in_repository("gateway", "tenant-acme", "eu-west-1")
    with pytest.raises(
        LockError, match=r"images\.gateway\.regions\.eu-west-1: .*regiongate/tenant-acme/gateway in eu-west-1"
    ):
        lock.digest_for("gateway", "tenant-acme", "eu-west-1")

    run_mirror(source, eu, lock_path, target_region="eu-west-1", deployments=("tenant-acme",))
    lock = load_lock(lock_path)
    assert _stored_digest(ecr["eu-west-1"], "regiongate/tenant-acme/gateway") == image.digest
    assert lock.target_region == "cn-north-1"  # the Cn stack's records are untouched
    assert lock.images["gateway"].repository == "regiongate/gateway"
    assert lock.images["gateway"].deployments == ()
    assert lock.images["gateway"].regions == {"eu-west-1": ("regiongate/tenant-acme/gateway",)}
    assert lock.digest_for("gateway", "tenant-acme", "eu-west-1") == image.digest
    # The Eu region stack's own repository is another one: not mirrored yet.
    assert not lock.in_repository("gateway", None, "eu-west-1")

    run_mirror(source, eu, lock_path, target_region="eu-west-1")
    lock = load_lock(lock_path)
    assert _stored_digest(ecr["eu-west-1"], "regiongate/gateway") == image.digest
    assert lock.images["gateway"].regions == {"eu-west-1": ("regiongate/gateway", "regiongate/tenant-acme/gateway")}
    assert lock.in_repository("gateway", None, "eu-west-1") and lock.in_repository("gateway")


def test_another_region_takes_only_the_pinned_digest_and_a_new_pin_clears_it(
    ecr, profile, source_client, source_registry, repo_name, tmp_path
) -> None:
    lock_path = tmp_path / "lock.yaml"
    cn = EcrTarget.from_profile(region="cn-north-1", profile=profile)
    eu = EcrTarget.from_profile(region="eu-west-1", profile=profile)
    first, second = single_image(repo_name), single_image(f"{repo_name}-v2")
    push(source_client, repo_name, first, "1.0")
    push(source_client, repo_name, second, "2.0")
    run_mirror([f"gateway={source_registry.host}/{repo_name}:1.0"], cn, lock_path)
    run_mirror([f"gateway={source_registry.host}/{repo_name}:1.0"], eu, lock_path, target_region="eu-west-1")
    with pytest.raises(MirrorError, match=r"pins sha256:[0-9a-f]{64} for gateway \(regiongate/gateway in cn-north-1\)"):
        run_mirror([f"gateway={source_registry.host}/{repo_name}:2.0"], eu, lock_path, target_region="eu-west-1")
    assert load_lock(lock_path).images["gateway"].digest == first.digest

    # A new version pinned for the Cn stack: eu-west-1 still holds the old one, so the lock forgets it.
    run_mirror([f"gateway={source_registry.host}/{repo_name}:2.0"], cn, lock_path)
    lock = load_lock(lock_path)
    assert lock.images["gateway"].digest == second.digest
    assert lock.images["gateway"].regions == {}
    assert not lock.in_repository("gateway", None, "eu-west-1")


def test_regions_round_trip_and_are_parsed_strictly(tmp_path: Path) -> None:
    path = tmp_path / "images.lock.yaml"
    image = LockedImage(name="gateway", repository="regiongate/gateway", digest=DIGEST).with_repository(
        "eu-west-1", "regiongate/tenant-acme/gateway"
    )
    write_lock(ImagesLock(path=path).with_image(image))
    assert load_lock(path).images["gateway"] == image
    assert "regions:\n      eu-west-1:\n      - regiongate/tenant-acme/gateway\n" in path.read_text()

    for text, key, problem in [
        (f"images:\n  gateway:\n    digest: {DIGEST}\n    regions: [eu-west-1]\n", "images.gateway.regions", "mapping"),
        (
            f"images:\n  gateway:\n    digest: {DIGEST}\n    regions:\n      europe: []\n",
            "images.gateway.regions.europe",
            "region name",
        ),
        (
            f"images:\n  gateway:\n    digest: {DIGEST}\n    regions:\n      eu-west-1: [Bad Name]\n",
            "images.gateway.regions.eu-west-1",
            "ECR repository names",
        ),
        (
            "images:\n  gateway:\n    regions:\n      eu-west-1: [regiongate/gateway]\n",
            "images.gateway.regions.eu-west-1",
            "without a digest",
        ),
    ]:
        path.write_text(text)
        with pytest.raises(LockError, match=rf"{re.escape(key)}: .*{problem}"):
            load_lock(path)


@pytest.mark.parametrize(
    ("deployment", "region", "expected"),
    [
        (
            None,
            "cn-north-1",
            "not mirrored into China ECR .* --target-region cn-north-1 --target-profile <china profile> ",
        ),
        (
            "tenant-pekingbank",
            "cn-north-1",
            "not mirrored into China ECR .* --target-region cn-north-1 --deployment tenant-pekingbank --target-profile <profile of that deployment's account> ",
        ),
        (
            None,
            "eu-west-1",
            "not mirrored into ECR in eu-west-1 .* --target-region eu-west-1 --target-profile <profile of the eu-west-1 account> ",
        ),
        (
            "tenant-acme",
            "eu-west-1",
            "not mirrored into ECR in eu-west-1 .* --target-region eu-west-1 --deployment tenant-acme --target-profile <profile of that deployment's account> ",
        ),
    ],
)
def test_an_image_not_in_the_lock_names_the_command_of_that_deployment(tmp_path, deployment, region, expected) -> None:
    path = tmp_path / "images.lock.yaml"
    write_lock(ImagesLock(path=path))
    with pytest.raises(LockError, match=re.escape(expected).replace(r"\.\*", ".*").replace(r"\ ", " ")) as error:
        load_lock(path).pinned_digest("gateway", deployment, region)
    assert "not mirrored into China ECR" not in str(error.value) or region.startswith("cn-")
