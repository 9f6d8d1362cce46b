"""The console's key pages state where a key's models may be processed: the region's promise, and an area the
operator opted a model into, by its name and regions (from the region document, never a literal sentence)."""

from __future__ import annotations

import re

import pytest

from regiongate.console.runtime.app import Console, create_app
from regiongate.console.runtime.settings import Region
from tests.fixtures.clock import pinned
from tests.fixtures.console_world import csrf_of, new_client, sign_in
from tests.fixtures.processing_area import AREA_NAME, MODEL, opted_in_runtime

pytestmark = pytest.mark.postgres


@pytest.fixture
def opted_in_client(store, world):
    runtime = opted_in_runtime()
    app = create_app(Console(region=Region.of(runtime), store=store, secure_cookies=True, clock=pinned()))
    client = new_client(app)
    assert sign_in(client, world.users["acme_admin"].email).status_code == 303
    client.csrf = csrf_of(client.get("/keys").text)
    yield client, runtime
    client.close()


def test_key_pages_state_the_opted_in_area_of_the_keys_models(opted_in_client):
    client, runtime = opted_in_client
    regions = ", ".join(runtime.models[MODEL].processing_area.regions)
    wider = f"WIDER AREA, opted in by the operator: {AREA_NAME} ({regions})"
    listing = client.get("/keys").text
    assert wider in listing and 'data-testid="models-processing"' in listing

    created = client.post("/keys", data={"csrf": client.csrf, "team": "area"})
    assert created.status_code == 201 and wider in created.text
    key_id = re.search(r"<code>(key_[0-9a-f]{16})</code>", created.text).group(1)
    assert wider in client.get(f"/keys/{key_id}").text

    limited = client.post("/keys", data={"csrf": client.csrf, "team": "inside", "models": ["gpt-4o"]})
    assert limited.status_code == 201
    assert "WIDER AREA" not in limited.text and "inside region EU&#39;s promise" in limited.text
