"""The gateway service: authenticate, validate, apply guardrails and budgets, call the region's provider,
translate, time and audit. Transport-free: the ALB handler and the local server both call ``Gateway.handle``.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import logging
import os
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC
from decimal import Decimal
from typing import Any, Protocol

from regiongate.audit.runtime import events as audit_events
from regiongate.common.clock import Clock, utc_now
from regiongate.contract.errors import (
    BudgetExceeded,
    GatewayError,
    GuardrailViolation,
    InvalidRequest,
    MethodNotAllowed,
    ModelNotAllowed,
    NotFound,
    RequestTooLarge,
    ResponseTooLarge,
    ServiceUnavailable,
    error_response,
)
from regiongate.contract.settings import ModelEntry, RuntimeConfig
from regiongate.gateway.runtime.guardrails import chat_texts, estimate_tokens, scan
from regiongate.gateway.runtime.pricing import cost_usd
from regiongate.gateway.runtime.providers import Registry, RetryPolicy, UpstreamTimer, with_retries
from regiongate.gateway.runtime.requests import parse_json, validate_chat, validate_embeddings
from regiongate.gateway.runtime.translate import ChatResult, Delta
from regiongate.gateway.runtime.transport import Request, Response
from regiongate.store import KeyRecord, Store
from regiongate.store.keys import KeyAuthenticator

log = logging.getLogger("regiongate.gateway")

# ALB → Lambda: request and response are limited to 1 MB each (headers and JSON envelope included).
ALB_MAX_RESPONSE_BYTES = 1_000_000


class AuditSink(Protocol):
    def emit(self, event: dict) -> None: ...


class BudgetGuard:
    """Monthly budgets per key and per org, from the daily rollups, cached for ``ttl`` seconds."""

    def __init__(self, store: Store, ttl: float, monotonic: Callable[[], float], clock: Clock) -> None:
        self.store = store
        self.ttl = ttl
        self.monotonic = monotonic
        self.clock = clock
        self._cache: dict[tuple[str, ...], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def _cached(self, key: tuple[str, ...], load: Callable[[], Any]) -> Any:
        now = self.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = load()
        with self._lock:
            self._cache[key] = (now + self.ttl, value)
        return value

    def check(self, record: KeyRecord) -> None:
        month = self.clock().astimezone(UTC).date()
        label = f"{month.year:04d}-{month.month:02d}"  # in the cache key: a new month never reads last month's spend
        if record.monthly_budget_usd is not None:
            spent = self._cached(
                ("key", record.key_id, label), lambda: self.store.month_spend("key", record.key_id, month)
            )
            if spent >= record.monthly_budget_usd:
                raise BudgetExceeded(f"this key has used its monthly budget of {record.monthly_budget_usd} USD")
        org_budget = self._cached(("org-budget", record.org_id), lambda: self.store.org_budget(record.org_id))
        if org_budget is not None:
            spent = self._cached(
                ("org", record.org_id, label), lambda: self.store.month_spend("org", record.org_id, month)
            )
            if spent >= org_budget:
                raise BudgetExceeded(f"organisation {record.org_id} has used its monthly budget of {org_budget} USD")


class _RequestIds:
    """Random (version 4) UUIDs for request ids without a system call per request.

    ``uuid.uuid4()`` reads 16 bytes with ``os.urandom``, which releases the interpreter lock for the system
    call; in the local server, under concurrency, the request thread then waits for the lock to come back
    (profiled: that wait was most of the gateway's added p99 at c=16). Here a 256-bit key is read from
    ``os.urandom`` once (again in a forked child) and each id is the keyed BLAKE2b of a counter: unique per
    process, and as unpredictable as the key.
    """

    def __init__(self) -> None:
        self._reseed()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        self._key = os.urandom(32)
        self._counter = itertools.count()

    def new(self) -> str:
        digest = hashlib.blake2b(next(self._counter).to_bytes(8, "little"), key=self._key, digest_size=16).digest()
        return str(uuid.UUID(bytes=digest, version=4))


_request_ids = _RequestIds()


class _Context:
    __slots__ = (
        "cost",
        "created_at",
        "endpoint",
        "error_type",
        "guardrail",
        "input_tokens",
        "key",
        "model",
        "output_tokens",
        "provider",
        "request_id",
        "started",
        "status",
        "stream",
        "timer",
        "violations",
    )

    def __init__(self, clock: Clock, received: float | None = None) -> None:
        self.request_id = _request_ids.new()
        self.started = received if received is not None else time.perf_counter()
        self.created_at = clock()
        self.timer = UpstreamTimer()
        self.key: KeyRecord | None = None
        self.model: str | None = None
        self.provider: str | None = None
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost = Decimal(0)
        self.status = 200
        self.error_type: str | None = None
        self.stream = False
        self.guardrail = "pass"
        self.violations: list[dict] = []
        self.endpoint = "other"

    def fail(self, exc: BaseException) -> None:
        self.status = exc.status if isinstance(exc, GatewayError) else 500
        self.error_type = exc.type if isinstance(exc, GatewayError) else "internal_error"

    def timings(self) -> tuple[float, float]:
        total = (time.perf_counter() - self.started) * 1000
        return total, self.timer.seconds * 1000


def _sse(value: Any) -> bytes:
    return b"data: " + json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n\n"


class Gateway:
    def __init__(
        self,
        runtime: RuntimeConfig,
        *,
        store: Store,
        registry: Registry,
        audit: AuditSink,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Clock = utc_now,
        whole_responses: bool = False,
        key_cache_ttl: float | None = None,
    ) -> None:
        self.runtime = runtime
        self.store = store
        self.registry = registry
        self.audit = audit
        self.retry = retry
        self.sleep = sleep
        self.clock = clock
        self.whole_responses = whole_responses  # behind an ALB: no streaming, 1 MB responses
        ttl = runtime.key_cache_ttl_seconds if key_cache_ttl is None else key_cache_ttl
        self.keys = KeyAuthenticator(store, runtime.code, ttl, monotonic=monotonic, clock=clock)
        self.budgets = BudgetGuard(store, ttl, monotonic, clock)
        self.max_request_bytes = max(
            [runtime.guardrails.max_request_bytes, *(g.max_request_bytes for g in runtime.org_guardrails.values())]
        )
        self._routes: dict[str, dict[str, Callable[[_Context, Request], Response]]] = {
            "/v1/chat/completions": {"POST": self._chat},
            "/v1/embeddings": {"POST": self._embeddings},
            "/v1/models": {"GET": self._models},
        }

    # --- entry point ---------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        path = request.path.split("?", 1)[0]
        ctx = _Context(self.clock, request.received)
        if path == "/health":  # no auth, no I/O, no audit event
            response = Response(
                200,
                {"content-type": "application/json"},
                json.dumps({"status": "ok", "region": self.runtime.code}).encode(),
            )
            self._headers(ctx, response)
            return response
        try:
            response = self._route(ctx, request, path)
            if response.stream is not None and self.whole_responses:
                response.body = b"".join(response.stream)
                response.stream = None
            if len(response.body) > ALB_MAX_RESPONSE_BYTES and self.whole_responses:
                raise ResponseTooLarge(
                    "the response exceeds the 1 MB a load balancer can return; lower max_tokens or ask for fewer embeddings"
                )
        except Exception as exc:  # the one place errors become responses
            if not isinstance(exc, GatewayError):
                log.error("unhandled error", exc_info=True, extra={"fields": {"request_id": ctx.request_id}})
            ctx.fail(exc)
            status, headers, body = error_response(exc)
            response = Response(status, headers, body)
        if response.stream is None:
            self._finish(ctx)  # log and audit emit (an SQS send in AWS) count as the gateway's own time
            self._headers(ctx, response)
        else:
            self._headers(ctx, response)  # for a stream: the time until its first byte
            response.stream = self._audited(ctx, response.stream)
        return response

    def _route(self, ctx: _Context, request: Request, path: str) -> Response:
        if path.startswith("/v1/models/"):
            ctx.endpoint = "models"
            if request.method != "GET":
                raise MethodNotAllowed(f"{request.method} is not allowed on {path}; use GET")
            return self._model(ctx, request, path[len("/v1/models/") :])
        methods = self._routes.get(path)
        if methods is None:
            raise NotFound("no such endpoint; this gateway serves /v1/chat/completions, /v1/embeddings and /v1/models")
        handler = methods.get(request.method)
        if handler is None:
            raise MethodNotAllowed(f"{request.method} is not allowed on {path}; use {', '.join(methods)}")
        return handler(ctx, request)

    def _headers(self, ctx: _Context, response: Response) -> None:
        total, upstream = ctx.timings()
        response.headers["x-request-id"] = ctx.request_id
        response.headers["x-regiongate-region"] = self.runtime.code
        response.headers["x-regiongate-added-ms"] = f"{max(total - upstream, 0.0):.3f}"
        response.headers["x-regiongate-upstream-ms"] = f"{upstream:.3f}"

    def _audited(self, ctx: _Context, stream: Iterator[bytes]) -> Iterator[bytes]:
        try:
            yield from stream
        except GeneratorExit:
            ctx.status, ctx.error_type = 499, "client_closed_request"
            raise
        finally:
            self._finish(ctx)

    def _finish(self, ctx: _Context) -> None:
        total, upstream = ctx.timings()
        key = ctx.key
        fields = {
            "request_id": ctx.request_id,
            "status": ctx.status,
            "error_type": ctx.error_type,
            "endpoint": ctx.endpoint,
            "model": ctx.model,
            "provider": ctx.provider,
            "key_id": key.key_id if key else None,
            "org_id": key.org_id if key else None,
            "stream": ctx.stream,
            "input_tokens": ctx.input_tokens,
            "output_tokens": ctx.output_tokens,
            "total_ms": round(total, 3),
            "upstream_ms": round(upstream, 3),
            "added_ms": round(total - upstream, 3),
            "attempts": ctx.timer.attempts,
            "guardrail": ctx.guardrail,
        }
        log.info("request", extra={"fields": fields})
        try:
            self.audit.emit(
                audit_events.new_event(
                    request_id=ctx.request_id,
                    created_at=ctx.created_at.isoformat(),
                    region=self.runtime.code,
                    endpoint=ctx.endpoint,
                    key_id=fields["key_id"],
                    org_id=fields["org_id"],
                    team_id=key.team_id if key else None,
                    user_id=key.user_id if key else None,
                    model=ctx.model,
                    provider=ctx.provider,
                    input_tokens=ctx.input_tokens,
                    output_tokens=ctx.output_tokens,
                    cost_usd=str(ctx.cost),
                    total_ms=round(total, 3),
                    upstream_ms=round(upstream, 3),
                    status=ctx.status,
                    error_type=ctx.error_type,
                    stream=ctx.stream,
                    guardrail=ctx.guardrail,
                    violations=ctx.violations,
                )
            )
        except Exception:
            log.error("audit emit failed", exc_info=True, extra={"fields": {"request_id": ctx.request_id}})

    # --- shared steps -------------------------------------------------------------------------------------
    def _authenticate(self, ctx: _Context, request: Request) -> KeyRecord:
        ctx.key = self._store_call(lambda: self.keys.authenticate(dict(request.headers)))
        return ctx.key

    @staticmethod
    def _store_call(call: Callable[[], Any]) -> Any:
        """A database outage is a 503 the client may retry, not a 500."""
        try:
            return call()
        except GatewayError:
            raise
        except Exception as exc:
            log.error("key store unavailable", extra={"fields": {"error": type(exc).__name__}})
            raise ServiceUnavailable("the region's key store is unavailable; retry shortly") from None

    def _body(self, ctx: _Context, request: Request, key: KeyRecord) -> dict:
        limit = self.runtime.guardrails_for(key.org_id).max_request_bytes
        if len(request.body) > limit:
            raise RequestTooLarge(f"the request body is {len(request.body)} bytes; the limit is {limit}")
        return parse_json(request.body)

    def _resolve_model(self, ctx: _Context, name: str, key: KeyRecord, kind: str) -> ModelEntry:
        model = self.runtime.models.get(name)
        if model is None:
            raise NotFound(
                f"model {name[:100]!r} is not served in region {self.runtime.display_name}; see GET /v1/models",
                type="model_not_found",
            )
        ctx.model = model.name
        ctx.provider = model.provider
        if model.kind != kind:
            raise InvalidRequest(f"model {model.name} is an {model.kind} model; use the matching endpoint")
        policy = self.runtime.guardrails_for(key.org_id)
        if policy.model_allowlist is not None and model.name not in policy.model_allowlist:
            raise ModelNotAllowed(f"model {model.name} is not allowed for this organisation")
        if key.model_allowlist is not None and model.name not in key.model_allowlist:
            raise ModelNotAllowed(f"model {model.name} is not allowed for this API key")
        return model

    def _guard(self, ctx: _Context, key: KeyRecord, texts: list[tuple[str, str]]) -> None:
        policy = self.runtime.guardrails_for(key.org_id)
        estimated = estimate_tokens(texts)
        if estimated > policy.max_input_tokens:
            ctx.guardrail = "block"
            ctx.violations.append(
                {
                    "detector": "max-input-tokens",
                    "action": "block",
                    "message": f"estimated {estimated} input tokens exceed the limit of {policy.max_input_tokens}",
                }
            )
            raise GuardrailViolation(f"the input is about {estimated} tokens; the limit is {policy.max_input_tokens}")
        violations = scan(texts, policy)
        ctx.violations.extend(v.as_event() for v in violations)
        blocked = [v for v in violations if v.action == "block"]
        if blocked:
            ctx.guardrail = "block"
            raise GuardrailViolation("request blocked by guardrail: " + "; ".join(v.message for v in blocked))
        if violations:
            ctx.guardrail = "flag"

    def _price(self, ctx: _Context, model: ModelEntry, input_tokens: int, output_tokens: int) -> dict:
        ctx.input_tokens, ctx.output_tokens = input_tokens, output_tokens
        ctx.cost = cost_usd(input_tokens, output_tokens, model.input_usd_per_mtok, model.output_usd_per_mtok)
        return {
            "prompt_tokens": input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        }

    # --- routes -------------------------------------------------------------------------------------------
    def _chat(self, ctx: _Context, request: Request) -> Response:
        ctx.endpoint = "chat"
        if len(request.body) > self.max_request_bytes:
            raise RequestTooLarge(
                f"the request body is {len(request.body)} bytes; the limit is {self.max_request_bytes}"
            )
        key = self._authenticate(ctx, request)
        body = validate_chat(self._body(ctx, request, key))
        ctx.stream = bool(body.get("stream"))
        model = self._resolve_model(ctx, body["model"], key, "chat")
        self._guard(ctx, key, list(chat_texts(body)))
        self._store_call(lambda: self.budgets.check(key))
        provider = self.registry.get(model.provider)
        if ctx.stream:
            deltas = with_retries(
                lambda: provider.chat_stream(model, body, ctx.timer), self.retry, ctx.timer, self.sleep
            )
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return Response(
                200,
                {"content-type": "text/event-stream", "cache-control": "no-cache"},
                stream=self._stream(ctx, model, deltas, include_usage),
            )  # providers time their own reads
        result: ChatResult = with_retries(
            lambda: provider.chat(model, body, ctx.timer), self.retry, ctx.timer, self.sleep
        )
        usage = self._price(ctx, model, result.input_tokens, result.output_tokens)
        message: dict[str, Any] = {"role": "assistant", "content": result.content}
        if result.tool_calls:
            message["tool_calls"] = result.tool_calls
        answer = {
            "id": "chatcmpl-" + ctx.request_id.replace("-", ""),
            "object": "chat.completion",
            "created": int(ctx.created_at.timestamp()),
            "model": model.name,
            "choices": [{"index": 0, "message": message, "finish_reason": result.finish_reason, "logprobs": None}],
            "usage": usage,
        }
        return Response(
            200, {"content-type": "application/json"}, json.dumps(answer, ensure_ascii=False).encode("utf-8")
        )

    def _stream(
        self, ctx: _Context, model: ModelEntry, deltas: Iterator[Delta], include_usage: bool
    ) -> Iterator[bytes]:
        base = {
            "id": "chatcmpl-" + ctx.request_id.replace("-", ""),
            "object": "chat.completion.chunk",
            "created": int(ctx.created_at.timestamp()),
            "model": model.name,
        }

        def chunk(delta: dict, finish: str | None = None) -> bytes:
            return _sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]})

        yield chunk({"role": "assistant", "content": ""})
        finish, usage = None, (0, 0)
        try:
            for d in deltas:
                if d.kind == "text":
                    yield chunk({"content": d.text})
                elif d.kind == "tool_start":
                    yield chunk(
                        {
                            "tool_calls": [
                                {
                                    "index": d.index,
                                    "id": d.tool_id,
                                    "type": "function",
                                    "function": {"name": d.name, "arguments": ""},
                                }
                            ]
                        }
                    )
                elif d.kind == "tool_args":
                    yield chunk({"tool_calls": [{"index": d.index, "function": {"arguments": d.text}}]})
                elif d.kind == "finish":
                    finish = d.finish_reason
                elif d.kind == "usage":
                    usage = (d.input_tokens, d.output_tokens)
        except GatewayError as exc:
            ctx.fail(exc)
            self._price(ctx, model, *usage)
            yield _sse(exc.body())
            yield b"data: [DONE]\n\n"
            return
        usage_body = self._price(ctx, model, *usage)
        yield chunk({}, finish or "stop")
        if include_usage:
            yield _sse({**base, "choices": [], "usage": usage_body})
        yield b"data: [DONE]\n\n"

    def _embeddings(self, ctx: _Context, request: Request) -> Response:
        ctx.endpoint = "embeddings"
        if len(request.body) > self.max_request_bytes:
            raise RequestTooLarge(
                f"the request body is {len(request.body)} bytes; the limit is {self.max_request_bytes}"
            )
        key = self._authenticate(ctx, request)
        body = self._body(ctx, request, key)
        name, inputs, encoding = validate_embeddings(body)
        model = self._resolve_model(ctx, name, key, "embedding")
        self._guard(ctx, key, [(f"input[{i}]", text) for i, text in enumerate(inputs)])
        self._store_call(lambda: self.budgets.check(key))
        provider = self.registry.get(model.provider)
        result = with_retries(lambda: provider.embed(model, inputs, ctx.timer), self.retry, ctx.timer, self.sleep)
        usage = self._price(ctx, model, result.input_tokens, 0)
        data = []
        for i, vector in enumerate(result.vectors):
            value: Any = vector
            if encoding == "base64":
                value = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
            data.append({"object": "embedding", "index": i, "embedding": value})
        answer = {
            "object": "list",
            "data": data,
            "model": model.name,
            "usage": {"prompt_tokens": usage["prompt_tokens"], "total_tokens": usage["prompt_tokens"]},
        }
        return Response(200, {"content-type": "application/json"}, json.dumps(answer).encode("utf-8"))

    def _visible_models(self, key: KeyRecord) -> list[ModelEntry]:
        policy = self.runtime.guardrails_for(key.org_id)
        return [
            m
            for m in self.runtime.models.values()
            if (policy.model_allowlist is None or m.name in policy.model_allowlist)
            and (key.model_allowlist is None or m.name in key.model_allowlist)
        ]

    def _model_card(self, model: ModelEntry) -> dict:
        return {"id": model.name, "object": "model", "created": 0, "owned_by": f"regiongate-{self.runtime.code}"}

    def _models(self, ctx: _Context, request: Request) -> Response:
        ctx.endpoint = "models"
        key = self._authenticate(ctx, request)
        body = {"object": "list", "data": [self._model_card(m) for m in self._visible_models(key)]}
        return Response(200, {"content-type": "application/json"}, json.dumps(body).encode())

    def _model(self, ctx: _Context, request: Request, name: str) -> Response:
        key = self._authenticate(ctx, request)
        for model in self._visible_models(key):
            if model.name == name:
                return Response(200, {"content-type": "application/json"}, json.dumps(self._model_card(model)).encode())
        raise NotFound(
            f"model {name[:100]!r} is not served in region {self.runtime.display_name}", type="model_not_found"
        )
