"""Shared builders for gateway tests."""

from __future__ import annotations


from llm_gateway.audit import ListAuditSink
from llm_gateway.transport import Request
from llm_gateway.keys import KeyService
from llm_gateway.providers import Credentials, Registry, RetryPolicy
from llm_gateway.service import Gateway
from tests.clock import pinned

AZURE_KEY = "azure-test-key"


def make_gateway(runtime, store, *, bedrock=None, azure=None, openai_compatible=None, sink=None, **kwargs):
    overrides = {}
    if bedrock is not None:
        overrides[next(p for p in runtime.providers.values() if p.type == "bedrock").name] = bedrock.url
    if azure is not None:
        overrides[next(p for p in runtime.providers.values() if p.type == "azure_openai").name] = azure.url
    if openai_compatible is not None:
        name, fake = openai_compatible
        overrides[name] = fake.url + "/v1"
    credentials = Credentials(lambda: {name: {"api_key": AZURE_KEY} for name in runtime.providers})
    sink = sink if sink is not None else ListAuditSink()
    kwargs.setdefault("clock", pinned())
    gateway = Gateway(
        runtime, store=store, registry=Registry(runtime.providers, credentials, overrides=overrides),
        audit=sink, retry=RetryPolicy(attempts=3, base_delay=0.0), sleep=lambda s: None, **kwargs,
    )
    return gateway, sink


def new_key(store, region="eu", org="acme", **kwargs) -> str:
    return KeyService(store, clock=pinned()).create(region_code=region, org_id=org, **kwargs).key


def post(gateway, path: str, body, key: str | None = None, headers: dict | None = None) -> tuple:
    import json

    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    all_headers = {"content-type": "application/json", **(headers or {})}
    if key:
        all_headers["authorization"] = f"Bearer {key}"
    response = gateway.handle(Request("POST", path, all_headers, raw))
    if response.stream is not None:
        response.body = b"".join(response.stream)
        response.stream = None
    return response


def get(gateway, path: str, key: str | None = None):
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return gateway.handle(Request("GET", path, headers, b""))


def body_of(response):
    import json

    return json.loads(response.body)


def sse_events(raw: bytes) -> list:
    import json

    events = []
    for block in raw.decode().split("\n\n"):
        if block.startswith("data: "):
            data = block[6:]
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


