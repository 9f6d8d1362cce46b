"""Test images built from bytes: blobs and manifests pushed through the registry API (no Docker)."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field

from regiongate.mirror.digest import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST
from regiongate.mirror.registry import RegistryClient

LAYER_TYPE = {DOCKER_MANIFEST: "application/vnd.docker.image.rootfs.diff.tar.gzip", OCI_MANIFEST: "application/vnd.oci.image.layer.v1.tar+gzip"}
CONFIG_TYPE = {DOCKER_MANIFEST: "application/vnd.docker.container.image.v1+json", OCI_MANIFEST: "application/vnd.oci.image.config.v1+json"}


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class BuiltImage:
    digest: str
    media_type: str
    body: bytes
    blobs: dict[str, bytes] = field(default_factory=dict)  # every config and layer, by digest
    children: list["BuiltImage"] = field(default_factory=list)


def random_bytes(seed: str, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def build_manifest(
    layers: list[bytes], *, media_type: str = DOCKER_MANIFEST, arch: str = "amd64", annotation: str = "aaaa"
) -> BuiltImage:
    config = json.dumps({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": [digest(l) for l in layers]}}).encode()
    document = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": CONFIG_TYPE[media_type], "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": LAYER_TYPE[media_type], "digest": digest(l), "size": len(l)} for l in layers],
    }
    if media_type == OCI_MANIFEST:
        document["annotations"] = {"org.regiongate.test": annotation}
    body = json.dumps(document, indent=2).encode()
    blobs = {digest(config): config, **{digest(l): l for l in layers}}
    return BuiltImage(digest=digest(body), media_type=media_type, body=body, blobs=blobs)


def build_index(children: list[tuple[str, BuiltImage]], *, media_type: str = OCI_INDEX) -> BuiltImage:
    document = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [
            {"mediaType": c.media_type, "digest": c.digest, "size": len(c.body), "platform": {"os": "linux", "architecture": arch}}
            for arch, c in children
        ],
    }
    body = json.dumps(document, indent=2).encode()
    blobs: dict[str, bytes] = {}
    for _, child in children:
        blobs.update(child.blobs)
    return BuiltImage(digest=digest(body), media_type=media_type, body=body, blobs=blobs, children=[c for _, c in children])


def push(client: RegistryClient, repository: str, image: BuiltImage, tag: str | None) -> None:
    for blob_digest, data in image.blobs.items():
        if not client.blob_exists(repository, blob_digest, push=True):
            client.push_blob(repository, blob_digest, [data])
    for child in image.children:
        client.put_manifest(repository, child.digest, child.body, child.media_type)
    client.put_manifest(repository, tag or image.digest, image.body, image.media_type)


def single_image(seed: str = "single", *, media_type: str = DOCKER_MANIFEST) -> BuiltImage:
    return build_manifest(
        [random_bytes(f"{seed}-base", 300_000), random_bytes(f"{seed}-app", 120_000), random_bytes(f"{seed}-top", 5_000)],
        media_type=media_type,
    )


def multi_arch_image(seed: str = "multi", *, media_type: str = OCI_INDEX) -> BuiltImage:
    manifest_type = OCI_MANIFEST if media_type == OCI_INDEX else DOCKER_MANIFEST
    shared = random_bytes(f"{seed}-shared", 200_000)  # same layer in both platforms: copied once
    amd64 = build_manifest([shared, random_bytes(f"{seed}-amd64", 150_000)], media_type=manifest_type, arch="amd64")
    arm64 = build_manifest([shared, random_bytes(f"{seed}-arm64", 140_000)], media_type=manifest_type, arch="arm64")
    return build_index([("amd64", amd64), ("arm64", arm64)], media_type=media_type)


__all__ = [
    "DOCKER_MANIFEST", "DOCKER_MANIFEST_LIST", "OCI_INDEX", "OCI_MANIFEST", "BuiltImage", "build_index",
    "build_manifest", "digest", "multi_arch_image", "push", "random_bytes", "single_image",
]
