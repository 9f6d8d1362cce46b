"""``images.lock.yaml``: the container images mirrored into China ECR, pinned by digest.

``regiongate mirror`` writes it; the Cn stack reads it at synth time so every ECS task pulls its image
by digest from the in-country repository. Reading needs only PyYAML: no AWS call, no network.

    lock = load_lock(PROJECT_DIR / "images.lock.yaml")
    lock.digest_for("console")      # "sha256:…", or a LockError naming the command to run
    lock.repository_for("console")  # "regiongate/console"
    lock.repository_for("console", "tenant-pekingbank")  # "regiongate/tenant-pekingbank/console"

The format (strict: unknown keys are refused, like ``regions.yaml``)::

    version: 1
    target_region: cn-north-1
    images:
      console:
        repository: regiongate/console        # the ECR repository the Cn stack creates
        source: ghcr.io/acme/console:1.4.2    # where it was copied from
        tag: 1.4.2                            # tag pushed with it (absent for a digest source)
        digest: sha256:…                      # manifest (or index) digest in the target repository
        media_type: application/vnd.oci.image.index.v1+json
        deployments: [tenant-pekingbank]      # single-tenant repositories holding the same digest

An entry without ``digest`` declares an image that has not been mirrored yet; ``digest_for`` refuses it.
A single-tenant deployment has a repository of its own (``regiongate/<deployment id>/<image>``), so tenants can
share an account and region with the Cn stack and with each other; ``digest_for(name, deployment)`` refuses a
deployment whose repository has not received the pinned digest (``regiongate mirror --deployment <id>``).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from regiongate.config.regions import PROJECT_DIR, ConfigError

DEFAULT_LOCK_PATH = PROJECT_DIR / "images.lock.yaml"
DEFAULT_TARGET_REGION = "cn-north-1"
LOCK_VERSION = 1
# The Cn stack creates one ECR repository per image: ``regiongate/<image>``; a single-tenant stack creates
# ``regiongate/<deployment id>/<image>``.
REPOSITORY_PREFIX = "regiongate/"
DEPLOYMENT_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
IMAGE_NAME_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
# ECR's repository-name pattern.
REPOSITORY_RE = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")

_TOP_KEYS = {"version", "target_region", "images"}
_ENTRY_KEYS = {"repository", "source", "tag", "digest", "media_type", "deployments"}

_HEADER = """\
# Container images mirrored into the China ECR repositories, pinned by digest.
# Written by `regiongate mirror` (see docs/mirror.md); read by the Cn stack at synth time.
# Do not edit digests by hand: run `regiongate mirror` again instead.
"""


class LockError(ConfigError):
    """A missing or malformed entry in the image lock file; the message says what to run or fix."""


def repository_name_for(image: str, deployment: str | None = None) -> str:
    """The ECR repository a stack creates for a logical image name: ``console`` → ``regiongate/console`` (the Cn
    stack), or ``regiongate/tenant-acme/console`` for the single-tenant deployment ``tenant-acme``."""
    return REPOSITORY_PREFIX + (f"{deployment}/" if deployment else "") + image


@dataclass(frozen=True)
class LockedImage:
    name: str
    repository: str
    source: str | None = None
    tag: str | None = None
    digest: str | None = None
    media_type: str | None = None
    # Single-tenant deployments whose own repository holds ``digest`` too (sorted).
    deployments: tuple[str, ...] = ()

    @property
    def is_example(self) -> bool:
        """An entry shipped as an example: its source registry is under the reserved ``.invalid`` domain."""
        host = (self.source or "").split("/", 1)[0]
        return host == "invalid" or host.endswith(".invalid")

    def to_yaml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"repository": self.repository}
        for key in ("source", "tag", "digest", "media_type"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.deployments:
            out["deployments"] = list(self.deployments)
        return out


@dataclass(frozen=True)
class ImagesLock:
    path: Path
    target_region: str = DEFAULT_TARGET_REGION
    images: Mapping[str, LockedImage] = field(default_factory=dict)
    exists: bool = True

    def mirror_command(self, name: str, deployment: str | None = None) -> str:
        """The exact command that mirrors ``name`` into this lock (with a placeholder where unknown)."""
        entry = self.images.get(name)
        source = entry.source if entry and entry.source else "<registry/repo:tag>"
        return (
            f"regiongate mirror --source {name}={source} --target-region {self.target_region} "
            + (
                f"--deployment {deployment} --target-profile <profile of that deployment's account> "
                if deployment
                else "--target-profile <china profile> "
            )
            + f"--lock {_display(self.path)}"
        )

    def digest_for(self, name: str, deployment: str | None = None) -> str:
        """The mirrored manifest digest of image ``name``; a :class:`LockError` if it was never mirrored (into
        the repository of ``deployment``, for a single-tenant deployment)."""
        digest = self._digest(name)
        entry = self.images[name]
        if deployment is not None and deployment not in entry.deployments:
            raise LockError(
                self.path,
                f"images.{name}.deployments",
                f"{digest} is not mirrored into {self.repository_for(name, deployment)} (deployments: "
                f"{', '.join(entry.deployments) or 'none'}). Deploy the stack once (it creates the repository), "
                f"mirror the image into it, then synth again: {self.mirror_command(name, deployment)}",
            )
        return digest

    def in_repository(self, name: str, deployment: str | None = None) -> bool:
        """Whether the pinned digest of ``name`` is in the repository of ``deployment`` (the Cn stack's: None)."""
        entry = self.images.get(name)
        if entry is None or entry.digest is None:
            return False
        return deployment is None or deployment in entry.deployments

    def _digest(self, name: str) -> str:
        entry = self.images.get(name)
        if entry is None or entry.digest is None:
            if not self.exists:
                state = "the lock file does not exist"
            elif entry is None:
                state = f"no image {name!r} in it (images: {', '.join(sorted(self.images)) or 'none'})"
            else:
                state = f"image {name!r} is declared but has no digest"
            raise LockError(
                self.path,
                f"images.{name}",
                f"not mirrored into China ECR ({state}). Mirror it first, then synth again: "
                f"{self.mirror_command(name)}",
            )
        return entry.digest

    def repository_for(self, name: str, deployment: str | None = None) -> str:
        if deployment is not None:
            return repository_name_for(name, deployment)
        entry = self.images.get(name)
        return entry.repository if entry else repository_name_for(name)

    def with_image(self, image: LockedImage) -> ImagesLock:
        images = dict(self.images)
        images[image.name] = image
        return replace(self, images=images)

    def to_yaml(self) -> dict[str, Any]:
        return {
            "version": LOCK_VERSION,
            "target_region": self.target_region,
            "images": {name: self.images[name].to_yaml() for name in sorted(self.images)},
        }


def _display(path: Path) -> str:
    """``images.lock.yaml`` when the file is under the working directory, else the full path."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_lock(path: Path | str = DEFAULT_LOCK_PATH) -> ImagesLock:
    """Read and validate the lock file. A missing file is an empty lock (``digest_for`` then says so)."""
    path = Path(path)
    if not path.exists():
        return ImagesLock(path=path, images={}, exists=False)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise LockError(path, "<file>", f"not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise LockError(path, "<file>", "must be a mapping with keys version, target_region, images")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise LockError(path, sorted(unknown)[0], f"unknown key; valid keys: {', '.join(sorted(_TOP_KEYS))}")
    version = data.get("version", LOCK_VERSION)
    if version != LOCK_VERSION:
        raise LockError(path, "version", f"{version!r} is not supported; this regiongate reads version {LOCK_VERSION}")
    region = data.get("target_region", DEFAULT_TARGET_REGION)
    if not isinstance(region, str) or not region:
        raise LockError(path, "target_region", "must be a region name such as cn-north-1")
    raw_images = data.get("images") or {}
    if not isinstance(raw_images, dict):
        raise LockError(path, "images", "must be a mapping of image name to its entry")
    images: dict[str, LockedImage] = {}
    for name, raw in raw_images.items():
        images[str(name)] = _parse_entry(path, str(name), raw)
    return ImagesLock(path=path, target_region=region, images=images)


def _parse_entry(path: Path, name: str, raw: Any) -> LockedImage:
    key = f"images.{name}"
    if not IMAGE_NAME_RE.match(name):
        raise LockError(path, key, "image names are lower-case letters, digits and . _ - (e.g. console)")
    if not isinstance(raw, dict):
        raise LockError(path, key, "must be a mapping with keys " + ", ".join(sorted(_ENTRY_KEYS)))
    unknown = set(raw) - _ENTRY_KEYS
    if unknown:
        raise LockError(
            path, f"{key}.{sorted(unknown)[0]}", f"unknown key; valid keys: {', '.join(sorted(_ENTRY_KEYS))}"
        )
    for field_name in _ENTRY_KEYS - {"deployments"}:
        if field_name in raw and not isinstance(raw[field_name], str):
            raise LockError(path, f"{key}.{field_name}", f"must be a string, got {raw[field_name]!r}")
    repository = raw.get("repository", repository_name_for(name))
    if not REPOSITORY_RE.match(repository):
        raise LockError(path, f"{key}.repository", f"{repository!r} is not a valid ECR repository name")
    digest = raw.get("digest")
    if digest is not None and not DIGEST_RE.match(digest):
        raise LockError(path, f"{key}.digest", f"{digest!r} is not a digest of the form sha256:<64 hex digits>")
    deployments = raw.get("deployments") or []
    if not isinstance(deployments, list) or not all(isinstance(d, str) and DEPLOYMENT_RE.match(d) for d in deployments):
        raise LockError(
            path, f"{key}.deployments", f"must be a list of deployment ids such as tenant-acme, got {deployments!r}"
        )
    if deployments and digest is None:
        raise LockError(path, f"{key}.deployments", "an image without a digest cannot be mirrored into a deployment")
    return LockedImage(
        name=name,
        repository=repository,
        source=raw.get("source"),
        tag=raw.get("tag"),
        digest=digest,
        media_type=raw.get("media_type"),
        deployments=tuple(sorted(set(deployments))),
    )


def write_lock(lock: ImagesLock, path: Path | str | None = None) -> Path:
    """Write ``lock`` atomically (a temporary file renamed over the old one), images sorted by name."""
    target = Path(path) if path is not None else lock.path
    target.parent.mkdir(parents=True, exist_ok=True)
    text = _HEADER + yaml.safe_dump(lock.to_yaml(), sort_keys=False, default_flow_style=False)
    fd, tmp = tempfile.mkstemp(prefix=".images.lock.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
