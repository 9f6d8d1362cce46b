"""A wrong method on a /v1/memory path is a 405 whose Allow header lists the methods the path takes (RFC 9110
requires the header on a 405), through the service as on every other path."""

from __future__ import annotations

import pytest

from regiongate.contract.errors import MethodNotAllowed
from regiongate.gateway.runtime.context import RequestContext
from regiongate.gateway.runtime.routes import memory
from regiongate.gateway.runtime.transport import Request
from regiongate.store.memory import MemoryStore
from tests.fixtures.clock import pinned
from tests.fixtures.gateway import make_gateway

CASES = [
    ("GET", "/v1/memory/search", ("POST",)),
    ("PUT", "/v1/memory/facts/f1", ("GET", "DELETE")),
    ("POST", "/v1/memory/sessions/s1", ("DELETE",)),
    ("DELETE", "/v1/memory/users/u1/facts", ("GET", "POST")),
]


@pytest.mark.parametrize(("method", "path", "allow"), CASES)
def test_the_route_names_the_allowed_methods(method, path, allow):
    with pytest.raises(MethodNotAllowed, match=rf"^{method} is not allowed on {path}; use {', '.join(allow)}$") as e:
        memory.route(None, RequestContext(pinned()), Request(method, path, {}), path)  # type: ignore[arg-type]
    assert e.value.allow == allow and e.value.headers()["allow"] == ", ".join(allow)


@pytest.mark.parametrize(("method", "path", "allow"), CASES)
def test_the_service_answers_405_with_the_allow_header(eu_runtime, method, path, allow):
    gateway, _ = make_gateway(eu_runtime, MemoryStore())
    response = gateway.handle(Request(method, path, {"authorization": "Bearer rk-eu-x"}))
    assert response.status == 405 and response.headers["allow"] == ", ".join(allow)
