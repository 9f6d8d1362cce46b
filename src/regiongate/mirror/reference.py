"""Image references (``registry/repo:tag``, ``repo@sha256:…``) the way Docker normalises them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from regiongate.mirror.errors import MirrorError

DOCKER_HUB = "registry-1.docker.io"
_DOCKER_HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_PATH_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_LOOPBACK = re.compile(r"^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?$")


@dataclass(frozen=True)
class ImageReference:
    registry: str  # host[:port]
    repository: str  # path inside the registry, e.g. library/nginx
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """What goes after /manifests/: the digest if pinned, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def scheme(self) -> str:
        # Loopback registries speak plain HTTP (as Docker allows for localhost); everything else HTTPS.
        return "http" if _LOOPBACK.match(self.registry) else "https"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.registry}"

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> ImageReference:
    """Parse ``[registry/]repo[:tag][@sha256:…]``; no registry means Docker Hub, no tag means ``latest``."""
    original = text
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not re.match(r"^sha256:[0-9a-f]{64}$", digest):
            raise MirrorError(f"{original!r}: digest must be sha256:<64 hex digits>")
    tag = None
    last = text.rsplit("/", 1)[-1]
    if ":" in last:
        text, tag = text.rsplit(":", 1)
        if not _TAG_RE.match(tag):
            raise MirrorError(f"{original!r}: {tag!r} is not a valid tag")
    parts = text.split("/", 1)
    if len(parts) == 2 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost" or parts[0].startswith("[")):
        registry, path = parts
    else:
        registry, path = DOCKER_HUB, text
    if registry in _DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in path:
            path = f"library/{path}"
    if not path or not _PATH_RE.match(path):
        raise MirrorError(f"{original!r}: {path!r} is not a valid repository path (lower case, / separated)")
    if tag is None and digest is None:
        tag = "latest"
    return ImageReference(registry=registry, repository=path, tag=tag, digest=digest)
