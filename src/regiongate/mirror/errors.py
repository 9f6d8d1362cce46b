"""Errors of ``regiongate mirror``: each message names what failed and what to do about it."""

from __future__ import annotations


class MirrorError(Exception):
    """Any failure to mirror an image; the CLI prints the message and exits non-zero."""


class AuthError(MirrorError):
    """A registry or AWS refused the credentials (or none were found)."""


class RepositoryNotFoundError(MirrorError):
    """The source image or the target repository does not exist."""


class DigestMismatchError(MirrorError):
    """Bytes received do not hash to the digest that names them: the copy is refused."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        self.what = what
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"digest mismatch for {what}: expected {expected}, received bytes hash to {actual}. "
            "Nothing was written for it; the source may be corrupt or tampered with."
        )
