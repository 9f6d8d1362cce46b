"""The gateway service: authenticate, validate, run the pre-call checks (``checks``), call the region's
provider, render the OpenAI answer (``responses``), time and audit. Transport-free: the ALB handler and
the local server both call ``Gateway.handle``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from regiongate.audit.runtime import events as audit_events
from regiongate.common.clock import Clock, utc_now
from regiongate.common.json_text import unicode_json
from regiongate.contract.document import ModelEntry, RuntimeConfig
from regiongate.contract.errors import (
    GatewayError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    RequestTooLarge,
    ResponseTooLarge,
    ServiceUnavailable,
)
from regiongate.contract.limits import RATE_WINDOW_SECONDS, UPSTREAM_DEADLINE_SECONDS
from regiongate.gateway.runtime import embedding_inputs, reasoning, responses, translate_messages
from regiongate.gateway.runtime.auth_failures import UNAUTHENTICATED, AuthFailures, key_prefix, source_address
from regiongate.gateway.runtime.checks import Call, PreCallCheck, max_output_tokens, run_checks
from regiongate.gateway.runtime.checks.budget import BudgetGuard
from regiongate.gateway.runtime.checks.input_guardrails import InputGuardrails
from regiongate.gateway.runtime.checks.model_allowlist import ModelAllowlist
from regiongate.gateway.runtime.checks.rate_limit import RateLimiter
from regiongate.gateway.runtime.context import RequestContext
from regiongate.gateway.runtime.envelopes import error_response_for
from regiongate.gateway.runtime.guardrails import chat_texts
from regiongate.gateway.runtime.health import readiness
from regiongate.gateway.runtime.metrics import MetricsEmitter
from regiongate.gateway.runtime.pricing import cost_usd
from regiongate.gateway.runtime.providers import Registry
from regiongate.gateway.runtime.providers.retries import RetryPolicy, with_retries
from regiongate.gateway.runtime.requests import parse_json, validate_chat, validate_embeddings
from regiongate.gateway.runtime.routes import anthropic_models
from regiongate.gateway.runtime.routes import memory as memory_routes
from regiongate.gateway.runtime.routes import messages as messages_routes
from regiongate.gateway.runtime.routes import responses as responses_routes
from regiongate.gateway.runtime.store_errors import store_call
from regiongate.gateway.runtime.translate import NO_USAGE, ChatResult, Delta, abort_usage
from regiongate.gateway.runtime.transport import Request, Response
from regiongate.store import KeyRecord, Store
from regiongate.store.keys import KeyAuthenticator
from regiongate.store.memory_facts import MemoryStore, PostgresMemoryStore

log = logging.getLogger("regiongate.gateway")

# ALB → Lambda: request and response are limited to 1 MB each (headers and JSON envelope included).
ALB_MAX_RESPONSE_BYTES = 1_000_000


class AuditSink(Protocol):
    def emit(self, event: dict[str, Any]) -> None:
        """Hand the event on, or raise: the request it records is then answered 503 ``audit_unavailable``."""
        ...


def audit_unavailable_response(path: str) -> Response:
    status, headers, body = error_response_for(
        path,
        ServiceUnavailable(
            "the gateway could not record this request (its audit queue did not accept the event), so it "
            "withholds the answer; retry later",
            type="audit_unavailable",
        ),
    )
    return Response(status, headers, body)


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
        upstream_deadline: float = UPSTREAM_DEADLINE_SECONDS,
        rate_window_seconds: float = RATE_WINDOW_SECONDS,
        metrics: MetricsEmitter | None = None,
        memory: MemoryStore | None = None,
    ) -> None:
        self.runtime = runtime
        self.store = store
        # The memory store (/v1/memory) shares the PostgreSQL store's pool; none for other stores unless given.
        pool = getattr(store, "pool", None)
        self.memory = memory if memory is not None else PostgresMemoryStore(pool) if pool is not None else None
        self.registry = registry
        self.audit = audit
        self.metrics = metrics if metrics is not None else MetricsEmitter(runtime.code)
        self.retry = retry
        self.sleep = sleep
        self.clock = clock
        self.monotonic = monotonic
        self.upstream_deadline = upstream_deadline  # one per request: attempts, reads and back-off
        self.whole_responses = whole_responses  # behind an ALB: no streaming, 1 MB responses
        ttl = runtime.key_cache_ttl_seconds if key_cache_ttl is None else key_cache_ttl
        self.keys = KeyAuthenticator(store, runtime.code, ttl, monotonic=monotonic, clock=clock)
        self.auth_failures = AuthFailures(monotonic=monotonic)
        self.rate_limits = RateLimiter(store, clock, ttl=ttl, monotonic=monotonic, window_seconds=rate_window_seconds)
        self.budgets = BudgetGuard(store, clock, ttl=ttl, monotonic=monotonic)
        self.checks: tuple[PreCallCheck, ...] = (
            ModelAllowlist(runtime),
            InputGuardrails(runtime),
            self.rate_limits,
            self.budgets,
        )
        self.max_request_bytes = max(
            [runtime.guardrails.max_request_bytes, *(g.max_request_bytes for g in runtime.org_guardrails.values())]
        )
        self._routes: dict[str, dict[str, Callable[[RequestContext, Request], Response]]] = {
            "/v1/chat/completions": {"POST": self._chat},
            "/v1/embeddings": {"POST": self._embeddings},
            "/v1/models": {"GET": self._models},
            **messages_routes.routes(self),
            **responses_routes.routes(self),
        }

    # --- entry point ---------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        path = request.path.split("?", 1)[0]
        ctx = RequestContext(self.clock, request.received)
        ctx.timer.monotonic = self.monotonic
        ctx.timer.deadline = self.monotonic() + self.upstream_deadline
        if path == "/health":  # no auth, no I/O, no audit event
            response = Response(
                200,
                {"content-type": "application/json"},
                json.dumps({"status": "ok", "region": self.runtime.code}).encode(),
            )
            self._headers(ctx, response)
            return response
        if path == "/health/ready":  # readiness: the region's database answers (no auth, no audit event)
            response = readiness(self.store, self.runtime.code)
            self._headers(ctx, response)
            return response
        admit = getattr(self.audit, "admit", None)  # a buffering sink reserves room for this request's event
        if admit is not None and not admit():
            log.error("audit buffer full: request refused", extra={"fields": {"request_id": ctx.request_id}})
            status, headers, body = error_response_for(
                path,
                ServiceUnavailable(
                    "the gateway cannot record requests right now (its audit store is unreachable and its buffer "
                    "is full), so it serves none; retry later",
                    type="audit_unavailable",
                ),
            )
            response = Response(status, headers, body)
            self._headers(ctx, response)
            total, upstream = ctx.timings()
            self._metric(ctx, 503, "audit_unavailable", total, upstream)  # counted as a 5xx: the alarm sees it
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
            status, headers, body = error_response_for(path, exc, request.headers)  # Anthropic's: envelopes
            response = Response(status, headers, body)
        if response.stream is None:
            # Log and audit emit (an SQS send in AWS) count as the gateway's own time. An answer whose audit
            # event could not be handed on is withheld: the client gets 503 and may retry.
            if not self._recorded(ctx, withhold=True):
                response = audit_unavailable_response(path)
            self._headers(ctx, response)
        else:
            self._headers(ctx, response)  # for a stream: the time until its first byte
            response.stream = self._audited(ctx, response.stream)
        return response

    def _route(self, ctx: RequestContext, request: Request, path: str) -> Response:
        if path.startswith("/v1/models/"):
            ctx.endpoint = "models"
            if request.method != "GET":
                raise MethodNotAllowed(f"{request.method} is not allowed on {path}; use GET", allow=("GET",))
            return self._model(ctx, request, path[len("/v1/models/") :])
        if path.startswith(responses_routes.PREFIX):  # /v1/responses/{id}…: nothing is stored
            return responses_routes.stored(self, ctx, request)
        if path == memory_routes.PREFIX or path.startswith(memory_routes.PREFIX + "/"):
            return memory_routes.route(self, ctx, request, path)
        methods = self._routes.get(path)
        if methods is None:
            raise NotFound(
                "no such endpoint; this gateway serves /v1/chat/completions, /v1/embeddings, /v1/models, "
                "/v1/responses, /v1/messages and /v1/messages/count_tokens"
            )
        handler = methods.get(request.method)
        if handler is None:
            raise MethodNotAllowed(
                f"{request.method} is not allowed on {path}; use {', '.join(methods)}", allow=tuple(methods)
            )
        return handler(ctx, request)

    def _headers(self, ctx: RequestContext, response: Response) -> None:
        total, upstream = ctx.timings()
        response.headers["x-request-id"] = ctx.request_id
        response.headers["x-regiongate-region"] = self.runtime.code
        response.headers["x-regiongate-added-ms"] = f"{max(total - upstream, 0.0):.3f}"
        response.headers["x-regiongate-upstream-ms"] = f"{upstream:.3f}"
        response.headers.update(ctx.rate_headers)

    def _audited(self, ctx: RequestContext, stream: Iterator[bytes]) -> Iterator[bytes]:
        try:
            yield from stream
        except GeneratorExit:
            ctx.status, ctx.error_type = 499, "client_closed_request"
            raise
        finally:
            self._recorded(ctx)

    def _recorded(self, ctx: RequestContext, *, withhold: bool = False) -> bool:
        """``_finish``, then the audit room ``admit()`` reserved is given back (an event was emitted or not).
        False when the request's audit event could not be handed on. ``withhold``: the answer has not been sent
        yet and is replaced by a 503 ``audit_unavailable`` if so (a stream's has been sent already)."""
        try:
            return self._finish(ctx, withhold=withhold)
        finally:
            release = getattr(self.audit, "release", None)
            if release is not None:
                release()

    def _metric(self, ctx: RequestContext, status: int, error_type: str | None, total: float, upstream: float) -> None:
        self.metrics.request(  # CloudWatch metrics (EMF): counts, tokens, cost, timings; no content, no key
            model=ctx.model,
            provider=ctx.provider,
            status=status,
            error_type=error_type,
            input_tokens=ctx.input_tokens,
            output_tokens=ctx.output_tokens,
            cost_usd=ctx.cost,
            total_ms=total,
            upstream_ms=upstream,
            timestamp_ms=int(ctx.created_at.timestamp() * 1000),
        )

    def _finish(self, ctx: RequestContext, *, withhold: bool = False) -> bool:
        self.rate_limits.release(ctx)
        total, upstream = ctx.timings()
        key = ctx.key
        if key is None and ctx.error_type in UNAUTHENTICATED:
            self.budgets.settle(ctx)
            self._metric(ctx, ctx.status, ctx.error_type, total, upstream)
            self.auth_failures.record(ctx.source, ctx.key_prefix)  # counted, not one audit event each
            return True
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
                    credential_source=ctx.credential_source,
                )
            )
            emitted = True
        except Exception:
            log.error("audit emit failed", exc_info=True, extra={"fields": {"request_id": ctx.request_id}})
            emitted = False
        if emitted or not withhold:
            # After the event: the writer removes the reservation when it rolls the event up, and a settlement
            # that comes later finds none (its cost is counted once, in the rollups). A stream whose event was
            # lost has been answered all the same: it is settled, and its metric is what the client got.
            self.budgets.settle(ctx)
            self._metric(ctx, ctx.status, ctx.error_type, total, upstream)
        else:
            # Withheld: the client gets 503 audit_unavailable and no event will roll the cost up, so the
            # reservation is released (the org is charged nothing) and the metric counts the 503. Its tokens
            # and cost are still the provider's usage: what the deployment paid for.
            self.budgets.release(ctx)
            self._metric(ctx, 503, "audit_unavailable", total, upstream)
        return emitted

    # --- shared steps -------------------------------------------------------------------------------------
    def _authenticate(self, ctx: RequestContext, request: Request) -> KeyRecord:
        ctx.source, ctx.key_prefix = source_address(request.headers), key_prefix(request.headers)
        self.auth_failures.check(ctx.source)  # a source that keeps failing is refused before any lookup
        key = store_call(lambda: self.keys.authenticate(dict(request.headers)))
        ctx.key = key
        return key

    def _body(self, ctx: RequestContext, request: Request, key: KeyRecord) -> dict[str, Any]:
        limit = self.runtime.guardrails_for(key.org_id).max_request_bytes
        if len(request.body) > limit:
            raise RequestTooLarge(f"the request body is {len(request.body)} bytes; the limit is {limit}")
        return parse_json(request.body)

    def _resolve_model(self, ctx: RequestContext, name: str, kind: str) -> ModelEntry:
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
        return model

    def _price(
        self,
        ctx: RequestContext,
        model: ModelEntry,
        input_tokens: int,
        output_tokens: int,
        *,
        cache_read: int = 0,
        cache_write: int = 0,
    ) -> dict[str, Any]:
        """Audit and price the usage; ``input_tokens`` counts every input token, ``cache_read``/``cache_write``
        those of them read from / written to the prompt cache (priced at the model's cache prices)."""
        ctx.input_tokens, ctx.output_tokens = input_tokens, output_tokens
        ctx.cost = cost_usd(
            input_tokens,
            output_tokens,
            model.input_usd_per_mtok,
            model.output_usd_per_mtok,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
            cache_read_per_mtok=model.cache_read_price,
            cache_write_per_mtok=model.cache_write_price,
        )
        return responses.usage_body(input_tokens, output_tokens, cached_tokens=cache_read)

    def _price_usage(self, ctx: RequestContext, model: ModelEntry, usage: Delta) -> dict[str, Any]:
        return self._price(
            ctx,
            model,
            usage.input_tokens,
            usage.output_tokens,
            cache_read=usage.cache_read_tokens,
            cache_write=usage.cache_write_tokens,
        )

    # --- routes -------------------------------------------------------------------------------------------
    def _chat(self, ctx: RequestContext, request: Request) -> Response:
        ctx.endpoint = "chat"
        if len(request.body) > self.max_request_bytes:
            raise RequestTooLarge(
                f"the request body is {len(request.body)} bytes; the limit is {self.max_request_bytes}"
            )
        key = self._authenticate(ctx, request)
        body = validate_chat(self._body(ctx, request, key))
        ctx.stream = bool(body.get("stream"))
        model = self._resolve_model(ctx, body["model"], "chat")
        reasoning.prepare(body, model, self.runtime.models, self.runtime.providers)  # reasoning_effort
        texts = list(chat_texts(body))
        run_checks(self.checks, Call(ctx, key, model, texts, max_output_tokens(body)))
        provider = self.registry.for_context(ctx, model.provider)
        if ctx.stream:
            deltas = with_retries(
                lambda: provider.chat_stream(model, body, ctx.timer), self.retry, ctx.timer, self.sleep
            )
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return Response(
                200,
                {"content-type": "text/event-stream", "cache-control": "no-cache"},
                stream=self._stream(ctx, model, deltas, include_usage, texts),
            )  # providers time their own reads
        result: ChatResult = with_retries(
            lambda: provider.chat(model, body, ctx.timer), self.retry, ctx.timer, self.sleep
        )
        usage = self._price(
            ctx,
            model,
            result.input_tokens,
            result.output_tokens,
            cache_read=result.cache_read_tokens,
            cache_write=result.cache_write_tokens,
        )
        answer = responses.chat_completion(
            request_id=ctx.request_id,
            created=int(ctx.created_at.timestamp()),
            model=model.name,
            result=result,
            usage=usage,
        )
        return Response(200, {"content-type": "application/json"}, unicode_json(answer).encode("utf-8"))

    def _stream(
        self,
        ctx: RequestContext,
        model: ModelEntry,
        deltas: Iterator[Delta],
        include_usage: bool,
        prompt: list[tuple[str, str]],
    ) -> Iterator[bytes]:
        writer = responses.ChunkWriter(
            request_id=ctx.request_id, created=int(ctx.created_at.timestamp()), model=model.name
        )
        finish, usage = None, NO_USAGE
        reported = False
        streamed = 0  # content deltas relayed: what a closed stream is charged for (usage comes at the end)
        try:
            yield writer.chunk({"role": "assistant", "content": ""})
            for d in deltas:
                chunk = writer.delta(d)
                if chunk is not None:
                    streamed += 1
                    yield chunk
                elif d.kind == "finish":
                    finish = d.finish_reason
                elif d.kind == "usage":
                    usage, reported = d, True
        except GeneratorExit:  # the client went away: the upstream is closed below
            self._price_usage(ctx, model, abort_usage(usage if reported else None, prompt, streamed))
            raise
        except GatewayError as exc:
            ctx.fail(exc)
            self._price_usage(ctx, model, usage)
            yield responses.sse(exc.body())
            yield responses.SSE_DONE
            return
        finally:
            close = getattr(deltas, "close", None)
            if close is not None:
                close()  # closes the provider's response (and its connection) now, on this thread
        if not reported:
            # The upstream finished without the usage it was asked for: meter the estimate, never nothing.
            usage = abort_usage(None, prompt, streamed)
        usage_body = self._price_usage(ctx, model, usage)
        yield writer.chunk({}, finish or "stop")
        if include_usage:
            yield writer.usage(usage_body)
        yield responses.SSE_DONE

    def _embeddings(self, ctx: RequestContext, request: Request) -> Response:
        ctx.endpoint = "embeddings"
        if len(request.body) > self.max_request_bytes:
            raise RequestTooLarge(
                f"the request body is {len(request.body)} bytes; the limit is {self.max_request_bytes}"
            )
        key = self._authenticate(ctx, request)
        body = self._body(ctx, request, key)
        name, inputs, encoding = validate_embeddings(body)
        model = self._resolve_model(ctx, name, "embedding")
        texts = embedding_inputs.check_texts(inputs, self.runtime.guardrails_for(key.org_id))
        run_checks(self.checks, Call(ctx, key, model, texts))
        provider = self.registry.for_context(ctx, model.provider)
        dimensions = body.get("dimensions")
        result = with_retries(
            lambda: provider.embed(model, inputs, ctx.timer, dimensions=dimensions), self.retry, ctx.timer, self.sleep
        )
        usage = self._price(ctx, model, result.input_tokens, 0)
        answer = responses.embedding_list(
            model=model.name, vectors=result.vectors, encoding=encoding, prompt_tokens=usage["prompt_tokens"]
        )
        return Response(200, {"content-type": "application/json"}, json.dumps(answer).encode("utf-8"))

    def _claude_models(self) -> list[ModelEntry]:
        return translate_messages.claude_models(self.runtime.models, self.runtime.providers)

    def _visible_models(self, key: KeyRecord) -> list[ModelEntry]:
        policy = self.runtime.guardrails_for(key.org_id)
        return [
            m
            for m in self.runtime.models.values()
            if (policy.model_allowlist is None or m.name in policy.model_allowlist)
            and (key.model_allowlist is None or m.name in key.model_allowlist)
        ]

    def _models(self, ctx: RequestContext, request: Request) -> Response:
        ctx.endpoint = "models"
        key = self._authenticate(ctx, anthropic_models.with_x_api_key(request))
        if anthropic_models.wants_anthropic(request.headers):
            page = anthropic_models.listing(m for m in self._visible_models(key) if m in self._claude_models())
            return Response(200, {"content-type": "application/json"}, json.dumps(page).encode())
        cards = [responses.model_card(m, self.runtime.code) for m in self._visible_models(key)]
        body = {"object": "list", "data": cards}
        return Response(200, {"content-type": "application/json"}, json.dumps(body).encode())

    def _model(self, ctx: RequestContext, request: Request, name: str) -> Response:
        key = self._authenticate(ctx, anthropic_models.with_x_api_key(request))
        anthropic = anthropic_models.wants_anthropic(request.headers)
        for model in self._visible_models(key):
            if model.name == name and (not anthropic or model in self._claude_models()):
                card = (
                    anthropic_models.model_info(model) if anthropic else responses.model_card(model, self.runtime.code)
                )
                return Response(200, {"content-type": "application/json"}, json.dumps(card).encode())
        raise NotFound(
            f"model {name[:100]!r} is not served in region {self.runtime.display_name}", type="model_not_found"
        )
