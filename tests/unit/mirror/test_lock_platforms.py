"""Which platforms a locked digest holds, and the synth-time refusal of a task architecture it does not hold
(``ImagesLock.require_platform``): no file, no registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from regiongate.mirror.lock import ImagesLock, LockedImage, LockError

DIGEST = "sha256:" + "ab" * 32
LOCK_PATH = Path("/nowhere/images.lock.yaml")
SOURCE = "registry.regiongate.example/gateway:1.0.0"


def _lock(platforms: tuple[str, ...], **entry) -> ImagesLock:
    return ImagesLock(path=LOCK_PATH).with_image(
        LockedImage(
            name="gateway",
            repository="regiongate/gateway",
            source=SOURCE,
            tag="1.0.0",
            digest=DIGEST,
            platforms=platforms,
            **entry,
        )
    )


@pytest.mark.parametrize(
    ("platforms", "architecture"),
    [
        (("linux/amd64", "linux/arm64"), "arm64"),
        (("linux/amd64", "linux/arm64"), "x86_64"),
        (("linux/arm64/v8",), "arm64"),  # a variant of linux/arm64 is what an arm64 task pulls
        (("linux/amd64",), "x86_64"),
        ((), "x86_64"),  # not recorded (a lock from before): x86_64, what every task ran before, is accepted
    ],
)
def test_an_architecture_the_digest_holds_is_accepted(platforms, architecture) -> None:
    _lock(platforms).require_platform("gateway", architecture)


def test_arm64_tasks_for_an_amd64_only_image_are_refused_with_both_ways_out() -> None:
    with pytest.raises(LockError, match=r"images\.gateway\.platforms: .* holds linux/amd64, not linux/arm64") as error:
        _lock(("linux/amd64",)).require_platform("gateway", "arm64")
    message = str(error.value)
    assert DIGEST in message
    assert "Set sizing.container_architecture: x86_64" in message
    assert "docker buildx build --platform linux/amd64,linux/arm64" in message
    assert (
        f"regiongate mirror --source gateway={SOURCE} --target-region cn-north-1 --target-profile <china profile> "
        f"--lock {LOCK_PATH}" in message
    )


def test_x86_64_tasks_for_an_arm64_only_image_are_refused() -> None:
    with pytest.raises(LockError, match=r"holds linux/arm64, not linux/amd64, which an x86_64 task") as error:
        _lock(("linux/arm64",)).require_platform("gateway", "x86_64")
    assert "Set sizing.container_architecture: arm64" in str(error.value)


def test_arm64_tasks_for_unrecorded_platforms_are_refused_naming_the_mirror_command_that_records_them() -> None:
    with pytest.raises(LockError, match=r"does not record which platforms sha256:(ab){32} holds") as error:
        _lock(()).require_platform("gateway", "arm64")
    assert f"regiongate mirror --source gateway={SOURCE} --target-region cn-north-1" in str(error.value)


def test_a_deployment_in_another_region_is_told_its_own_command_and_the_target_regions_first() -> None:
    lock = _lock(("linux/amd64",), regions={"eu-west-1": ("regiongate/tenant-acme/gateway",)})
    with pytest.raises(LockError, match=r"not linux/arm64") as error:
        lock.require_platform("gateway", "arm64", "tenant-acme", "eu-west-1")
    message = str(error.value)
    own = f"regiongate mirror --source gateway={SOURCE} --target-region eu-west-1 --deployment tenant-acme "
    first = (
        f"first for the lock's target region: regiongate mirror --source gateway={SOURCE} --target-region cn-north-1 "
    )
    assert own in message and first in message
    assert message.index(first) < message.rindex(own)


def test_an_image_the_lock_does_not_pin_is_refused_as_before() -> None:
    with pytest.raises(LockError, match=r"not mirrored into China ECR \(no image 'console' in it"):
        _lock(("linux/amd64",)).require_platform("console", "x86_64")


def test_holds_platform_says_none_when_nothing_is_recorded() -> None:
    image = _lock(()).images["gateway"]
    assert image.holds_platform("linux/arm64") is None
    assert _lock(("linux/amd64",)).images["gateway"].holds_platform("linux/arm64") is False
    # linux/arm is not linux/arm64: a prefix match stops at the path separator.
    assert _lock(("linux/arm/v7",)).images["gateway"].holds_platform("linux/arm64") is False
