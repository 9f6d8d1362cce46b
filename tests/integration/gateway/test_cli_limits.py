"""``regiongate keys create/update --rpm/--tpm/--concurrency`` and ``keys org-limits`` against the real PostgreSQL."""

from __future__ import annotations

import re

import pytest

from regiongate.store import RateLimits

pytestmark = pytest.mark.postgres


def test_key_rate_limits_are_set_at_creation_and_changed_one_by_one(cli, pg_store):
    code, _, err = cli("keys", "create", "--region", "eu", "--org", "acme", "--rpm", "60", "--tpm", "40000")
    assert code == 0
    key_id = re.search(r"key id (key_[0-9a-f]{16})", err).group(1)
    assert pg_store.rate_limits("key", key_id) == RateLimits(60, 40000, None)
    code, out, _ = cli("keys", "update", key_id, "--region", "eu", "--concurrency", "4", "--rpm", "0")
    assert code == 0 and out.strip() == f"{key_id}: 40000 tokens/minute, 4 concurrent requests"
    assert pg_store.rate_limits("key", key_id) == RateLimits(None, 40000, 4)
    code, _, err = cli("keys", "update", key_id, "--region", "us", "--rpm", "5")
    assert code == 1 and f"no active key {key_id} in region us" in err
    code, _, err = cli("keys", "update", key_id, "--region", "eu")
    assert code == 2 and "give at least one of --rpm" in err
    assert cli("keys", "revoke", key_id)[0] == 0
    assert cli("keys", "update", key_id, "--region", "eu", "--rpm", "5")[0] == 1


def test_org_limits_are_set_and_cleared(cli, pg_store):
    code, out, _ = cli("keys", "org-limits", "--org", "acme", "--rpm", "600", "--concurrency", "20")
    assert code == 0 and out.strip() == "org acme: 600 requests/minute, 20 concurrent requests"
    assert pg_store.rate_limits("org", "acme") == RateLimits(600, None, 20)
    code, out, _ = cli("keys", "org-limits", "--org", "acme", "--rpm", "0", "--concurrency", "0")
    assert code == 0 and out.strip() == "org acme: no rate limits"
    assert pg_store.rate_limits("org", "acme") == RateLimits()
    code, _, err = cli("keys", "org-limits", "--org", "Acme Corp", "--rpm", "1")
    assert code == 2 and "org must be" in err


def test_a_negative_or_non_numeric_limit_is_refused_by_the_parser(cli):
    with pytest.raises(SystemExit, match=r"^2$"):
        cli("keys", "org-limits", "--org", "acme", "--rpm", "-1")
    with pytest.raises(SystemExit, match=r"^2$"):
        cli("keys", "create", "--region", "eu", "--org", "acme", "--tpm", "lots")
