"""Copies between two real registries on loopback (Debian's docker-registry), with an OCI target."""

from __future__ import annotations

import hashlib

import pytest

from regiongate.cli.main import main
from regiongate.mirror.errors import AuthError, DigestMismatchError, RepositoryNotFoundError
from regiongate.mirror.lock import load_lock
from regiongate.mirror.registry import RegistryClient
from regiongate.mirror.targets import RegistryTarget
from tests.fixtures.images import (
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    build_manifest,
    multi_arch_image,
    push,
    random_bytes,
    single_image,
)
from tests.fixtures.mirror import CountingTarget, run_mirror
from tests.fixtures.mirror_registries import TOKEN_PASSWORD, TOKEN_USER


@pytest.fixture
def target(target_registry) -> CountingTarget:
    return CountingTarget(RegistryTarget(RegistryClient(target_registry.host, scheme="http")))


def _target_blob(client: RegistryClient, repository: str, digest: str) -> bytes:
    return b"".join(client.blob_chunks(repository, digest))


def test_copies_single_manifest_and_verifies_every_blob(
    source_client, source_registry, target, repo_name, tmp_path
) -> None:
    image = single_image(repo_name)
    push(source_client, repo_name, image, "1.0")

    results, out, err = run_mirror([f"console={source_registry.host}/{repo_name}:1.0"], target, tmp_path / "lock.yaml")

    result = results[0]
    assert result.plan.digest == image.digest
    assert result.uploaded_blobs == len(image.blobs) == target.calls["upload_blob"]
    assert result.uploaded_bytes == sum(len(b) for b in image.blobs.values())
    client = target.inner.client
    body, media_type, _ = client.get_manifest("regiongate/console", "1.0")
    assert body == image.body and hashlib.sha256(body).hexdigest() == image.digest.split(":")[1]
    for digest, data in image.blobs.items():
        assert _target_blob(client, "regiongate/console", digest) == data
    assert f"{len(image.blobs)}/{len(image.blobs)} layers" in err  # progress bar on stderr
    assert "mirrored regiongate/console@" + image.digest in out
    assert load_lock(tmp_path / "lock.yaml").digest_for("console") == image.digest


@pytest.mark.parametrize(
    "index_type", ["application/vnd.oci.image.index.v1+json", DOCKER_MANIFEST_LIST], ids=["oci", "docker"]
)
def test_copies_multi_arch_index_uploading_shared_layers_once(
    source_client, source_registry, target, repo_name, tmp_path, index_type
) -> None:
    image = multi_arch_image(repo_name, media_type=index_type)
    push(source_client, repo_name, image, "2.0")
    name = "multi-oci" if "oci" in index_type else "multi-docker"

    results, out, _ = run_mirror([f"{name}={source_registry.host}/{repo_name}:2.0"], target, tmp_path / "lock.yaml")

    client = target.inner.client
    assert client.get_manifest(f"regiongate/{name}", "2.0")[0] == image.body
    for child in image.children:
        assert client.get_manifest(f"regiongate/{name}", child.digest)[0] == child.body
    # 2 configs + 3 distinct layers (one shared by both platforms): 5 uploads, not 6.
    assert target.calls["upload_blob"] == len(image.blobs) == 5
    assert target.calls["put_manifest"] == 3
    assert "linux/amd64" in out and "linux/arm64" in out


def test_dry_run_changes_nothing(source_client, source_registry, target, repo_name, tmp_path) -> None:
    image = single_image(repo_name)
    push(source_client, repo_name, image, "1.0")
    lock = tmp_path / "lock.yaml"

    _, out, _ = run_mirror([f"dry={source_registry.host}/{repo_name}:1.0"], target, lock, dry_run=True)

    assert target.calls == {}
    assert target.inner.client.head_manifest("regiongate/dry", image.digest) is None
    assert not lock.exists()
    assert f"blobs: {len(image.blobs)} to copy" in out and "Dry run: nothing copied" in out


def test_second_run_is_idempotent(source_client, source_registry, target, repo_name, tmp_path) -> None:
    image = multi_arch_image(repo_name)
    push(source_client, repo_name, image, "3.0")
    lock = tmp_path / "lock.yaml"
    source = f"idem={source_registry.host}/{repo_name}:3.0"
    run_mirror([source], target, lock)
    first_lock = lock.read_text()
    target.calls.clear()

    results, out, _ = run_mirror([source], target, lock)

    assert target.calls == {}
    assert results[0].plan.up_to_date
    assert "up to date" in out
    assert lock.read_text() == first_lock


def test_existing_layers_are_skipped(source_client, source_registry, target, repo_name, tmp_path) -> None:
    base = random_bytes(repo_name + "-base", 250_000)
    v1 = build_manifest([base, random_bytes(repo_name + "-v1", 50_000)])
    v2 = build_manifest([base, random_bytes(repo_name + "-v2", 60_000)])
    push(source_client, repo_name, v1, "v1")
    push(source_client, repo_name, v2, "v2")
    run_mirror([f"skip={source_registry.host}/{repo_name}:v1"], target, tmp_path / "lock.yaml")
    target.uploaded.clear()

    results, _, _ = run_mirror([f"skip={source_registry.host}/{repo_name}:v2"], target, tmp_path / "lock.yaml")

    # Only v2's config and its own layer travel; the shared base layer is already in the target.
    assert sorted(target.uploaded) == sorted(set(v2.blobs) - set(v1.blobs))
    assert results[0].skipped_blobs == 1


def test_corrupted_layer_is_refused_and_not_committed(
    source_client, source_registry, target, repo_name, tmp_path
) -> None:
    image = single_image(repo_name)
    push(source_client, repo_name, image, "1.0")
    bad_digest = list(image.blobs)[1]
    stored = source_registry.blob_path(bad_digest)
    data = bytearray(stored.read_bytes())
    data[100] ^= 0xFF  # same size, different bytes: what a corrupt mirror or a tampering proxy would serve
    stored.write_bytes(bytes(data))

    with pytest.raises(DigestMismatchError, match=f"^digest mismatch for .*: expected {bad_digest}, ") as error:
        run_mirror([f"corrupt={source_registry.host}/{repo_name}:1.0"], target, tmp_path / "lock.yaml")

    assert error.value.expected == bad_digest
    client = target.inner.client
    assert not client.blob_exists("regiongate/corrupt", bad_digest)
    assert client.head_manifest("regiongate/corrupt", "1.0") is None
    assert not (tmp_path / "lock.yaml").exists()


def test_tampered_manifest_is_refused(source_client, source_registry, target, repo_name, tmp_path) -> None:
    image = build_manifest([random_bytes(repo_name, 1000)], media_type=OCI_MANIFEST, annotation="aaaa")
    push(source_client, repo_name, image, "1.0")
    stored = source_registry.blob_path(image.digest)
    stored.write_bytes(stored.read_bytes().replace(b'"aaaa"', b'"bbbb"'))

    with pytest.raises(DigestMismatchError, match=image.digest):
        run_mirror([f"tampered={source_registry.host}/{repo_name}:1.0"], target, tmp_path / "lock.yaml")
    assert target.calls == {}


def test_missing_source_image_names_it(source_registry, target, tmp_path) -> None:
    with pytest.raises(RepositoryNotFoundError, match=rf"{source_registry.host}/does/not-exist:1.0 not found"):
        run_mirror([f"gone={source_registry.host}/does/not-exist:1.0"], target, tmp_path / "lock.yaml")


def test_token_auth_flow_with_credentials(token_registry, token_service, target, tmp_path, monkeypatch) -> None:
    seeder = RegistryClient(token_registry.host, scheme="http", credentials=(TOKEN_USER, TOKEN_PASSWORD))
    image = single_image("token")
    push(seeder, "private/console", image, "1.0")
    monkeypatch.setenv("REGIONGATE_SOURCE_USERNAME", TOKEN_USER)
    monkeypatch.setenv("REGIONGATE_SOURCE_PASSWORD", TOKEN_PASSWORD)
    token_service.requests.clear()

    results, _, _ = run_mirror([f"private={token_registry.host}/private/console:1.0"], target, tmp_path / "lock.yaml")

    assert results[0].plan.digest == image.digest
    assert {"user": TOKEN_USER, "scope": ["repository:private/console:pull"]} in token_service.requests


def test_wrong_password_is_an_auth_error(token_registry, target, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REGIONGATE_SOURCE_USERNAME", TOKEN_USER)
    monkeypatch.setenv("REGIONGATE_SOURCE_PASSWORD", "wrong")
    with pytest.raises(AuthError, match=rf"^registry {token_registry.host} refused user {TOKEN_USER!r} for ") as error:
        run_mirror([f"x={token_registry.host}/private/console:1.0"], target, tmp_path / "lock.yaml")
    message = str(error.value)
    assert token_registry.host in message and f"user {TOKEN_USER!r}" in message
    assert "REGIONGATE_SOURCE_USERNAME" in message and "REGIONGATE_SOURCE_PASSWORD" in message


def test_anonymous_pull_of_private_image_is_an_auth_error(token_registry, target, tmp_path) -> None:
    with pytest.raises(AuthError, match=r"denied anonymous access pull on private/console"):
        run_mirror([f"x={token_registry.host}/private/console:1.0"], target, tmp_path / "lock.yaml")


def test_basic_auth_registry(basic_registry, target, tmp_path, monkeypatch) -> None:
    seeder = RegistryClient(basic_registry.host, scheme="http", credentials=(TOKEN_USER, TOKEN_PASSWORD))
    image = single_image("basic")
    push(seeder, "private/basic", image, "1.0")
    source = f"basic={basic_registry.host}/private/basic:1.0"

    with pytest.raises(
        AuthError, match=rf"registry {basic_registry.host} requires authentication for private/basic \(Basic"
    ):
        run_mirror([source], target, tmp_path / "lock.yaml")
    monkeypatch.setenv("REGIONGATE_SOURCE_USERNAME", TOKEN_USER)
    monkeypatch.setenv("REGIONGATE_SOURCE_PASSWORD", "wrong")
    with pytest.raises(AuthError, match=rf"registry {basic_registry.host} denied user 'mirror-bot' pull"):
        run_mirror([source], target, tmp_path / "lock.yaml")
    monkeypatch.setenv("REGIONGATE_SOURCE_PASSWORD", TOKEN_PASSWORD)
    results, _, _ = run_mirror([source], target, tmp_path / "lock.yaml")
    assert results[0].plan.digest == image.digest


def test_docker_config_credentials_are_used(token_registry, target, tmp_path, monkeypatch) -> None:
    import base64
    import json

    config_dir = tmp_path / "docker"
    config_dir.mkdir()
    auth = base64.b64encode(f"{TOKEN_USER}:{TOKEN_PASSWORD}".encode()).decode()
    (config_dir / "config.json").write_text(json.dumps({"auths": {token_registry.host: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    seeder = RegistryClient(token_registry.host, scheme="http", credentials=(TOKEN_USER, TOKEN_PASSWORD))
    image = single_image("docker-config")
    push(seeder, "private/dc", image, "1.0")

    results, _, _ = run_mirror([f"dc={token_registry.host}/private/dc:1.0"], target, tmp_path / "lock.yaml")
    assert results[0].plan.digest == image.digest


def test_cli_end_to_end(source_client, source_registry, target_registry, repo_name, tmp_path, capsys) -> None:
    image = multi_arch_image(repo_name)
    push(source_client, repo_name, image, "1.0")
    lock = tmp_path / "images.lock.yaml"
    argv = [
        "mirror",
        "--source",
        f"cli={source_registry.host}/{repo_name}:1.0",
        "--target-registry",
        target_registry.host,
        "--lock",
        str(lock),
    ]

    assert main([*argv, "--dry-run"]) == 0
    assert not lock.exists()
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "layers" in captured.err and "Lock file:" in captured.out
    assert load_lock(lock).digest_for("cli") == image.digest

    assert (
        main(
            [
                "mirror",
                "--source",
                f"cli={source_registry.host}/nope:1",
                "--target-registry",
                target_registry.host,
                "--lock",
                str(lock),
            ]
        )
        == 1
    )
    assert "not found in the source registry" in capsys.readouterr().err
