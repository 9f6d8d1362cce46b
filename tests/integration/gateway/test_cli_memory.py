"""``regiongate memory enable|disable|status`` against the real PostgreSQL, and the region's offer from regions.yaml."""

from __future__ import annotations

import pytest

from regiongate.store.memory_facts import MemorySettings, PostgresMemoryStore

pytestmark = pytest.mark.postgres


def test_enable_status_disable(cli, pg_store):
    memory = PostgresMemoryStore(pg_store.pool)
    code, out, _ = cli(
        "memory", "enable", "--region", "eu", "--org", "acme", "--retention-days", "7", "--max-facts", "500"
    )
    assert code == 0 and "memory enabled, retention 7 days, at most 500 facts, 0 stored" in out
    assert "titan-embed-text-v2" in out
    assert memory.settings("acme") == MemorySettings("acme", True, 7, 500)
    code, out, _ = cli("memory", "enable", "--region", "eu", "--org", "acme", "--max-facts", "20")
    assert memory.settings("acme") == MemorySettings("acme", True, 7, 20)  # the retention is kept
    code, out, _ = cli("memory", "status", "--region", "eu", "--org", "acme")
    assert code == 0 and "offers memory (titan-embed-text-v2)" in out and "memory enabled" in out
    code, out, _ = cli("memory", "disable", "--region", "eu", "--org", "acme")
    assert code == 0 and "memory disabled" in out
    assert memory.settings("acme") == MemorySettings("acme", False, 7, 20)


def test_a_region_that_does_not_offer_memory_refuses_enable(cli, pg_store):
    code, _, err = cli("memory", "enable", "--region", "us", "--org", "acme")
    assert code == 2 and "region us does not offer Memory-as-a-Service" in err
    assert "regions.us.gateway.memory" in err
    assert PostgresMemoryStore(pg_store.pool).settings("acme") is None


def test_limits_out_of_range_are_refused(cli, pg_store):
    code, _, err = cli("memory", "enable", "--region", "eu", "--org", "acme", "--max-facts", "0")
    assert code == 2 and "--max-facts must be 1 to 10000000" in err
