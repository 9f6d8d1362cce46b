"""The audit event: one per request, metadata only, the format the gateway sends and the writer and store read.

The event has a fixed set of fields (``FIELDS``); ``parse_event`` refuses anything else, so no code path
can smuggle content into the audit trail by adding a field.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

FIELDS = (
    "request_id",
    "created_at",
    "region",
    "endpoint",
    "key_id",
    "org_id",
    "team_id",
    "user_id",
    "model",
    "provider",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "total_ms",
    "upstream_ms",
    "status",
    "error_type",
    "stream",
    "guardrail",
    "violations",
    "credential_source",
)
GUARDRAIL_OUTCOMES = ("pass", "flag", "block")
# Whose provider credentials served the request (never the credential): the platform's or the org's own (#16).
CREDENTIAL_SOURCES = ("platform", "org")
_SHORT_TEXT = 200


_FIELD_SET = frozenset(FIELDS)


class InvalidEvent(ValueError):
    pass


class ParsedEvent(dict):  # type: ignore[type-arg]  # dict[str, Any]; a subclass for the marker only
    """An event ``parse_event`` has validated: the stores take it as it is (:func:`parsed_event`), so the writer, which
    validates each message before writing its batch, does not validate it a second time."""


def parsed_event(event: Mapping[str, Any]) -> ParsedEvent:
    """``event`` validated: as it is when it is already a :class:`ParsedEvent`, else through ``parse_event``."""
    return event if type(event) is ParsedEvent else parse_event(event)


def _text(value: Any, name: str, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > _SHORT_TEXT:
        raise InvalidEvent(f"{name} must be a string of at most {_SHORT_TEXT} characters")
    return value


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise InvalidEvent(f"{name} must be a non-negative integer")
    return value


def parse_event(raw: Mapping[str, Any]) -> ParsedEvent:
    """Validate one event (as sent on the queue) into typed values."""
    if not isinstance(raw, Mapping):
        raise InvalidEvent("an audit event is a JSON object")
    unknown = raw.keys() - _FIELD_SET
    if unknown:
        raise InvalidEvent(f"unknown field(s): {', '.join(sorted(unknown))}")
    try:
        request_id = str(uuid.UUID(str(raw["request_id"])))
        created_at = datetime.fromisoformat(str(raw["created_at"]))
        cost = Decimal(str(raw.get("cost_usd", "0")))
    except (KeyError, ValueError, InvalidOperation) as exc:
        raise InvalidEvent(f"bad request_id, created_at or cost_usd ({type(exc).__name__})") from None
    if created_at.tzinfo is None:
        raise InvalidEvent("created_at must carry a time zone")
    if not cost.is_finite() or cost < 0:
        raise InvalidEvent("cost_usd must be a non-negative decimal")
    guardrail = raw.get("guardrail", "pass")
    if guardrail not in GUARDRAIL_OUTCOMES:
        raise InvalidEvent("guardrail must be pass, flag or block")
    violations = []
    for v in raw.get("violations") or ():
        if not isinstance(v, Mapping) or set(v) - {"detector", "action", "message"}:
            raise InvalidEvent("a violation has detector, action and message only")
        violations.append(
            {
                "detector": _text(v.get("detector"), "detector", False),
                "action": _text(v.get("action"), "action", False),
                "message": _text(v.get("message"), "message", False),
            }
        )
    status = _int(raw.get("status"), "status")
    if not 100 <= status <= 599:
        raise InvalidEvent("status must be an HTTP status")
    credential_source = raw.get("credential_source")
    if credential_source is not None and credential_source not in CREDENTIAL_SOURCES:
        raise InvalidEvent("credential_source must be platform, org or absent")
    stream = raw.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidEvent("stream must be a boolean")
    ms = {}
    for name in ("total_ms", "upstream_ms"):
        value = raw.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            raise InvalidEvent(f"{name} must be a non-negative number")
        ms[name] = value
    return ParsedEvent(
        {
            "request_id": request_id,
            "created_at": created_at.astimezone(UTC),
            "region": _text(raw.get("region"), "region", False),
            "endpoint": _text(raw.get("endpoint", "chat"), "endpoint", False),
            "key_id": _text(raw.get("key_id"), "key_id"),
            "org_id": _text(raw.get("org_id"), "org_id"),
            "team_id": _text(raw.get("team_id"), "team_id"),
            "user_id": _text(raw.get("user_id"), "user_id"),
            "model": _text(raw.get("model"), "model"),
            "provider": _text(raw.get("provider"), "provider"),
            "input_tokens": _int(raw.get("input_tokens", 0), "input_tokens"),
            "output_tokens": _int(raw.get("output_tokens", 0), "output_tokens"),
            "cost_usd": cost,
            "total_ms": ms["total_ms"],
            "upstream_ms": ms["upstream_ms"],
            "status": status,
            "error_type": _text(raw.get("error_type"), "error_type"),
            "stream": stream,
            "guardrail": guardrail,
            "violations": violations,
            "credential_source": credential_source,
        }
    )


def new_event(**values: Any) -> dict[str, Any]:
    event = {
        "violations": [],
        "guardrail": "pass",
        "stream": False,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": "0",
    }
    event.update(values)
    if "created_at" not in event:  # the caller's clock decides the moment (and so the partition and rollup day)
        raise InvalidEvent("created_at is required")
    unknown = event.keys() - _FIELD_SET
    if unknown:
        raise InvalidEvent(f"unknown field(s): {', '.join(sorted(unknown))}")
    return event


# Built once: json.dumps with these arguments builds an encoder per call (about 1.5 µs of each event's encoding).
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


def encode(event: Mapping[str, Any]) -> str:
    return _ENCODER.encode(event)
