"""``alarms`` of a regions.yaml entry or a tenant file: who is told when one of the stack's alarms fires.

    alarms:
      email: [oncall-eu@example.com]

The addresses are subscribed (by e-mail, each confirms once) to the stack's own SNS topic, encrypted with the
stack's key. Notifications carry the alarm's name, state, threshold and metric dimensions (region, model and
provider names): never request content, keys or audit rows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from regiongate.config.reader import JsonSchema, Reader, key_path

KEY = "alarms"
EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
MAX_EMAILS = 20


@dataclass(frozen=True)
class Alarms:
    email: tuple[str, ...] = ()


def parse_alarms(reader: Reader, raw: Mapping[str, Any], key: str) -> Alarms:
    value = raw.get(KEY)
    if value is None:
        return Alarms()
    where = key_path(key, KEY)
    section = reader.mapping(value, where, ("email",))
    if section.get("email") is None:
        return Alarms()
    emails = reader.string_list(section["email"], key_path(where, "email"))
    for index, email in enumerate(emails):
        if not EMAIL_RE.match(email):
            raise reader.fail(f"{key_path(where, 'email')}[{index}]", f"{email!r} is not an e-mail address")
    if len(set(emails)) != len(emails):
        raise reader.fail(key_path(where, "email"), "lists an address twice")
    if len(emails) > MAX_EMAILS:
        raise reader.fail(key_path(where, "email"), f"at most {MAX_EMAILS} addresses")
    return Alarms(email=emails)


def schema() -> JsonSchema:
    return {
        "type": "object",
        "additionalProperties": False,
        "description": "Who is told when the stack's alarms fire (its own SNS topic, encrypted with the stack's key).",
        "properties": {
            "email": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_EMAILS,
                "uniqueItems": True,
                "items": {"type": "string", "pattern": EMAIL_RE.pattern, "description": "an e-mail address"},
                "description": "Addresses subscribed by e-mail (each confirms once).",
            }
        },
    }
