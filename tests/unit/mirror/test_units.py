"""Pure pieces: the progress bar, digest checks, re-chunking, challenge parsing."""

from __future__ import annotations

import io

import pytest

from regiongate.mirror.digest import VerifyingChunks, manifest_media_type, sha256_digest
from regiongate.mirror.errors import DigestMismatchError, MirrorError
from regiongate.mirror.progress import Progress
from regiongate.mirror.registry import parse_challenge
from regiongate.mirror.targets import rechunk


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_redraws_in_place_on_a_terminal() -> None:
    stream = Tty()
    progress = Progress(2, 2 * 1024 * 1024, stream=stream, width=10)
    progress.start("sha256:" + "a" * 64)
    progress.advance(1024 * 1024)
    progress.finish()
    progress.close()
    text = stream.getvalue()
    assert "\r  [#####-----]  50%  1/2 layers  1.0/2.0 MiB  sha256:aaaaaaaaaaaa" in text
    assert text.endswith("\n") and text.count("\n") == 1


def test_progress_prints_one_line_per_layer_when_not_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress(2, 200, stream=stream, width=4)
    for _ in range(2):
        progress.start("sha256:" + "b" * 64)
        progress.advance(100)
        progress.finish()
    assert stream.getvalue().splitlines() == [
        "  [##--]  50%  1/2 layers  0.0/0.0 MiB  sha256:bbbbbbbbbbbb",
        "  [####] 100%  2/2 layers  0.0/0.0 MiB  sha256:bbbbbbbbbbbb",
    ]
    assert "\r" not in stream.getvalue()


def test_verifying_chunks_raise_only_after_the_last_chunk() -> None:
    data = [b"abc", b"def"]
    good = VerifyingChunks(iter(data), sha256_digest(b"abcdef"), 6, "blob")
    assert b"".join(good) == b"abcdef"
    bad = iter(VerifyingChunks(iter(data), sha256_digest(b"abcdeX"), 6, "blob"))
    assert next(bad) == b"abc" and next(bad) == b"def"  # a consumer uploads parts, but never gets to commit
    with pytest.raises(DigestMismatchError, match=f"^digest mismatch for blob: expected {sha256_digest(b'abcdeX')}, "):
        next(bad)
    with pytest.raises(MirrorError, match="size 6 bytes, manifest says 7"):
        list(VerifyingChunks(iter(data), sha256_digest(b"abcdef"), 7, "blob"))


def test_rechunk_makes_exact_parts() -> None:
    assert list(rechunk([b"ab", b"cdefg", b"h"], 3)) == [b"abc", b"def", b"gh"]
    assert list(rechunk([], 3)) == []


def test_schema1_manifests_are_refused() -> None:
    with pytest.raises(MirrorError, match="unsupported manifest type"):
        manifest_media_type(b'{"schemaVersion": 1, "fsLayers": []}', "application/json", "x")


def test_parse_challenge() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.example/token",
        "service": "registry.example",
        "scope": "repository:a/b:pull",
    }
    assert parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})
