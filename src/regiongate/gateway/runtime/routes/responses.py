"""``POST /v1/responses``: OpenAI's Responses API, served by the region's chat models (any provider) through
the chat path (``translate_responses``), with the same checks, pricing and audit. Stateless: nothing is
stored, so ``/v1/responses/{id}`` (retrieve, delete, cancel, input items) is a 404 that says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from regiongate.contract.document import ModelEntry
from regiongate.contract.errors import GatewayError, InvalidRequest, NotFound, RequestTooLarge
from regiongate.gateway.runtime import reasoning
from regiongate.gateway.runtime import translate_responses as tr
from regiongate.gateway.runtime.checks import Call, max_output_tokens, run_checks
from regiongate.gateway.runtime.context import RequestContext
from regiongate.gateway.runtime.guardrails import chat_texts
from regiongate.gateway.runtime.providers.retries import with_retries
from regiongate.gateway.runtime.requests import validate_chat
from regiongate.gateway.runtime.routes import Handler, Host
from regiongate.gateway.runtime.translate import NO_USAGE, Delta, abort_usage
from regiongate.gateway.runtime.transport import Request, Response

RESPONSES = "/v1/responses"
PREFIX = "/v1/responses/"


def routes(host: Host) -> dict[str, dict[str, Handler]]:
    return {RESPONSES: {"POST": lambda ctx, request: create(host, ctx, request)}}


def _model(host: Host, ctx: RequestContext, name: str) -> ModelEntry:
    model = host.runtime.models.get(name)
    if model is None:
        raise NotFound(
            f"model {name[:100]!r} is not served in region {host.runtime.display_name}; see GET /v1/models",
            type="model_not_found",
        )
    ctx.model, ctx.provider = model.name, model.provider
    if model.kind != "chat":
        raise InvalidRequest(f"model {model.name} is an {model.kind} model; /v1/responses serves chat models")
    return model


def create(host: Host, ctx: RequestContext, request: Request) -> Response:
    ctx.endpoint = "responses"
    if len(request.body) > host.max_request_bytes:
        raise RequestTooLarge(f"the request body is {len(request.body)} bytes; the limit is {host.max_request_bytes}")
    key = host._authenticate(ctx, request)
    body = host._body(ctx, request, key)
    chat = validate_chat(tr.to_chat(body))
    ctx.stream = bool(chat.get("stream"))
    model = _model(host, ctx, chat["model"])
    reasoning.prepare(
        chat, model, host.runtime.models, host.runtime.providers, param="reasoning.effort", names=tr.CHAT_NAMES
    )
    texts = list(chat_texts(chat))
    run_checks(host.checks, Call(ctx, key, model, texts, max_output_tokens=max_output_tokens(chat)))
    provider = host.registry.for_context(ctx, model.provider)
    shape = tr.ResponseShape(
        request_id=ctx.request_id, created=int(ctx.created_at.timestamp()), model=model.name, body=body
    )
    if ctx.stream:
        deltas = with_retries(lambda: provider.chat_stream(model, chat, ctx.timer), host.retry, ctx.timer, host.sleep)
        return Response(
            200,
            {"content-type": "text/event-stream", "cache-control": "no-cache"},
            stream=_stream(host, ctx, model, deltas, tr.EventWriter(shape), texts),
        )
    result = with_retries(lambda: provider.chat(model, chat, ctx.timer), host.retry, ctx.timer, host.sleep)
    reported = Delta(
        "usage",
        input_tokens=result.input_tokens,
        output_tokens=result.output_tokens,
        cache_read_tokens=result.cache_read_tokens,
        cache_write_tokens=result.cache_write_tokens,
    )
    host._price_usage(ctx, model, reported)
    answer = shape.from_result(result, _usage_body(reported))
    return Response(200, {"content-type": "application/json"}, json.dumps(answer, ensure_ascii=False).encode("utf-8"))


def _usage_body(usage: Delta) -> dict[str, Any]:
    return tr.usage(usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens)


def _stream(
    host: Host,
    ctx: RequestContext,
    model: ModelEntry,
    deltas: Iterator[Delta],
    writer: tr.EventWriter,
    prompt: list[tuple[str, str]],
) -> Iterator[bytes]:
    """Responses events as the provider's deltas arrive; usage is priced however the stream ends (a client that
    closes it is metered as chat completions are: ``translate.abort_usage``)."""
    usage, reported, streamed = NO_USAGE, False, 0
    try:
        yield from writer.start()
        for d in deltas:
            if d.kind == "usage":
                usage, reported = d, True
            else:
                streamed += d.kind in ("text", "refusal", "tool_args", "reasoning")
                yield from writer.delta(d)
        yield from writer.done(_usage_body(usage))
    except GeneratorExit:
        usage = abort_usage(usage if reported else None, prompt, streamed)
        raise
    except GatewayError as exc:
        ctx.fail(exc)
        yield from writer.failed(exc, _usage_body(usage))
    finally:
        close = getattr(deltas, "close", None)
        if close is not None:
            close()
        host._price_usage(ctx, model, usage)


def stored(host: Host, ctx: RequestContext, request: Request) -> Response:
    """Retrieve, delete, cancel or list the input of a stored response: there are none to find."""
    ctx.endpoint = "responses"
    host._authenticate(ctx, request)
    raise NotFound(f"no stored response: {tr.STATELESS}", type="response_not_found")
