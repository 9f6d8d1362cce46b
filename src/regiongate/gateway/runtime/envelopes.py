"""Which error envelope a path answers in, for every transport (the service, the ASGI server, the Lambda
handler): Anthropic's (``{"type": "error", "error": {"type", "message"}}``) on ``/v1/messages`` and below it,
OpenAI's everywhere else. Refusals a transport makes before the service sees the request (413 by announced
length, 408 body timeouts, 503 when the worker pool is full) use the same choice, so an Anthropic client never
gets an OpenAI-shaped body.
"""

from __future__ import annotations

from collections.abc import Mapping

from regiongate.contract.errors import error_response
from regiongate.gateway.runtime import translate_messages

MESSAGES_PREFIX = "/v1/messages"


def speaks_anthropic(path: str, headers: Mapping[str, str] | None = None) -> bool:
    """``/v1/messages``, ``/v1/messages/count_tokens`` and any other path below ``/v1/messages/``; and the model
    listing when the request carries ``anthropic-version`` (an Anthropic client: ``routes.anthropic_models``)."""
    bare = path.split("?", 1)[0]
    if bare == MESSAGES_PREFIX or bare.startswith(MESSAGES_PREFIX + "/"):
        return True
    models = bare == "/v1/models" or bare.startswith("/v1/models/")
    return models and headers is not None and "anthropic-version" in headers


def error_response_for(
    path: str, exc: BaseException, headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of ``exc`` in the envelope of the API the request (``path``, and the request's
    ``headers`` where known) belongs to."""
    if speaks_anthropic(path, headers):
        return translate_messages.error_response(exc)
    return error_response(exc)
