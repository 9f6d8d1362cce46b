"""Media types, digests and a chunk iterator that refuses bytes whose sha256 does not match."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator

from regiongate.mirror.errors import DigestMismatchError, MirrorError

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"

SINGLE_MANIFEST_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEX_TYPES = (DOCKER_MANIFEST_LIST, OCI_INDEX)
MANIFEST_TYPES = SINGLE_MANIFEST_TYPES + INDEX_TYPES
# Sent as Accept on every manifest request: without it a registry may down-convert to schema 1.
ACCEPT_MANIFESTS = ", ".join(MANIFEST_TYPES)

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(digest: str, what: str) -> str:
    if not DIGEST_RE.match(digest or ""):
        raise MirrorError(f"{what}: {digest!r} is not a sha256 digest; only sha256 content is supported")
    return digest


def verify_bytes(data: bytes, expected: str, what: str) -> str:
    actual = sha256_digest(data)
    if actual != expected:
        raise DigestMismatchError(what, expected, actual)
    return actual


def manifest_media_type(body: bytes, header_type: str | None, what: str) -> str:
    """The manifest's media type: its own ``mediaType`` field, else the Content-Type it came with."""
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise MirrorError(f"{what}: manifest is not JSON ({exc})") from None
    media_type = document.get("mediaType") or (header_type or "").split(";")[0].strip()
    if not media_type and "manifests" in document:
        media_type = OCI_INDEX
    elif not media_type and "layers" in document:
        media_type = OCI_MANIFEST
    if document.get("schemaVersion") == 1 or media_type not in MANIFEST_TYPES:
        raise MirrorError(
            f"{what}: unsupported manifest type {media_type or 'schema 1'!r}; "
            f"mirror supports {', '.join(MANIFEST_TYPES)}. Re-push the image with a current Docker or buildx."
        )
    return media_type


class VerifyingChunks:
    """Yields chunks from ``chunks`` while hashing them; raises :class:`DigestMismatchError` on exhaustion
    (before the consumer can commit the upload) when the bytes or their size do not match."""

    def __init__(self, chunks: Iterable[bytes], expected: str, size: int | None, what: str) -> None:
        self._chunks = chunks
        self.expected = expected
        self.size = size
        self.what = what
        self.received = 0

    def __iter__(self) -> Iterator[bytes]:
        hasher = hashlib.sha256()
        for chunk in self._chunks:
            hasher.update(chunk)
            self.received += len(chunk)
            yield chunk
        actual = "sha256:" + hasher.hexdigest()
        if actual != self.expected:
            raise DigestMismatchError(self.what, self.expected, actual)
        if self.size is not None and self.received != self.size:
            raise MirrorError(f"{self.what}: size {self.received} bytes, manifest says {self.size}")
