"""Image reference parsing (pure)."""

from __future__ import annotations

import re

import pytest

from regiongate.mirror.errors import MirrorError
from regiongate.mirror.reference import parse_reference
from regiongate.mirror.service import parse_source

DIGEST = "sha256:" + "0f" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest", "scheme"),
    [
        ("nginx", "registry-1.docker.io", "library/nginx", "latest", None, "https"),
        ("docker.io/acme/app:1.2", "registry-1.docker.io", "acme/app", "1.2", None, "https"),
        ("ghcr.io/acme/console:1.4.2", "ghcr.io", "acme/console", "1.4.2", None, "https"),
        (f"ghcr.io/acme/console@{DIGEST}", "ghcr.io", "acme/console", None, DIGEST, "https"),
        (f"127.0.0.1:5000/a/b:v1@{DIGEST}", "127.0.0.1:5000", "a/b", "v1", DIGEST, "http"),
        ("localhost:5000/a:v1", "localhost:5000", "a", "v1", None, "http"),
    ],
)
def test_parse(text, registry, repository, tag, digest, scheme) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest, ref.scheme) == (
        registry,
        repository,
        tag,
        digest,
        scheme,
    )
    assert ref.reference == (digest or tag)


@pytest.mark.parametrize("text", ["ghcr.io/Acme/x:1", "ghcr.io/a/x@sha256:12", "ghcr.io/a/x:bad tag", "ghcr.io/"])
def test_invalid_references_are_refused(text: str) -> None:
    with pytest.raises(MirrorError, match=f"^{re.escape(repr(text))}: "):
        parse_reference(text)


def test_source_names() -> None:
    assert parse_source("ghcr.io/acme/console:1.4").name == "console"
    spec = parse_source("console=ghcr.io/acme/regiongate-console-app:1.4")
    assert (spec.name, spec.repository) == ("console", "regiongate/console")
    with pytest.raises(MirrorError, match="NAME=REFERENCE"):
        parse_source("Console=ghcr.io/acme/x:1")
