"""The console's provider-key pages by role, against real PostgreSQL and moto's KMS: an org admin adds,
replaces and deletes its org's keys; a viewer sees that one exists and when it was set, never the value;
another org sees nothing and cannot touch it; a platform admin manages every org's. No page shows a key."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from regiongate.console.runtime.app import Console, create_app, when
from regiongate.store.provider_credentials import Envelope, ProviderCredentials
from tests.fixtures.clock import pinned

pytestmark = [pytest.mark.postgres]
SECRET = "sk-console-acme-0123456789SECRET"


@pytest.fixture
def envelope():
    with mock_aws():
        kms = boto3.client("kms", region_name="eu-central-1")
        yield Envelope(kms.create_key()["KeyMetadata"]["Arn"], "eu", "eu-central-1", client=kms)


@pytest.fixture
def app(store, region, eu_runtime, envelope):
    """The console app with a credential service sealing with moto's KMS (overrides the session's app)."""
    with store.pool.connection() as conn:
        conn.run("TRUNCATE org_provider_credentials")
        conn.run("UPDATE orgs SET platform_credentials_fallback = true")
    credentials = ProviderCredentials(store, envelope, eu_runtime, clock=pinned())
    return create_app(Console(region=region, store=store, secure_cookies=True, clock=pinned(), credentials=credentials))


def everything(store) -> str:
    with store.pool.connection() as conn:
        return repr(conn.run("SELECT t::text FROM org_provider_credentials t"))


def add(client, org: str | None = None, **fields):
    data = {"csrf": client.csrf, "provider": "azure-weu", "secret": SECRET, "action": "add", **fields}
    if org is not None:
        data["org"] = org
    return client.post("/credentials", data=data)


def test_org_admin_adds_replaces_and_deletes_and_never_sees_the_key(login, world, store, envelope):
    admin = login("acme_admin")
    response = add(admin)
    assert response.status_code == 303 and response.headers["location"] == "/credentials?org=acme&done=added"
    page = admin.get("/credentials?org=acme&done=added")
    assert page.status_code == 200 and "azure-weu" in page.text and "API key" in page.text
    assert "The credential was added" in page.text and SECRET not in page.text
    assert SECRET not in everything(store)
    stored = store.provider_credential("acme", "azure-weu")
    assert envelope.open("acme", "azure-weu", stored.sealed) == SECRET.encode()
    assert stored.record.set_by == world.users["acme_admin"].user_id

    response = add(admin, secret="sk-replaced-1", action="replace")
    assert response.status_code == 303 and "done=replaced" in response.headers["location"]
    assert envelope.open("acme", "azure-weu", store.provider_credential("acme", "azure-weu").sealed) == b"sk-replaced-1"
    again = add(admin)
    assert again.status_code == 400 and "already has a credential for azure-weu" in again.text
    assert SECRET not in again.text  # the key field is never filled in again

    response = admin.post("/credentials/azure-weu/delete", data={"csrf": admin.csrf})
    assert response.status_code == 303 and store.provider_credential("acme", "azure-weu") is None


def test_org_viewer_sees_that_it_exists_and_when_but_cannot_change_it(login, store):
    add(login("acme_admin"))
    viewer = login("acme_viewer")
    page = viewer.get("/credentials")
    assert page.status_code == 200
    record = store.provider_credential("acme", "azure-weu").record
    assert "azure-weu" in page.text and when(record.set_at) in page.text  # that it exists, and when it was set
    assert SECRET not in page.text and 'name="secret"' not in page.text and "Delete" not in page.text
    before = everything(store)
    for response in (
        add(viewer, secret="sk-viewer"),
        viewer.post("/credentials/azure-weu/delete", data={"csrf": viewer.csrf}),
        viewer.post("/credentials/fallback", data={"csrf": viewer.csrf, "fallback": "deny"}),
    ):
        assert response.status_code == 403 and "Org viewers cannot" in response.text
    assert everything(store) == before and store.platform_fallback("acme")


def test_another_org_sees_nothing_and_cannot_touch_it(login, store):
    add(login("acme_admin"))
    before = everything(store)
    for name in ("globex_admin", "globex_viewer"):
        other = login(name)
        page = other.get("/credentials")
        assert page.status_code == 200 and "No provider keys" in page.text
        assert "acme" not in page.text and "azure-weu</td>" not in page.text
        assert other.get("/credentials?org=acme").status_code == 404
    globex = login("globex_admin")
    assert add(globex, org="acme").status_code == 404  # another org's id in the form
    assert globex.post("/credentials/azure-weu/delete", data={"csrf": globex.csrf, "org": "acme"}).status_code == 404
    assert globex.post("/credentials/azure-weu/delete", data={"csrf": globex.csrf}).status_code == 404  # its own: none
    assert (
        globex.post("/credentials/fallback", data={"csrf": globex.csrf, "org": "acme", "fallback": "deny"}).status_code
        == 404
    )
    assert everything(store) == before and store.platform_fallback("acme")
    # Its own key does not show to acme either.
    assert add(globex, secret="sk-globex-1").status_code == 303
    acme_page = login("acme_viewer").get("/credentials").text
    assert "globex" not in acme_page and acme_page.count("azure-weu</td>") == 1


def test_platform_admin_manages_every_org(login, store):
    add(login("acme_admin"))
    platform = login("platform")
    page = platform.get("/credentials")
    assert page.status_code == 200 and "acme" in page.text and SECRET not in page.text
    assert (
        add(
            platform,
            org="globex",
            provider="bedrock-eu",
            secret="",
            role_arn="arn:aws:iam::123456789012:role/regiongate/g",
        ).status_code
        == 303
    )
    page = platform.get("/credentials?org=globex").text
    assert "arn:aws:iam::123456789012:role/regiongate/g" in page and "regiongate:eu:globex" in page
    response = platform.post("/credentials/azure-weu/delete", data={"csrf": platform.csrf, "org": "acme"})
    assert response.status_code == 303 and store.provider_credential("acme", "azure-weu") is None
    assert (
        platform.post(
            "/credentials/fallback", data={"csrf": platform.csrf, "org": "globex", "fallback": "deny"}
        ).status_code
        == 303
    )
    assert not store.platform_fallback("globex")
    assert "may not serve it" in login("globex_viewer").get("/credentials").text


def test_endpoint_outside_the_allowlist_is_refused_with_the_allowed_hosts(login, store, eu_runtime):
    admin = login("acme_admin")
    response = add(admin, endpoint="https://acme-eastus.openai.azure.com")
    assert response.status_code == 400
    assert "host acme-eastus.openai.azure.com is not on region eu&#39;s allowlist" in response.text
    assert all(host in response.text for host in eu_runtime.allowed_hosts)
    assert SECRET not in response.text and "https://acme-eastus.openai.azure.com" in response.text  # refilled
    response = add(admin, provider="bedrock-eu", secret="", role_arn="arn:aws-cn:iam::123456789012:role/regiongate/x")
    assert response.status_code == 400 and "is in partition aws-cn, but region eu is in aws" in response.text
    assert store.list_provider_credentials() == []


# --- which credential served each call (the requests page) ---------------------------------------------------


@pytest.fixture
def served_by_org(store, world):
    """The first of acme's requests as if its own credential had served it (the gateway's audit value "org"); the
    other rows keep what the gateway recorded. Restored afterwards: the session's world is shared."""
    rid = world.request_ids["acme"][0]
    with store.pool.connection() as conn:
        ((before,),) = conn.run(
            "SELECT credential_source FROM audit_events WHERE request_id = CAST(:rid AS uuid)", rid=rid
        )
        conn.run("UPDATE audit_events SET credential_source = 'org' WHERE request_id = CAST(:rid AS uuid)", rid=rid)
    yield rid
    with store.pool.connection() as conn:
        conn.run(
            "UPDATE audit_events SET credential_source = :before WHERE request_id = CAST(:rid AS uuid)",
            rid=rid,
            before=before,
        )


def credential_cells(html: str) -> dict[str, str]:
    """Request id -> the text of its row's credential cell."""
    import re

    cells = {}
    for row in re.findall(r"<tr>(.*?)</tr>", html, flags=re.S):
        rid = re.search(r'<code class="id">([0-9a-f-]{36})</code>', row)
        cell = re.search(r'<td class="credential-source">(.*?)</td>', row, flags=re.S)
        if rid and cell:
            cells[rid.group(1)] = re.sub(r"<[^>]+>", "", cell.group(1)).strip()
    return cells


def test_requests_page_shows_whose_credential_served_each_call_never_the_credential(login, world, store, served_by_org):
    admin = login("acme_admin")
    assert add(admin).status_code == 303  # an org key exists: the page still never shows it
    ids = world.request_ids["acme"]
    html = admin.get("/requests").text
    assert ">Credential</th>" in html
    cells = credential_cells(html)
    assert set(cells) == set(ids)
    assert cells[served_by_org] == "org"
    # The others are as the gateway recorded them: the platform's credentials served every call that reached a
    # provider (the fixture's region has no org credential in the gateway); a refused call reached none.
    assert cells[ids[1]] == cells[ids[2]] == cells[ids[3]] == "platform"
    assert cells[ids[6]] == "—"  # no-such-model: no provider was called
    assert SECRET not in html and "sk-" not in html
    # Searching for a source finds exactly those rows.
    assert set(credential_cells(admin.get("/requests?q=org").text)) == {served_by_org}
    assert served_by_org not in credential_cells(admin.get("/requests?q=platform").text)
    # Another org sees only its own rows, each with its own source.
    globex = credential_cells(login("globex_admin").get("/requests").text)
    assert set(globex) == set(world.request_ids["globex"]) and "org" not in globex.values()
