"""Request ids: random version 4 UUIDs written as uuid.UUID writes them, unique within the process."""

from __future__ import annotations

import random
import uuid

from regiongate.gateway.runtime.context import _request_ids, version4_text


def test_the_text_is_what_uuid_writes_for_a_version_4_uuid_of_the_same_bytes() -> None:
    rng = random.Random(4)
    digests = [bytes(16), b"\xff" * 16] + [rng.randbytes(16) for _ in range(20_000)]
    for digest in digests:
        assert version4_text(digest) == str(uuid.UUID(bytes=digest, version=4))


def test_ids_are_version_4_and_distinct() -> None:
    ids = [_request_ids.new() for _ in range(5_000)]
    assert len(set(ids)) == len(ids)
    assert {uuid.UUID(i).version for i in ids} == {4}
    assert {uuid.UUID(i).variant for i in ids} == {uuid.RFC_4122}
