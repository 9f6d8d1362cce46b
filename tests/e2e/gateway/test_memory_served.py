"""``/v1/memory`` through ``regiongate serve`` (uvicorn, the ASGI server of the container runtime) with a loopback
Bedrock whose embeddings carry meaning: add, search, erase over real HTTP, and the audit rows it wrote."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from regiongate.store.keys import KeyService
from tests.fixtures.memory import MeaningfulBedrock, enable_memory
from tests.fixtures.served import served_eu

pytestmark = pytest.mark.postgres


def call(base: str, method: str, path: str, key: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base.removesuffix("/v1") + path,
        data=data,
        method=method,
        headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_memory_over_the_served_gateway(tmp_path, database_url, pg_store):
    bedrock = MeaningfulBedrock()
    try:
        enable_memory(pg_store, "acme")
        key = KeyService(pg_store).create(region_code="eu", org_id="acme").key
        other = KeyService(pg_store).create(region_code="eu", org_id="initech").key
        us_key = KeyService(pg_store).create(region_code="us", org_id="acme").key
        with served_eu(tmp_path, database_url, bedrock) as served:
            base = served.base_url
            status, added = call(
                base,
                "POST",
                "/v1/memory/sessions/s-9/facts",
                key,
                {"facts": [{"text": "the meeting moved to Thursday"}, {"text": "budget approved for Lisbon"}]},
            )
            assert status == 200, added
            status, found = call(
                base, "POST", "/v1/memory/search", key, {"query": "lisbon budget", "session_id": "s-9"}
            )
            assert status == 200 and found["data"][0]["text"] == "budget approved for Lisbon"
            status, refused = call(base, "POST", "/v1/memory/search", other, {"query": "lisbon"})
            assert status == 403 and refused["error"]["type"] == "memory_not_enabled"
            status, mismatch = call(base, "GET", "/v1/memory/sessions/s-9/facts", us_key)
            assert status == 403 and mismatch["error"]["type"] == "region_mismatch"
            status, erased = call(base, "DELETE", "/v1/memory/sessions/s-9", key)
            assert status == 200 and erased["deleted"] == 2
            deadline = time.monotonic() + 10
            while True:
                with pg_store.pool.connection() as conn:
                    rows = conn.run("SELECT endpoint FROM audit_events ORDER BY created_at")
                if len(rows) >= 4 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        with pg_store.pool.connection() as conn:
            assert conn.run("SELECT count(*) FROM memory_facts")[0][0] == 0
            endpoints = sorted(r[0] for r in conn.run("SELECT endpoint FROM audit_events"))
        assert endpoints == ["memory.add", "memory.erase", "memory.search", "memory.search"]  # failed auth: counted
        assert "Lisbon" not in served.output()
    finally:
        bedrock.close()
