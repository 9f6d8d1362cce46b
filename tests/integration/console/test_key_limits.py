"""The console's key settings page sets the key's rate limits (the same KeyService the CLI uses)."""

from __future__ import annotations

import pytest

from regiongate.store import RateLimits
from regiongate.store.keys import KeyService
from tests.fixtures.clock import pinned

pytestmark = [pytest.mark.postgres, pytest.mark.clock]


def test_key_settings_set_show_and_clear_rate_limits(login, store):
    client = login("acme_admin")
    created = KeyService(store, clock=pinned()).create(region_code="eu", org_id="acme", team_id="limits")
    key_id = created.record.key_id
    page = client.get(f"/keys/{key_id}")
    assert page.status_code == 200 and 'name="rpm"' in page.text and "<dt>Rate limits</dt><dd>none</dd>" in page.text
    saved = client.post(
        f"/keys/{key_id}/settings", data={"csrf": client.csrf, "rpm": "120", "tpm": "50,000", "concurrency": ""}
    )
    assert saved.status_code == 303
    assert store.rate_limits("key", key_id) == RateLimits(120, 50_000, None)
    page = client.get(f"/keys/{key_id}")
    assert "120 requests/minute, 50000 tokens/minute" in page.text and 'value="120"' in page.text
    refused = client.post(f"/keys/{key_id}/settings", data={"csrf": client.csrf, "rpm": "-5"})
    assert refused.status_code == 400 and "Requests per minute must be a whole number" in refused.text
    assert store.rate_limits("key", key_id) == RateLimits(120, 50_000, None)
    cleared = client.post(f"/keys/{key_id}/settings", data={"csrf": client.csrf, "rpm": "", "tpm": ""})
    assert cleared.status_code == 303 and store.rate_limits("key", key_id) == RateLimits()


def test_a_viewer_cannot_set_rate_limits(login, store):
    client = login("acme_viewer")
    created = KeyService(store, clock=pinned()).create(region_code="eu", org_id="acme", team_id="limits")
    response = client.post(f"/keys/{created.record.key_id}/settings", data={"csrf": client.csrf, "rpm": "1"})
    assert response.status_code == 403
    assert store.rate_limits("key", created.record.key_id) == RateLimits()
