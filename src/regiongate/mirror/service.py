"""``regiongate mirror`` as a function: sources in, images copied, lock file updated."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

from regiongate.mirror.copier import Copier, ImagePlan, ImageResult
from regiongate.mirror.errors import MirrorError
from regiongate.mirror.lock import (
    IMAGE_NAME_RE,
    REPOSITORY_PREFIX,
    ImagesLock,
    LockedImage,
    load_lock,
    repository_name_for,
    write_lock,
)
from regiongate.mirror.reference import ImageReference, parse_reference
from regiongate.mirror.registry import RegistryClient, credentials_from_environment
from regiongate.mirror.targets import Target


@dataclass(frozen=True)
class SourceSpec:
    name: str
    reference: ImageReference
    repository: str


def parse_source(text: str) -> SourceSpec:
    """``console=ghcr.io/acme/console:1.4`` or ``ghcr.io/acme/console:1.4`` (name = last path part)."""
    name, sep, ref_text = text.partition("=")
    if not sep:
        name, ref_text = "", text
    reference = parse_reference(ref_text)
    name = name or reference.repository.rsplit("/", 1)[-1]
    if not IMAGE_NAME_RE.match(name):
        raise MirrorError(
            f"--source {text}: image name {name!r} must be lower-case letters, digits and . _ - ; "
            "give it explicitly as NAME=REFERENCE (e.g. console=ghcr.io/acme/console:1.4)"
        )
    return SourceSpec(name=name, reference=reference, repository=repository_name_for(name))


def default_source_client(ref: ImageReference) -> RegistryClient:
    return RegistryClient(ref.registry, scheme=ref.scheme, credentials=credentials_from_environment(ref.registry))


def mirror(
    sources: list[SourceSpec],
    target: Target,
    *,
    target_region: str,
    lock_path: Path,
    dry_run: bool = False,
    source_client_for: Callable[[ImageReference], RegistryClient] | None = None,
    out: IO[str] | None = None,
    progress_stream: IO[str] | None = None,
    deployments: tuple[str, ...] = (),
) -> list[ImagePlan | ImageResult]:
    """Plan every image first (so a bad source or a missing repository fails before anything is written),
    then copy them one by one, writing the lock after each so an interrupted run keeps what it finished.

    With ``deployments`` (single-tenant deployment ids) each image goes into those deployments' own
    repositories instead (``regiongate/<id>/<image>``), and must be the digest the lock already pins for the
    Cn stack: one lock pins one version of each image for every deployment that reads it.

    A ``target_region`` other than the lock's (a stack outside China, e.g. ``eu-west-1``) likewise takes the
    pinned digest only, and records the repository it went into under the image's ``regions``."""
    out = out if out is not None else sys.stdout
    lock = load_lock(lock_path)
    other_region = bool(lock.images) and lock.target_region != target_region
    names = [s.name for s in sources]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise MirrorError(f"image name(s) given more than once: {', '.join(duplicates)}")
    if deployments:
        sources = [
            SourceSpec(name=s.name, reference=s.reference, repository=repository_name_for(s.name, deployment))
            for s in sources
            for deployment in deployments
        ]
    clients: dict[str, RegistryClient] = {}

    def client_for(ref: ImageReference) -> RegistryClient:
        if ref.registry not in clients:
            clients[ref.registry] = (source_client_for or default_source_client)(ref)
        return clients[ref.registry]

    copier = Copier(client_for, target, progress_stream=progress_stream)
    print(f"Target: {target.description}", file=out)
    plans = [copier.plan(s.name, s.reference, s.repository) for s in sources]
    if deployments or other_region:
        for plan in plans:
            pinned = lock.images.get(plan.name)
            if pinned is None or pinned.digest != plan.digest:
                where = f" in {lock.target_region}" if other_region else ""
                first = (
                    f"--target-region {lock.target_region}, without --deployment"
                    if other_region
                    else "without --deployment"
                )
                then = f"then into {target_region}" if other_region else "then into the deployments"
                raise MirrorError(
                    f"{plan.source} is {plan.digest}, but {lock.path} pins "
                    f"{pinned.digest if pinned and pinned.digest else 'no digest'} for {plan.name} "
                    f"({pinned.repository if pinned else repository_name_for(plan.name)}{where}): "
                    f"mirror it for the Cn stack first ({first}), {then}"
                )
    for plan in plans:
        for line in plan.describe():
            print(line, file=out)
    if dry_run:
        print("Dry run: nothing copied, lock file unchanged.", file=out)
        return list(plans)
    results: list[ImagePlan | ImageResult] = []
    lock = ImagesLock(
        path=lock.path,
        target_region=lock.target_region if other_region else target_region,
        images=lock.images,
        exists=lock.exists,
    )
    for plan in plans:
        if plan.up_to_date:
            print(f"{plan.name}: up to date ({plan.repository}@{plan.digest})", file=out)
        result = copier.execute(plan)
        if not plan.up_to_date:
            print(
                f"{plan.name}: mirrored {plan.repository}@{plan.digest} "
                f"({result.uploaded_blobs} blobs, {result.uploaded_bytes} bytes uploaded; "
                f"{result.skipped_blobs} already present; {result.pushed_manifests} manifests pushed)",
                file=out,
            )
        pinned = lock.images.get(plan.name)
        if other_region and pinned is not None:
            # The pinned digest, now also in this repository of another region.
            # (Same digest, same content: its platforms are recorded too, for a lock written before they were.)
            image = replace(pinned.with_repository(target_region, plan.repository), platforms=plan.platforms)
        elif deployments and pinned is not None:
            # The same digest, now also in this deployment's repository.
            deployment = plan.repository.removeprefix(REPOSITORY_PREFIX).rsplit("/", 1)[0]
            image = replace(
                pinned, deployments=tuple(sorted({*pinned.deployments, deployment})), platforms=plan.platforms
            )
        else:
            # A new digest for the Cn stack: the deployments' (and other regions') repositories hold the previous one.
            same = pinned is not None and pinned.digest == plan.digest
            kept = pinned.deployments if pinned is not None and same else ()
            image = LockedImage(
                name=plan.name,
                repository=plan.repository,
                source=str(plan.source),
                tag=plan.tag,
                digest=plan.digest,
                media_type=plan.manifest.media_type,
                platforms=plan.platforms,
                deployments=kept,
                regions=pinned.regions if pinned is not None and same else {},
            )
        lock = lock.with_image(image)
        write_lock(lock)
        results.append(result)
    print(f"Lock file: {lock.path}", file=out)
    return results
