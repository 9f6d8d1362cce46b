"""The lock file the Cn stack reads at synth time: round trip, strict parsing, the unmirrored-image error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from regiongate.config.regions import ConfigError
from regiongate.mirror.lock import (
    DEFAULT_LOCK_PATH,
    ImagesLock,
    LockedImage,
    LockError,
    load_lock,
    repository_name_for,
    write_lock,
)

DIGEST = "sha256:" + "ab" * 32


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "images.lock.yaml"
    lock = ImagesLock(path=path).with_image(
        LockedImage(
            name="console",
            repository="regiongate/console",
            source="ghcr.io/acme/console:1.4",
            tag="1.4",
            digest=DIGEST,
            media_type="application/vnd.oci.image.index.v1+json",
        )
    )
    write_lock(lock)
    loaded = load_lock(path)
    assert loaded.digest_for("console") == DIGEST
    assert loaded.repository_for("console") == "regiongate/console"
    assert loaded.images["console"] == lock.images["console"]
    assert loaded.target_region == "cn-north-1"
    assert path.read_text().startswith("# Container images mirrored")


def test_unmirrored_image_names_file_image_and_command(tmp_path: Path) -> None:
    path = tmp_path / "images.lock.yaml"
    write_lock(ImagesLock(path=path))
    with pytest.raises(
        LockError, match=r"images\.console: not mirrored into China ECR \(no image 'console' in it"
    ) as error:
        load_lock(path).digest_for("console")
    message = str(error.value)
    assert str(path) in message
    assert "images.console" in message
    assert (
        f"regiongate mirror --source console=<registry/repo:tag> --target-region cn-north-1 "
        f"--target-profile <china profile> --lock {path}" in message
    )
    assert isinstance(error.value, ConfigError)  # the CLI and synth report it like any config mistake


def test_declared_image_without_digest_uses_its_source_in_the_command(tmp_path: Path) -> None:
    path = tmp_path / "images.lock.yaml"
    path.write_text("version: 1\nimages:\n  console:\n    source: ghcr.io/acme/console:1.4\n")
    with pytest.raises(LockError, match=r"declared but has no digest.*--source console=ghcr.io/acme/console:1.4 "):
        load_lock(path).digest_for("console")
    assert load_lock(path).repository_for("console") == "regiongate/console"


def test_missing_file_is_an_empty_lock_that_says_so(tmp_path: Path) -> None:
    lock = load_lock(tmp_path / "absent.yaml")
    assert not lock.exists
    with pytest.raises(LockError, match="the lock file does not exist"):
        lock.digest_for("console")


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("images:\n  console:\n    digest: sha256:abc\n", "images.console.digest", "not a digest"),
        ("images:\n  console:\n    digests: x\n", "images.console.digests", "unknown key"),
        ("imagez: {}\n", "imagez", "unknown key"),
        ("version: 2\n", "version", "not supported"),
        ("images:\n  Console: {}\n", "images.Console", "lower-case"),
        ("images:\n  console:\n    repository: Bad Name\n", "images.console.repository", "not a valid ECR repository"),
        ("images:\n  console:\n    deployments: tenant-acme\n", "images.console.deployments", "must be a list"),
        ("images:\n  console:\n    deployments: [tenant-acme]\n", "images.console.deployments", "without a digest"),
        ("- a\n", "<file>", "must be a mapping"),
        ("images: [\n", "<file>", "not valid YAML"),
    ],
)
def test_malformed_lock_is_refused_with_key(tmp_path: Path, text: str, key: str, problem: str) -> None:
    path = tmp_path / "images.lock.yaml"
    path.write_text(text)
    with pytest.raises(LockError, match=rf"images\.lock\.yaml: {re.escape(key)}: .*{re.escape(problem)}") as error:
        load_lock(path)
    assert error.value.key == key
    assert problem in error.value.problem


def test_repository_names_match_what_the_cn_stack_creates() -> None:
    assert repository_name_for("console") == "regiongate/console"
    assert repository_name_for("console", "tenant-acme") == "regiongate/tenant-acme/console"


def test_committed_lock_file_parses() -> None:
    lock = load_lock(DEFAULT_LOCK_PATH)
    assert lock.exists
    assert lock.target_region == "cn-north-1"
    for image in lock.images.values():
        assert image.repository == repository_name_for(image.name)


def test_example_entries_are_recognisable() -> None:
    assert LockedImage(
        name="console", repository="regiongate/console", source="example.invalid/x/console:0.1"
    ).is_example
    assert not LockedImage(
        name="console", repository="regiongate/console", source="ghcr.io/acme/console:0.1"
    ).is_example
