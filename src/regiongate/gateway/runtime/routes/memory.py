"""``/v1/memory``: Memory-as-a-Service for an org that enabled it, in a region that offers it.

The client sends exactly what to remember; nothing else ever writes memory (chat, messages, responses and
embeddings requests have no path to the memory store). Facts are embedded by the region's own embedding model
(``regions.<code>.gateway.memory.embedding_model``) through the same provider, checks (guardrails, rate limits,
budget) and pricing as ``/v1/embeddings``; their audit events carry the operation (``endpoint``: memory.add,
memory.search, ...) and the usage, never a fact.

- ``POST /v1/memory/{sessions|users}/{id}/facts`` ``{"facts": [{"text": ..., "metadata": {...}}]}``: add.
- ``GET /v1/memory/{sessions|users}/{id}/facts[?limit=&offset=]``: list (oldest first).
- ``DELETE /v1/memory/{sessions|users}/{id}``: erase the whole session or user; answers how many were deleted.
- ``POST /v1/memory/search`` ``{"query": ..., "session_id" | "user_id": ..., "limit": 10}``: nearest first.
- ``GET`` / ``DELETE /v1/memory/facts/{id}``: one fact.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qs, unquote

from regiongate.common.clock import Clock
from regiongate.contract.document import MemoryOffer, ModelEntry
from regiongate.contract.errors import (
    GatewayError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    RequestTooLarge,
    UpstreamError,
)
from regiongate.contract.limits import (
    MEMORY_DIMENSIONS,
    MEMORY_MAX_FACT_CHARS,
    MEMORY_MAX_FACTS_PER_REQUEST,
    MEMORY_MAX_RESULTS,
)
from regiongate.gateway.runtime.checks import Call, run_checks
from regiongate.gateway.runtime.context import RequestContext
from regiongate.gateway.runtime.providers.retries import with_retries
from regiongate.gateway.runtime.routes import Host
from regiongate.gateway.runtime.store_errors import store_call
from regiongate.gateway.runtime.transport import Request, Response
from regiongate.store import KeyRecord
from regiongate.store.memory_facts import Fact, MemoryLimitReached, MemoryNotEnabled, MemoryStore, NewFact

PREFIX = "/v1/memory"
SCOPES = {"sessions": "session", "users": "user"}
_SCOPE_ID_RE = re.compile(r"^[A-Za-z0-9._:@-]{1,200}$")
_MAX_METADATA_BYTES = 4096
T = TypeVar("T")


class MemoryHost(Host, Protocol):
    memory: MemoryStore | None
    clock: Clock


class MemoryNotAvailable(GatewayError):
    status, type = 404, "memory_not_available"


class MemoryDisabled(GatewayError):
    status, type = 403, "memory_not_enabled"


class MemoryLimit(GatewayError):
    status, type = 409, "memory_limit_reached"


def route(host: MemoryHost, ctx: RequestContext, request: Request, path: str) -> Response:
    """Dispatch a path under ``/v1/memory`` (the service calls this for every such path)."""
    parts = [unquote(p) for p in path[len(PREFIX) :].strip("/").split("/")] if path != PREFIX else []
    method = request.method
    ctx.endpoint = "memory"
    if len(parts) == 1 and parts[0] == "search":
        return _only(method, "POST", path, lambda: search(host, ctx, request))
    if len(parts) == 2 and parts[0] == "facts":
        if method == "GET":
            return get_fact(host, ctx, request, parts[1])
        return _only(
            method, "DELETE", path, lambda: delete_fact(host, ctx, request, parts[1]), allowed=("GET", "DELETE")
        )
    if len(parts) in (2, 3) and parts[0] in SCOPES:
        kind, scope_id = SCOPES[parts[0]], _scope_id(parts[1])
        if len(parts) == 2:
            return _only(method, "DELETE", path, lambda: erase(host, ctx, request, kind, scope_id))
        if parts[2] == "facts":
            if method == "GET":
                return list_facts(host, ctx, request, kind, scope_id)
            return _only(method, "POST", path, lambda: add(host, ctx, request, kind, scope_id), allowed=("GET", "POST"))
    raise NotFound(
        "no such memory endpoint; see POST /v1/memory/{sessions|users}/{id}/facts, GET …/facts, "
        "DELETE /v1/memory/{sessions|users}/{id}, POST /v1/memory/search, GET or DELETE /v1/memory/facts/{id}"
    )


def _only(
    method: str, wanted: str, path: str, handler: Callable[[], Response], allowed: tuple[str, ...] = ()
) -> Response:
    """``handler()`` for ``wanted``; another method is a 405 whose Allow header lists the path's methods."""
    if method != wanted:
        allow = allowed or (wanted,)
        raise MethodNotAllowed(f"{method} is not allowed on {path}; use {', '.join(allow)}", allow=allow)
    return handler()


def _scope_id(text: str) -> str:
    if not _SCOPE_ID_RE.match(text):
        raise InvalidRequest(
            "a session or user id is 1 to 200 letters, digits and . _ : @ - characters", param="scope_id"
        )
    return text


# --- the steps every memory request takes --------------------------------------------------------------------
def _open(
    host: MemoryHost, ctx: RequestContext, request: Request, operation: str, *, erasing: bool = False
) -> tuple[KeyRecord, MemoryStore]:
    """Authenticate (another region's key: region_mismatch), then refuse unless the region offers memory and
    the key's org enabled it; erasing (delete a fact, a session or a user) stays possible after it disabled it."""
    ctx.endpoint = f"memory.{operation}"
    key = host._authenticate(ctx, request)
    store = host.memory
    if host.runtime.memory is None or store is None:
        raise MemoryNotAvailable(
            f"Memory-as-a-Service is not offered in region {host.runtime.display_name} "
            f"(regions.{host.runtime.code}.gateway.memory.available is not true)"
        )
    if erasing:
        return key, store
    settings = _call(lambda: store.settings(key.org_id), key, host)
    if settings is None or not settings.enabled:
        raise _disabled(key, host)
    return key, store


def _disabled(key: KeyRecord, host: MemoryHost) -> MemoryDisabled:
    return MemoryDisabled(
        f"Memory-as-a-Service is not enabled for org {key.org_id} in region {host.runtime.display_name}; an "
        f"operator enables it with `regiongate memory enable --region {host.runtime.code} --org {key.org_id}`"
    )


def _call(call: Callable[[], T], key: KeyRecord, host: MemoryHost) -> T:
    """A memory store call: the store's refusals become the API's, an outage a 503."""

    def refused() -> T:
        try:
            return call()
        except MemoryNotEnabled:
            raise _disabled(key, host) from None
        except MemoryLimitReached as exc:
            raise MemoryLimit(
                f"{exc}; delete facts or erase a session or user, or raise the limit with `regiongate memory "
                f"enable --region {host.runtime.code} --org {key.org_id} --max-facts N`"
            ) from None

    return store_call(refused)


def _embed(host: MemoryHost, ctx: RequestContext, key: KeyRecord, texts: list[str]) -> list[list[float]]:
    """Embed ``texts`` with the region's memory model, after the same checks as an embeddings request."""
    offer: MemoryOffer | None = host.runtime.memory
    assert offer is not None
    model: ModelEntry = host.runtime.models[offer.embedding_model]
    ctx.model, ctx.provider = model.name, model.provider
    run_checks(host.checks, Call(ctx, key, model, [(f"texts[{i}]", t) for i, t in enumerate(texts)]))
    provider = host.registry.get(model.provider)
    dimensions = offer.dimensions if model.target.startswith("amazon.titan-embed-text-v2") else None
    result = with_retries(
        lambda: provider.embed(model, list(texts), ctx.timer, dimensions=dimensions), host.retry, ctx.timer, host.sleep
    )
    host._price(ctx, model, result.input_tokens, 0)
    if len(result.vectors) != len(texts) or any(len(v) != MEMORY_DIMENSIONS for v in result.vectors):
        raise UpstreamError(
            f"the region's embedding model {model.name} did not return one {MEMORY_DIMENSIONS}-dimension vector "
            "per text; nothing was stored"
        )
    return result.vectors


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(status, {"content-type": "application/json"}, json.dumps(body, ensure_ascii=False).encode("utf-8"))


def fact_body(fact: Fact, distance: float | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": fact.fact_id,
        "object": "memory.fact",
        "scope": fact.scope_kind,
        "scope_id": fact.scope_id,
        "text": fact.text,
        "metadata": dict(fact.metadata),
        "created_at": int(fact.created_at.timestamp()),
        "expires_at": int(fact.expires_at.timestamp()),
    }
    if distance is not None:
        body["distance"] = round(distance, 6)
    return body


def _facts(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    facts = body.get("facts")
    if not isinstance(facts, list) or not 1 <= len(facts) <= MEMORY_MAX_FACTS_PER_REQUEST:
        raise InvalidRequest(
            f"facts must be a list of 1 to {MEMORY_MAX_FACTS_PER_REQUEST} objects with a text", param="facts"
        )
    unknown = set(body) - {"facts"}
    if unknown:
        raise InvalidRequest(f"unknown field {sorted(unknown)[0]!r}; send only facts", param=sorted(unknown)[0])
    parsed = []
    for i, item in enumerate(facts):
        where = f"facts[{i}]"
        if not isinstance(item, dict) or set(item) - {"text", "metadata"}:
            raise InvalidRequest(f"{where} must be an object with text and, optionally, metadata", param=where)
        text = item.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MEMORY_MAX_FACT_CHARS:
            raise InvalidRequest(
                f"{where}.text must be a non-empty string of at most {MEMORY_MAX_FACT_CHARS} characters",
                param=f"{where}.text",
            )
        metadata = item.get("metadata", {})
        if not isinstance(metadata, dict) or len(json.dumps(metadata)) > _MAX_METADATA_BYTES:
            raise InvalidRequest(
                f"{where}.metadata must be a JSON object of at most {_MAX_METADATA_BYTES} bytes",
                param=f"{where}.metadata",
            )
        parsed.append((text, metadata))
    return parsed


def _query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    query = parse_qs(request.path.split("?", 1)[1]) if "?" in request.path else {}
    values = query.get(name)
    if not values:
        return default
    try:
        value = int(values[0])
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise InvalidRequest(f"{name} must be an integer from {low} to {high}", param=name)
    return value


def _check_size(host: MemoryHost, request: Request) -> None:
    if len(request.body) > host.max_request_bytes:
        raise RequestTooLarge(f"the request body is {len(request.body)} bytes; the limit is {host.max_request_bytes}")


# --- the operations ------------------------------------------------------------------------------------------
def add(host: MemoryHost, ctx: RequestContext, request: Request, kind: str, scope_id: str) -> Response:
    _check_size(host, request)
    key, store = _open(host, ctx, request, "add")
    facts = _facts(host._body(ctx, request, key))
    vectors = _embed(host, ctx, key, [text for text, _ in facts])
    new = [NewFact(text, vector, metadata) for (text, metadata), vector in zip(facts, vectors, strict=True)]
    added = _call(lambda: store.add(key.org_id, kind, scope_id, new, host.clock()), key, host)
    return _json(
        200,
        {
            "object": "list",
            "data": [fact_body(f) for f in added],
            "usage": {"prompt_tokens": ctx.input_tokens, "total_tokens": ctx.input_tokens},
        },
    )


def search(host: MemoryHost, ctx: RequestContext, request: Request) -> Response:
    _check_size(host, request)
    key, store = _open(host, ctx, request, "search")
    body = host._body(ctx, request, key)
    unknown = set(body) - {"query", "session_id", "user_id", "limit"}
    if unknown:
        raise InvalidRequest(f"unknown field {sorted(unknown)[0]!r}", param=sorted(unknown)[0])
    query = body.get("query")
    if not isinstance(query, str) or not query.strip() or len(query) > MEMORY_MAX_FACT_CHARS:
        raise InvalidRequest(
            f"query must be a non-empty string of at most {MEMORY_MAX_FACT_CHARS} characters", param="query"
        )
    if "session_id" in body and "user_id" in body:
        raise InvalidRequest("search one scope: session_id or user_id, not both", param="user_id")
    kind = "session" if "session_id" in body else "user" if "user_id" in body else None
    scope_id = None
    if kind is not None:
        raw = body[f"{kind}_id"]
        if not isinstance(raw, str):
            raise InvalidRequest(f"{kind}_id must be a string", param=f"{kind}_id")
        scope_id = _scope_id(raw)
    limit = body.get("limit", 10)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MEMORY_MAX_RESULTS:
        raise InvalidRequest(f"limit must be an integer from 1 to {MEMORY_MAX_RESULTS}", param="limit")
    (vector,) = _embed(host, ctx, key, [query])
    found = _call(
        lambda: store.search(key.org_id, vector, host.clock(), scope_kind=kind, scope_id=scope_id, limit=limit),
        key,
        host,
    )
    return _json(
        200,
        {
            "object": "list",
            "data": [fact_body(f.fact, f.distance) for f in found],
            "usage": {"prompt_tokens": ctx.input_tokens, "total_tokens": ctx.input_tokens},
        },
    )


def list_facts(host: MemoryHost, ctx: RequestContext, request: Request, kind: str, scope_id: str) -> Response:
    key, store = _open(host, ctx, request, "list")
    limit = _query_int(request, "limit", 100, 1, 1000)
    offset = _query_int(request, "offset", 0, 0, 10_000_000)
    facts: Sequence[Fact] = _call(
        lambda: store.list_facts(key.org_id, kind, scope_id, host.clock(), limit=limit, offset=offset), key, host
    )
    return _json(200, {"object": "list", "data": [fact_body(f) for f in facts]})


def get_fact(host: MemoryHost, ctx: RequestContext, request: Request, fact_id: str) -> Response:
    key, store = _open(host, ctx, request, "get")
    fact = _call(lambda: store.get(key.org_id, fact_id, host.clock()), key, host)
    if fact is None:
        raise NotFound(f"no memory fact {fact_id[:100]!r} in this org (or it has expired)", type="fact_not_found")
    return _json(200, fact_body(fact))


def delete_fact(host: MemoryHost, ctx: RequestContext, request: Request, fact_id: str) -> Response:
    key, store = _open(host, ctx, request, "delete", erasing=True)
    deleted = _call(lambda: store.delete(key.org_id, fact_id), key, host)
    if not deleted:
        raise NotFound(f"no memory fact {fact_id[:100]!r} in this org", type="fact_not_found")
    return _json(200, {"id": fact_id, "object": "memory.fact.deleted", "deleted": True})


def erase(host: MemoryHost, ctx: RequestContext, request: Request, kind: str, scope_id: str) -> Response:
    key, store = _open(host, ctx, request, "erase", erasing=True)
    count = _call(lambda: store.erase(key.org_id, kind, scope_id), key, host)
    return _json(200, {"object": f"memory.{kind}.deleted", "scope": kind, "scope_id": scope_id, "deleted": count})
