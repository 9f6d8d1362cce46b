"""``images.lock.yaml``: the container images mirrored into the stacks' ECR repositories, pinned by digest.

``regiongate mirror`` writes it; every stack reads it at synth time so each ECS task pulls its image
by digest from the stack's own in-region repository (in China: in-country). Reading needs only PyYAML: no AWS call, no network.

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
        platforms: [linux/amd64, linux/arm64] # what the digest holds: an index's platforms, or the one image's
        deployments: [tenant-pekingbank]      # single-tenant repositories holding the same digest
        regions:                              # repositories in other regions holding the same digest
          eu-west-1: [regiongate/console, regiongate/tenant-acme/console]

One lock pins one digest per image for every deployment that reads it; ``repository`` and ``deployments`` are
in ``target_region`` (the Cn stack's), ``regions`` records where else the pinned digest was mirrored
(``regiongate mirror --target-region eu-west-1 [--deployment tenant-acme]``). Mirroring a new digest into
``target_region`` clears both records: those repositories still hold the previous digest.

An entry without ``digest`` declares an image that has not been mirrored yet; ``digest_for`` refuses it.
``platforms`` (recorded by ``regiongate mirror`` from the manifest it copies; absent in a lock written before it
did) tells synth whether a task of a given CPU architecture finds its image: ``require_platform`` refuses one
the digest does not hold, naming the command that fixes it.
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
_ENTRY_KEYS = {"repository", "source", "tag", "digest", "media_type", "platforms", "deployments", "regions"}
REGION_RE = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")
# An OCI platform as ``os/architecture[/variant]`` (linux/amd64, linux/arm64, linux/arm64/v8).
PLATFORM_RE = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?$")
# The platform an ECS task of each CPU architecture (``sizing.container_architecture``) pulls from an index.
TASK_PLATFORMS = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}

_HEADER = """\
# Container images mirrored into the stacks' ECR repositories, pinned by digest.
# Written by `regiongate mirror` (see docs/mirror.md); read by every stack at synth time.
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
    # The platforms ``digest`` holds (``os/architecture[/variant]``, sorted); empty: not recorded.
    platforms: tuple[str, ...] = ()
    # Single-tenant deployments whose own repository holds ``digest`` too (sorted).
    deployments: tuple[str, ...] = ()
    # Region (other than the lock's target region) → repositories there that hold ``digest`` too (sorted).
    regions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

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
        if self.platforms:
            out["platforms"] = list(self.platforms)
        if self.deployments:
            out["deployments"] = list(self.deployments)
        if self.regions:
            out["regions"] = {region: list(self.regions[region]) for region in sorted(self.regions)}
        return out

    def holds_platform(self, platform: str) -> bool | None:
        """Whether ``digest`` holds ``platform`` (``linux/arm64`` also matches ``linux/arm64/v8``); None when
        the lock does not record the platforms."""
        if not self.platforms:
            return None
        return any(p == platform or p.startswith(platform + "/") for p in self.platforms)

    def with_repository(self, region: str, repository: str) -> LockedImage:
        """This entry, recording that ``repository`` in ``region`` (not the lock's target region) holds ``digest``."""
        regions = dict(self.regions)
        regions[region] = tuple(sorted({*regions.get(region, ()), repository}))
        return replace(self, regions=regions)


@dataclass(frozen=True)
class ImagesLock:
    path: Path
    target_region: str = DEFAULT_TARGET_REGION
    images: Mapping[str, LockedImage] = field(default_factory=dict)
    exists: bool = True

    def mirror_command(self, name: str, deployment: str | None = None, region: str | None = None) -> str:
        """The exact command that mirrors ``name`` into this lock for ``deployment`` in ``region`` (default: the
        lock's target region), with a placeholder where unknown."""
        region = region or self.target_region
        entry = self.images.get(name)
        source = entry.source if entry and entry.source else "<registry/repo:tag>"
        if deployment:
            profile = "<profile of that deployment's account>"
        elif _is_china(region):
            profile = "<china profile>"
        else:
            profile = f"<profile of the {region} account>"
        return (
            f"regiongate mirror --source {name}={source} --target-region {region} "
            + (f"--deployment {deployment} " if deployment else "")
            + f"--target-profile {profile} --lock {_display(self.path)}"
        )

    def digest_for(self, name: str, deployment: str | None = None, region: str | None = None) -> str:
        """The mirrored manifest digest of image ``name``; a :class:`LockError` if it was never mirrored (into
        the repository of ``deployment`` in ``region``; default: the lock's target region)."""
        digest = self.pinned_digest(name, deployment, region)
        if not self.in_repository(name, deployment, region):
            entry = self.images[name]
            if region is None or region == self.target_region:
                held_by = f"deployments: {', '.join(entry.deployments) or 'none'}"
            else:
                held_by = f"repositories in {region}: {', '.join(entry.regions.get(region, ())) or 'none'}"
            where = self.repository_for(name, deployment) + (
                f" in {region}" if region is not None and region != self.target_region else ""
            )
            raise LockError(
                self.path,
                f"images.{name}.deployments"
                if region is None or region == self.target_region
                else f"images.{name}.regions.{region}",
                f"{digest} is not mirrored into {where} ({held_by}). Deploy the stack once (it creates the "
                f"repository), mirror the image into it, then synth again: "
                f"{self.mirror_command(name, deployment, region)}",
            )
        return digest

    def require_platform(
        self,
        name: str,
        architecture: str,
        deployment: str | None = None,
        region: str | None = None,
        *,
        setting: str = "sizing.container_architecture",
    ) -> None:
        """Refuse (:class:`LockError`) a task of CPU ``architecture`` (``x86_64`` or ``arm64``) for the pinned
        digest of ``name`` unless the lock records that the digest holds its platform. A lock that records no
        platforms (written before ``regiongate mirror`` recorded them) is accepted for x86_64, what every task ran
        before the architecture was configurable, and refused for arm64."""
        digest = self.pinned_digest(name, deployment, region)
        entry = self.images[name]
        platform = TASK_PLATFORMS[architecture]
        held = entry.holds_platform(platform)
        if held or (held is None and architecture == "x86_64"):
            return
        command = self.mirror_command(name, deployment, region)
        if held is None:
            raise LockError(
                self.path,
                f"images.{name}.platforms",
                f"the lock does not record which platforms {digest} holds, so an {architecture} task ({setting}) "
                f"cannot be known to find {platform} in it. Mirror it again (it records them; layers already in "
                f"the target are not copied again), then synth again: {command}",
            )
        first = (
            ""
            if (deployment is None and region in (None, self.target_region))
            else (f" (first for the lock's target region: {self.mirror_command(name)})")
        )
        raise LockError(
            self.path,
            f"images.{name}.platforms",
            f"{digest} holds {', '.join(entry.platforms)}, not {platform}, which an {architecture} task ({setting}) "
            f"pulls. Set {setting}: {_architecture_of(entry.platforms)}, or build the image for both platforms "
            f"(docker buildx build --platform linux/amd64,linux/arm64) and mirror it{first}, then synth "
            f"again: {command}",
        )

    def in_repository(self, name: str, deployment: str | None = None, region: str | None = None) -> bool:
        """Whether the pinned digest of ``name`` is in the repository of ``deployment`` (a region stack's: None)
        in ``region`` (default: the lock's target region)."""
        entry = self.images.get(name)
        if entry is None or entry.digest is None:
            return False
        if region is not None and region != self.target_region:
            return self.repository_for(name, deployment) in entry.regions.get(region, ())
        return deployment is None or deployment in entry.deployments

    def pinned_digest(self, name: str, deployment: str | None = None, region: str | None = None) -> str:
        """The digest the lock pins for ``name``, wherever it has been mirrored; a :class:`LockError` naming the
        command for ``deployment`` in ``region`` if the lock pins none."""
        entry = self.images.get(name)
        if entry is None or entry.digest is None:
            if not self.exists:
                state = "the lock file does not exist"
            elif entry is None:
                state = f"no image {name!r} in it (images: {', '.join(sorted(self.images)) or 'none'})"
            else:
                state = f"image {name!r} is declared but has no digest"
            region = region or self.target_region
            into = "China ECR" if _is_china(region) else f"ECR in {region}"
            raise LockError(
                self.path,
                f"images.{name}",
                f"not mirrored into {into} ({state}). Mirror it first, then synth again: "
                f"{self.mirror_command(name, deployment, region)}",
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


def _architecture_of(platforms: tuple[str, ...]) -> str:
    """The task architectures that ``platforms`` can run, for the refusal's advice (``x86_64 | arm64``)."""
    fits = [
        arch
        for arch, platform in TASK_PLATFORMS.items()
        if LockedImage("_", "_", platforms=platforms).holds_platform(platform)
    ]
    return " | ".join(fits) or "(none: the image holds no linux/amd64 or linux/arm64 manifest)"


def _is_china(region: str) -> bool:
    return region.startswith("cn-")


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
    for field_name in _ENTRY_KEYS - {"deployments", "regions", "platforms"}:
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
    regions = _parse_regions(path, key, raw.get("regions"), digest)
    platforms = raw.get("platforms") or []
    if not isinstance(platforms, list) or not all(isinstance(p, str) and PLATFORM_RE.match(p) for p in platforms):
        raise LockError(path, f"{key}.platforms", f"must be a list of platforms such as linux/amd64, got {platforms!r}")
    if platforms and digest is None:
        raise LockError(path, f"{key}.platforms", "an image without a digest holds no platforms")
    return LockedImage(
        name=name,
        repository=repository,
        source=raw.get("source"),
        tag=raw.get("tag"),
        digest=digest,
        media_type=raw.get("media_type"),
        platforms=tuple(sorted(set(platforms))),
        deployments=tuple(sorted(set(deployments))),
        regions=regions,
    )


def _parse_regions(path: Path, key: str, raw: Any, digest: str | None) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise LockError(path, f"{key}.regions", "must be a mapping of region name to its repositories")
    regions: dict[str, tuple[str, ...]] = {}
    for region, repositories in raw.items():
        where = f"{key}.regions.{region}"
        if not isinstance(region, str) or not REGION_RE.match(region):
            raise LockError(path, where, f"{region!r} is not a region name such as eu-west-1")
        if not isinstance(repositories, list) or not all(
            isinstance(r, str) and REPOSITORY_RE.match(r) for r in repositories
        ):
            raise LockError(path, where, f"must be a list of ECR repository names, got {repositories!r}")
        if repositories and digest is None:
            raise LockError(path, where, "an image without a digest cannot be mirrored into a region")
        regions[region] = tuple(sorted(set(repositories)))
    return regions


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
