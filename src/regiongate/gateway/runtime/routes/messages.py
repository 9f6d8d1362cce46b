"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens``: Anthropic's Messages API, served by the
region's Claude models on Bedrock through InvokeModel / InvokeModelWithResponseStream with Anthropic's
native body (``translate_messages``). The same key, region, allowlist, guardrail, budget, audit and
pricing steps as chat completions; refusals in Anthropic's error envelope (``envelopes``, every transport).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from regiongate.contract.document import ModelEntry
from regiongate.contract.errors import (
    GatewayError,
    InvalidApiKey,
    InvalidRequest,
    NotFound,
    RequestTooLarge,
    UpstreamError,
)
from regiongate.gateway.runtime import translate_messages as tm
from regiongate.gateway.runtime.checks import Call, run_checks
from regiongate.gateway.runtime.context import RequestContext
from regiongate.gateway.runtime.providers.bedrock import BedrockProvider
from regiongate.gateway.runtime.providers.retries import with_retries
from regiongate.gateway.runtime.routes import Handler, Host, anthropic_models
from regiongate.gateway.runtime.transport import Request, Response

MESSAGES = "/v1/messages"
COUNT_TOKENS = "/v1/messages/count_tokens"
_HEADER_SAFE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def routes(host: Host) -> dict[str, dict[str, Handler]]:
    return {
        MESSAGES: {"POST": lambda ctx, request: create(host, ctx, request)},
        COUNT_TOKENS: {"POST": lambda ctx, request: count_tokens(host, ctx, request)},
    }


def _key_request(request: Request) -> Request:
    """Anthropic clients send ``x-api-key``; the key store reads ``Authorization: Bearer`` or ``api-key``."""
    headers = request.headers
    if not headers.get("authorization") and not headers.get("api-key") and not headers.get("x-api-key"):
        raise InvalidApiKey("no API key: send x-api-key: <key> or Authorization: Bearer <key>")
    return anthropic_models.with_x_api_key(request)


def _start(host: Host, ctx: RequestContext, request: Request, endpoint: str) -> tuple[Any, dict[str, Any]]:
    ctx.endpoint = endpoint
    if len(request.body) > host.max_request_bytes:
        raise RequestTooLarge(f"the request body is {len(request.body)} bytes; the limit is {host.max_request_bytes}")
    key = host._authenticate(ctx, _key_request(request))
    tm.check_version(request.headers)
    return key, host._body(ctx, request, key)


def _model(host: Host, ctx: RequestContext, name: str) -> tuple[ModelEntry, BedrockProvider]:
    runtime = host.runtime
    model = tm.find_model(name, runtime.models, runtime.providers)
    served = tm.claude_models(runtime.models, runtime.providers)
    names = ", ".join(f"{m.name} ({tm.anthropic_id(m.target)})" for m in served) or "none"
    if model is None:
        raise NotFound(
            f"model {name[:100]!r} has no in-region mapping in region {runtime.display_name}; "
            f"Claude models served here (catalogue name and Anthropic id): {names}",
            type="model_not_found",
        )
    ctx.model, ctx.provider = model.name, model.provider
    provider = host.registry.for_context(ctx, model.provider)
    if model not in served or not isinstance(provider, BedrockProvider):
        raise InvalidRequest(
            f"model {model.name} is not a Claude model on Bedrock; /v1/messages serves {names} "
            "(use /v1/chat/completions for the others)"
        )
    return model, provider


def _headers(dropped: list[str], stream: bool) -> dict[str, str]:
    headers = {"content-type": "text/event-stream" if stream else "application/json"}
    if stream:
        headers["cache-control"] = "no-cache"
    if dropped:
        headers["x-regiongate-dropped-betas"] = ",".join(b if _HEADER_SAFE.match(b) else "(unnamed)" for b in dropped)
    return headers


def create(host: Host, ctx: RequestContext, request: Request) -> Response:
    key, raw = _start(host, ctx, request, "messages")
    body = tm.validate(raw)
    ctx.stream = bool(body.get("stream"))
    model, provider = _model(host, ctx, body["model"])
    betas, dropped = tm.split_betas(request.headers)
    run_checks(host.checks, Call(ctx, key, model, list(tm.texts(body)), max_output_tokens=body["max_tokens"]))
    native = tm.to_bedrock(body, betas)
    if ctx.stream:
        chunks = with_retries(
            lambda: provider.invoke_json_stream(model.target, native, ctx.timer), host.retry, ctx.timer, host.sleep
        )
        state = tm.StreamState(request_id=ctx.request_id, model=body["model"])
        return Response(200, _headers(dropped, True), stream=_stream(host, ctx, model, chunks, state))
    answer = with_retries(
        lambda: provider.invoke_json(model.target, native, ctx.timer), host.retry, ctx.timer, host.sleep
    )
    message, usage = tm.message(answer, request_id=ctx.request_id, model=body["model"])
    _price(host, ctx, model, usage)
    return Response(200, _headers(dropped, False), json.dumps(message, ensure_ascii=False).encode("utf-8"))


def _stream(
    host: Host, ctx: RequestContext, model: ModelEntry, chunks: Iterator[Any], state: tm.StreamState
) -> Iterator[bytes]:
    """Bedrock's chunks as Anthropic SSE events, one by one; usage is priced however the stream ends
    (a client that disconnects is billed what the upstream reported until then)."""
    try:
        for data in chunks:
            first = not state.started
            yield state.event(data)
            if first and state.started:
                yield tm.PING
        if not state.stopped:
            raise UpstreamError("Bedrock's stream ended before message_stop")
    except GatewayError as exc:
        ctx.fail(exc)
        yield tm.error_event(exc)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        _price(host, ctx, model, state.usage)


def _price(host: Host, ctx: RequestContext, model: ModelEntry, usage: tm.Usage) -> None:
    """Every input token the model read is audited; cache writes and reads at the model's cache prices."""
    host._price(
        ctx,
        model,
        usage.billed_input,
        usage.output_tokens,
        cache_read=usage.cache_read_input_tokens,
        cache_write=usage.cache_creation_input_tokens,
    )


def count_tokens(host: Host, ctx: RequestContext, request: Request) -> Response:
    key, raw = _start(host, ctx, request, "count_tokens")
    body = tm.count_tokens_request(raw)
    model, provider = _model(host, ctx, body["model"])
    betas, dropped = tm.split_betas(request.headers)
    run_checks(host.checks, Call(ctx, key, model, list(tm.texts(body))))
    thinking = body.get("thinking") or {}
    budget = thinking.get("budget_tokens") if thinking.get("type") == "enabled" else None
    # The counted body is an InvokeModel body, which needs max_tokens (above any thinking budget).
    native = tm.to_bedrock({**body, "max_tokens": budget + 1 if isinstance(budget, int) else 1}, betas)
    target = tm.foundation_model_id(model.target)
    tokens = with_retries(lambda: provider.count_tokens(target, native, ctx.timer), host.retry, ctx.timer, host.sleep)
    # Counting is free: the audit row carries no tokens and no cost.
    return Response(200, _headers(dropped, False), json.dumps({"input_tokens": tokens}).encode())
