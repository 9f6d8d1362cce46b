"""Shared helpers of the mirror tests."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

from regiongate.mirror.service import mirror, parse_source


class CountingTarget:
    """Wraps a Target and counts the calls that write."""

    def __init__(self, inner) -> None:  # noqa: ANN001
        self.inner = inner
        self.description = inner.description
        self.calls: Counter[str] = Counter()
        self.uploaded: list[str] = []

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def upload_blob(self, repository, digest, size, chunks) -> None:  # noqa: ANN001
        self.calls["upload_blob"] += 1
        self.inner.upload_blob(repository, digest, size, chunks)
        self.uploaded.append(digest)

    def put_manifest(self, repository, tag, body, media_type, digest) -> None:  # noqa: ANN001
        self.calls["put_manifest"] += 1
        self.inner.put_manifest(repository, tag, body, media_type, digest)


def run_mirror(sources: list[str], target, lock_path: Path, *, dry_run: bool = False, target_region: str = "cn-north-1"):  # noqa: ANN001
    out, err = io.StringIO(), io.StringIO()
    results = mirror(
        [parse_source(s) for s in sources], target, target_region=target_region, lock_path=lock_path,
        dry_run=dry_run, out=out, progress_stream=err,
    )
    return results, out.getvalue(), err.getvalue()
