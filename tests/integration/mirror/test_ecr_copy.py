"""Copies into moto's ECR in cn-north-1 through a named AWS profile, from a real loopback registry.

What moto 5.2.5 does and does not check (so the tests check it themselves):
- CompleteLayerUpload stores the sha256 of the bytes received and ignores the digest the client claims;
  the tests read availability back with BatchCheckLayerAvailability, so a wrong upload shows up.
- PutImage accepts manifests whose layers were never uploaded, and without ``imageDigest`` it invents a
  digest (sha256 of the layer digests, random for an index); regiongate always sends ``imageDigest`` and
  reads the manifest back to compare its sha256.
- BatchGetImage ignores ``acceptedMediaTypes``; the repository URI it reports ends in ``amazonaws.com``.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count

from regiongate.cli.main import main
from regiongate.mirror.errors import AuthError, DigestMismatchError, MirrorError, RepositoryNotFoundError
from regiongate.mirror.lock import LockError, load_lock
from regiongate.mirror.targets import EcrTarget
from tests.fixtures.images import build_manifest, multi_arch_image, push, random_bytes, single_image
from tests.fixtures.mirror import run_mirror

REGION = "cn-north-1"
PROFILE = "china"
WRITES = {"InitiateLayerUpload", "UploadLayerPart", "CompleteLayerUpload", "PutImage"}


@pytest.fixture
def china_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A named profile with fake keys, used only inside moto."""
    credentials = tmp_path / "aws-credentials"
    credentials.write_text(f"[{PROFILE}]\naws_access_key_id = AKIAFAKEFAKEFAKE\naws_secret_access_key = fake\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    return PROFILE


@pytest.fixture
def ecr(china_profile):
    with mock_aws():
        client = boto3.Session(profile_name=china_profile, region_name=REGION).client("ecr")
        for name in ("console", "worker"):
            client.create_repository(repositoryName=f"regiongate/{name}", imageTagMutability="IMMUTABLE")
        yield client


@pytest.fixture
def target(ecr, china_profile) -> EcrTarget:
    return EcrTarget.from_profile(region=REGION, profile=china_profile)


def count_calls(target: EcrTarget) -> Counter:
    calls: Counter = Counter()
    target.client.meta.events.register("before-call.ecr.*", lambda model, **_: calls.update([model.name]))
    return calls


def assert_available(ecr, repository: str, digests) -> None:
    answer = ecr.batch_check_layer_availability(repositoryName=repository, layerDigests=list(digests))
    assert not answer["failures"], answer["failures"]
    assert {layer["layerDigest"] for layer in answer["layers"]} == set(digests)


def test_endpoint_is_the_china_partition(target) -> None:
    assert target.client.meta.endpoint_url == "https://api.ecr.cn-north-1.amazonaws.com.cn"


def test_copies_multi_arch_index_into_ecr(ecr, target, source_client, source_registry, repo_name, tmp_path) -> None:
    image = multi_arch_image(repo_name)
    push(source_client, repo_name, image, "1.0")
    calls = count_calls(target)

    results, _, err = run_mirror([f"console={source_registry.host}/{repo_name}:1.0"], target, tmp_path / "lock.yaml")

    stored = ecr.batch_get_image(repositoryName="regiongate/console", imageIds=[{"imageTag": "1.0"}])["images"][0]
    assert stored["imageId"]["imageDigest"] == image.digest
    assert stored["imageManifest"].encode() == image.body
    for child in image.children:
        got = ecr.batch_get_image(repositoryName="regiongate/console", imageIds=[{"imageDigest": child.digest}])
        assert got["images"][0]["imageManifest"].encode() == child.body
    assert_available(ecr, "regiongate/console", image.blobs)
    assert calls["CompleteLayerUpload"] == len(image.blobs) == 5  # the shared layer once
    assert calls["PutImage"] == 3
    assert results[0].uploaded_bytes == sum(len(b) for b in image.blobs.values())
    assert "5/5 layers" in err
    assert load_lock(tmp_path / "lock.yaml").digest_for("console") == image.digest


def test_layers_upload_in_parts(ecr, target, source_client, source_registry, repo_name, tmp_path, monkeypatch) -> None:
    import moto.ecr.models

    monkeypatch.setattr(moto.ecr.models, "DEFAULT_LAYER_PART_SIZE", 64 * 1024)
    image = single_image(repo_name)
    push(source_client, repo_name, image, "1.0")
    calls = count_calls(target)

    run_mirror([f"console={source_registry.host}/{repo_name}:1.0"], target, tmp_path / "lock.yaml")

    assert calls["UploadLayerPart"] == sum(math.ceil(len(b) / (64 * 1024)) for b in image.blobs.values())
    assert_available(ecr, "regiongate/console", image.blobs)


def test_skips_layers_already_in_ecr(ecr, target, source_client, source_registry, repo_name, tmp_path) -> None:
    base = random_bytes(repo_name + "-base", 250_000)
    v1 = build_manifest([base, random_bytes(repo_name + "-v1", 40_000)])
    v2 = build_manifest([base, random_bytes(repo_name + "-v2", 30_000)])
    push(source_client, repo_name, v1, "v1")
    push(source_client, repo_name, v2, "v2")
    run_mirror([f"console={source_registry.host}/{repo_name}:v1"], target, tmp_path / "lock.yaml")
    calls = count_calls(target)

    results, out, _ = run_mirror([f"console={source_registry.host}/{repo_name}:v2"], target, tmp_path / "lock.yaml")

    assert calls["CompleteLayerUpload"] == len(set(v2.blobs) - set(v1.blobs)) == 2
    assert "1 already in the target" in out
    assert results[0].uploaded_bytes == sum(len(v2.blobs[d]) for d in set(v2.blobs) - set(v1.blobs))


def test_second_run_writes_nothing(ecr, target, source_client, source_registry, repo_name, tmp_path) -> None:
    image = multi_arch_image(repo_name)
    push(source_client, repo_name, image, "1.0")
    lock = tmp_path / "lock.yaml"
    run_mirror([f"console={source_registry.host}/{repo_name}:1.0"], target, lock)
    before = lock.read_text()
    calls = count_calls(target)

    results, out, _ = run_mirror([f"console={source_registry.host}/{repo_name}:1.0"], target, lock)

    assert not (set(calls) & WRITES), calls
    assert results[0].plan.up_to_date and "up to date" in out
    assert lock.read_text() == before


def test_dry_run_writes_nothing(ecr, target, source_client, source_registry, repo_name, tmp_path) -> None:
    image = single_image(repo_name)
    push(source_client, repo_name, image, "1.0")
    calls = count_calls(target)

    _, out, _ = run_mirror(
        [f"console={source_registry.host}/{repo_name}:1.0"], target, tmp_path / "lock.yaml", dry_run=True
    )

    assert not (set(calls) & WRITES), calls
    assert ecr.list_images(repositoryName="regiongate/console")["imageIds"] == []
    assert not (tmp_path / "lock.yaml").exists()
    assert f"blobs: {len(image.blobs)} to copy" in out


def test_corrupt_layer_is_never_completed(ecr, target, source_client, source_registry, repo_name, tmp_path) -> None:
    image = single_image(repo_name)
    push(source_client, repo_name, image, "1.0")
    bad = list(image.blobs)[2]
    path = source_registry.blob_path(bad)
    data = bytearray(path.read_bytes())
    data[0] ^= 0x01
    path.write_bytes(bytes(data))
    calls = count_calls(target)

    with pytest.raises(DigestMismatchError, match=f"^digest mismatch for .*: expected {bad}, ") as error:
        run_mirror([f"console={source_registry.host}/{repo_name}:1.0"], target, tmp_path / "lock.yaml")

    assert error.value.expected == bad
    assert error.value.actual == "sha256:" + hashlib.sha256(bytes(data)).hexdigest()
    answer = ecr.batch_check_layer_availability(repositoryName="regiongate/console", layerDigests=[bad])
    assert answer["failures"][0]["failureCode"] == "MissingLayerDigest"
    assert calls["PutImage"] == 0
    assert ecr.list_images(repositoryName="regiongate/console")["imageIds"] == []


def test_missing_repository_names_it_and_what_to_do(
    ecr, target, source_client, source_registry, repo_name, tmp_path
) -> None:
    push(source_client, repo_name, single_image(repo_name), "1.0")
    with pytest.raises(RepositoryNotFoundError, match="'regiongate/gateway' does not exist in cn-north-1") as error:
        run_mirror([f"gateway={source_registry.host}/{repo_name}:1.0"], target, tmp_path / "lock.yaml")
    message = str(error.value)
    assert "'regiongate/gateway' does not exist in cn-north-1" in message
    assert "docs/mirror.md" in message and "--target-profile china" in message


def test_immutable_tag_pointing_elsewhere_fails_before_upload(
    ecr, target, source_client, source_registry, repo_name, tmp_path
) -> None:
    first, second = single_image(repo_name + "-a"), single_image(repo_name + "-b")
    push(source_client, repo_name, first, "1.0")
    run_mirror([f"console={source_registry.host}/{repo_name}:1.0"], target, tmp_path / "lock.yaml")
    push(source_client, repo_name, second, "1.0")  # the source tag moved
    calls = count_calls(target)

    with pytest.raises(MirrorError, match=r"tag '1.0' in regiongate/console already points to sha256:.* immutable"):
        run_mirror([f"console={source_registry.host}/{repo_name}:1.0"], target, tmp_path / "lock.yaml")
    assert not (set(calls) & WRITES)
    assert load_lock(tmp_path / "lock.yaml").digest_for("console") == first.digest


def test_rejected_credentials_are_an_auth_error(
    china_profile, source_client, source_registry, repo_name, tmp_path
) -> None:
    push(source_client, repo_name, single_image(repo_name), "1.0")

    @set_initial_no_auth_action_count(0)  # moto checks keys against its IAM: the fake key is unknown
    def attempt() -> None:
        with mock_aws():
            target = EcrTarget.from_profile(region=REGION, profile=china_profile)
            run_mirror([f"console={source_registry.host}/{repo_name}:1.0"], target, tmp_path / "lock.yaml")

    with pytest.raises(AuthError, match=r"ECR in cn-north-1 \(profile 'china'\) rejected the credentials") as error:
        attempt()
    message = str(error.value)
    assert "ECR in cn-north-1 (profile 'china') rejected the credentials" in message
    assert "aws sts get-caller-identity --profile china --region cn-north-1" in message


def test_unknown_profile_is_an_auth_error() -> None:
    with pytest.raises(AuthError, match=r"profile 'nowhere' is not configured.*aws configure --profile nowhere"):
        EcrTarget.from_profile(region=REGION, profile="nowhere")


def test_no_credentials_is_an_auth_error(source_client, source_registry, repo_name, tmp_path) -> None:
    # No moto here: botocore fails while signing, before any connection (and the loopback guard would refuse one).
    push(source_client, repo_name, single_image(repo_name), "1.0")
    target = EcrTarget.from_profile(region=REGION, profile=None)
    with pytest.raises(AuthError, match="no AWS credentials found for ECR in cn-north-1"):
        run_mirror([f"console={source_registry.host}/{repo_name}:1.0"], target, tmp_path / "lock.yaml")


def test_cli_with_profile(ecr, china_profile, source_client, source_registry, repo_name, tmp_path, capsys) -> None:
    console, worker = multi_arch_image(repo_name + "-c"), single_image(repo_name + "-w")
    push(source_client, repo_name + "-c", console, "1.0")
    push(source_client, repo_name + "-w", worker, "2.0")
    lock = tmp_path / "images.lock.yaml"

    code = main(
        [
            "mirror",
            "--source",
            f"console={source_registry.host}/{repo_name}-c:1.0",
            "--source",
            f"worker={source_registry.host}/{repo_name}-w:2.0",
            "--target-region",
            REGION,
            "--target-profile",
            china_profile,
            "--lock",
            str(lock),
        ]
    )

    assert code == 0, capsys.readouterr().err
    loaded = load_lock(lock)
    assert loaded.digest_for("console") == console.digest
    assert loaded.digest_for("worker") == worker.digest
    assert loaded.images["worker"].source == f"{source_registry.host}/{repo_name}-w:2.0"
    assert loaded.images["console"].media_type == console.media_type

    code = main(
        [
            "mirror",
            "--source",
            f"api={source_registry.host}/{repo_name}-w:2.0",
            "--target-region",
            REGION,
            "--target-profile",
            china_profile,
            "--lock",
            str(lock),
        ]
    )
    assert code == 1
    assert "'regiongate/api' does not exist" in capsys.readouterr().err


def test_a_single_tenant_deployment_gets_the_pinned_digest_in_its_own_repository(
    ecr, target, source_client, source_registry, repo_name, tmp_path
) -> None:
    """Tenants share the account and region of the Cn stack: each has regiongate/<deployment>/<image>."""
    lock_path = tmp_path / "lock.yaml"
    image = single_image(repo_name)
    push(source_client, repo_name, image, "1.0")
    run_mirror([f"console={source_registry.host}/{repo_name}:1.0"], target, lock_path)
    with pytest.raises(LockError, match=r"not mirrored into regiongate/tenant-acme/console \(deployments: none\)"):
        load_lock(lock_path).digest_for("console", "tenant-acme")

    ecr.create_repository(repositoryName="regiongate/tenant-acme/console", imageTagMutability="IMMUTABLE")
    run_mirror([f"console={source_registry.host}/{repo_name}:1.0"], target, lock_path, deployments=("tenant-acme",))

    stored = ecr.batch_get_image(repositoryName="regiongate/tenant-acme/console", imageIds=[{"imageTag": "1.0"}])
    assert stored["images"][0]["imageId"]["imageDigest"] == image.digest
    lock = load_lock(lock_path)
    assert lock.images["console"].repository == "regiongate/console"
    assert lock.images["console"].deployments == ("tenant-acme",)
    assert lock.digest_for("console", "tenant-acme") == lock.digest_for("console") == image.digest
    assert lock.repository_for("console", "tenant-acme") == "regiongate/tenant-acme/console"

    # Another version for a deployment alone would leave the lock pinning two digests: refused.
    other = single_image(f"{repo_name}-v2")
    push(source_client, repo_name, other, "2.0")
    with pytest.raises(MirrorError, match=r"pins sha256:[0-9a-f]{64} for console \(regiongate/console\): mirror it"):
        run_mirror([f"console={source_registry.host}/{repo_name}:2.0"], target, lock_path, deployments=("tenant-acme",))
    # A new version for the Cn stack: the tenant's repository still holds the old one, so the lock says so.
    run_mirror([f"console={source_registry.host}/{repo_name}:2.0"], target, lock_path)
    assert load_lock(lock_path).images["console"].deployments == ()
