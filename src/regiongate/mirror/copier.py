"""Plan and copy one image (a single manifest or a multi-arch index) from a registry into a target.

Order is what keeps a half-finished copy harmless: blobs first (each verified before it is committed),
then the per-platform manifests by digest, then the top manifest under its tag, then a read-back whose
sha256 must equal the source digest. A run interrupted anywhere leaves no tag pointing at missing content,
and running again skips whatever is already there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

from regiongate.mirror.digest import INDEX_TYPES, VerifyingChunks, check_digest, sha256_digest, verify_bytes
from regiongate.mirror.errors import DigestMismatchError, MirrorError
from regiongate.mirror.progress import Progress
from regiongate.mirror.reference import ImageReference
from regiongate.mirror.registry import RegistryClient
from regiongate.mirror.targets import Target


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int
    media_type: str


@dataclass
class Manifest:
    digest: str
    media_type: str
    body: bytes
    platform: str | None = None
    children: list[Manifest] = field(default_factory=list)
    blobs: list[Blob] = field(default_factory=list)

    def walk(self) -> Iterator[Manifest]:
        """Children before parents: the order manifests must be pushed in."""
        for child in self.children:
            yield from child.walk()
        yield self


@dataclass
class ImagePlan:
    name: str
    source: ImageReference
    repository: str
    tag: str | None
    manifest: Manifest
    blobs: list[Blob]  # unique, in manifest order
    missing_blobs: set[str]
    missing_manifests: list[Manifest]
    tag_points_to: str | None

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def platforms(self) -> tuple[str, ...]:
        """The platforms the copied digest holds, sorted: an index's runnable manifests (attestations and
        manifests without a platform left out), or a single manifest's own (from its image config)."""
        manifests = self.manifest.children or [self.manifest]
        return tuple(sorted({m.platform for m in manifests if m.platform and not m.platform.startswith("unknown/")}))

    @property
    def up_to_date(self) -> bool:
        return not self.missing_blobs and not self.missing_manifests and self.tag_points_to == self.digest

    @property
    def bytes_to_copy(self) -> int:
        return sum(b.size for b in self.blobs if b.digest in self.missing_blobs)

    def describe(self) -> list[str]:
        kind = f"index of {len(self.manifest.children)} manifests" if self.manifest.children else "single manifest"
        where = f"{self.repository}:{self.tag}" if self.tag else f"{self.repository}@{self.digest}"
        lines = [f"{self.name}: {self.source} -> {where}", f"  {self.digest} ({kind}, {self.manifest.media_type})"]
        for child in self.manifest.children:
            lines.append(f"    {child.platform or 'unknown platform'}: {child.digest}")
        lines.append(f"  platforms: {', '.join(self.platforms) or 'none recorded in the manifest'}")
        skipped = len(self.blobs) - len(self.missing_blobs)
        lines.append(
            f"  blobs: {len(self.missing_blobs)} to copy ({self.bytes_to_copy / (1024 * 1024):.1f} MiB), "
            f"{skipped} already in the target"
        )
        lines.append(f"  manifests: {len(self.missing_manifests)} to push")
        if self.tag and self.tag_points_to and self.tag_points_to != self.digest:
            lines.append(f"  tag {self.tag} now points to {self.tag_points_to}: it will be moved")
        return lines


@dataclass(frozen=True)
class ImageResult:
    plan: ImagePlan
    uploaded_blobs: int
    uploaded_bytes: int
    skipped_blobs: int
    pushed_manifests: int


def _platform(descriptor: dict) -> str | None:
    """``os/architecture[/variant]`` of an index entry's ``platform`` or of an image config (same fields)."""
    platform = descriptor.get("platform", descriptor) or {}
    if not isinstance(platform, dict) or not (platform.get("os") or platform.get("architecture")):
        return None
    text = f"{platform.get('os', '?')}/{platform.get('architecture', '?')}"
    return text + (f"/{platform['variant']}" if platform.get("variant") else "")


# An image config is a small JSON document; a larger one is not read for its platform.
MAX_CONFIG_BYTES = 4 * 1024 * 1024


class Copier:
    def __init__(
        self,
        source_client_for: Callable[[ImageReference], RegistryClient],
        target: Target,
        *,
        progress_stream: IO[str] | None = None,
    ) -> None:
        self.source_client_for = source_client_for
        self.target = target
        self.progress_stream = progress_stream

    # -- reading the source ----------------------------------------------------------------------------

    def _fetch(
        self, client: RegistryClient, ref: ImageReference, reference: str, platform: str | None = None
    ) -> Manifest:
        what = f"manifest {ref.registry}/{ref.repository}@{reference}"
        body, media_type, header_digest = client.get_manifest(ref.repository, reference)
        digest = sha256_digest(body)
        if reference.startswith("sha256:"):
            verify_bytes(body, reference, what)
        if header_digest and header_digest.startswith("sha256:") and header_digest != digest:
            raise DigestMismatchError(what, header_digest, digest)
        manifest = Manifest(digest=digest, media_type=media_type, body=body, platform=platform)
        document = json.loads(body)
        if media_type in INDEX_TYPES:
            for descriptor in document.get("manifests", []):
                child_digest = check_digest(descriptor.get("digest", ""), what)
                manifest.children.append(self._fetch(client, ref, child_digest, _platform(descriptor)))
        else:
            descriptors = [document["config"], *document.get("layers", [])]
            for descriptor in descriptors:
                if (
                    descriptor.get("urls")
                    or "nondistributable" in descriptor.get("mediaType", "")
                    or "foreign" in descriptor.get("mediaType", "")
                ):
                    raise MirrorError(
                        f"{what}: layer {descriptor.get('digest')} is non-distributable (foreign URLs); such images "
                        "cannot be mirrored completely into China ECR."
                    )
                manifest.blobs.append(
                    Blob(
                        check_digest(descriptor["digest"], what),
                        int(descriptor["size"]),
                        descriptor.get("mediaType", ""),
                    )
                )
            if manifest.platform is None:  # a single manifest, not one of an index's: its config names it
                manifest.platform = self._config_platform(client, ref, manifest.blobs[0], what)
        return manifest

    @staticmethod
    def _config_platform(client: RegistryClient, ref: ImageReference, config: Blob, what: str) -> str | None:
        if config.size > MAX_CONFIG_BYTES:
            return None
        data = b"".join(
            VerifyingChunks(client.blob_chunks(ref.repository, config.digest), config.digest, config.size, what)
        )
        try:
            document = json.loads(data)
        except ValueError:
            return None
        return _platform(document) if isinstance(document, dict) else None

    def plan(self, name: str, ref: ImageReference, repository: str) -> ImagePlan:
        client = self.source_client_for(ref)
        manifest = self._fetch(client, ref, ref.reference)
        unique: dict[str, Blob] = {}
        for m in manifest.walk():
            for blob in m.blobs:
                unique.setdefault(blob.digest, blob)
        self.target.check_repository(repository)
        missing = self.target.missing_blobs(repository, list(unique))
        missing_manifests = [m for m in manifest.walk() if self.target.manifest_digest(repository, m.digest) is None]
        tag = ref.tag if not ref.digest else None
        tag_points_to = self.target.manifest_digest(repository, tag) if tag else manifest.digest
        if tag and tag_points_to and tag_points_to != manifest.digest and self.target.tags_immutable(repository):
            raise MirrorError(
                f"{name}: tag {tag!r} in {repository} already points to {tag_points_to} and the repository's tags are "
                f"immutable; {ref} now resolves to {manifest.digest}. Mirror it under a new tag."
            )
        return ImagePlan(
            name=name,
            source=ref,
            repository=repository,
            tag=tag,
            manifest=manifest,
            blobs=list(unique.values()),
            missing_blobs=missing,
            missing_manifests=missing_manifests,
            tag_points_to=tag_points_to,
        )

    # -- writing the target ------------------------------------------------------------------------------

    def execute(self, plan: ImagePlan) -> ImageResult:
        client = self.source_client_for(plan.source)
        to_copy = [b for b in plan.blobs if b.digest in plan.missing_blobs]
        progress = Progress(len(to_copy), plan.bytes_to_copy, stream=self.progress_stream)
        uploaded_bytes = 0
        for blob in to_copy:
            progress.start(blob.digest)
            what = f"blob {blob.digest} of {plan.source}"
            chunks = VerifyingChunks(
                self._counted(client.blob_chunks(plan.source.repository, blob.digest), progress),
                blob.digest,
                blob.size,
                what,
            )
            self.target.upload_blob(plan.repository, blob.digest, blob.size, chunks)
            uploaded_bytes += chunks.received
            progress.finish()
        if to_copy:
            progress.close()
        pushed = 0
        for manifest in plan.manifest.walk():
            is_top = manifest is plan.manifest
            if manifest in plan.missing_manifests or (is_top and plan.tag and plan.tag_points_to != plan.digest):
                self.target.put_manifest(
                    plan.repository, plan.tag if is_top else None, manifest.body, manifest.media_type, manifest.digest
                )
                pushed += 1
        stored = self.target.get_manifest(plan.repository, plan.digest)
        if stored is None:
            raise MirrorError(f"{plan.name}: {plan.repository}@{plan.digest} is missing from the target after the push")
        verify_bytes(stored, plan.digest, f"manifest read back from {plan.repository}")
        if plan.tag:
            now = self.target.manifest_digest(plan.repository, plan.tag)
            if now != plan.digest:
                raise MirrorError(
                    f"{plan.name}: tag {plan.tag} in {plan.repository} points to {now}, not {plan.digest}"
                )
        return ImageResult(
            plan=plan,
            uploaded_blobs=len(to_copy),
            uploaded_bytes=uploaded_bytes,
            skipped_blobs=len(plan.blobs) - len(to_copy),
            pushed_manifests=pushed,
        )

    @staticmethod
    def _counted(chunks: Iterator[bytes], progress: Progress) -> Iterator[bytes]:
        for chunk in chunks:
            progress.advance(len(chunk))
            yield chunk
