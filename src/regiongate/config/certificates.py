"""Which names a deployment's certificates cover, so the console never serves a certificate for another name.

``certificate_names`` lists the DNS names of the certificate ``certificate_arn`` points at (default: the API
domain alone). When the console is served on a name that certificate does not cover, ``console_certificate_arn``
is required: an ALB presenting the API certificate on ``cn.<root>`` fails every browser's name check.
ACM is not called at synth time (synthesis is offline); the names are the operator's statement, checked for
consistency here and printed by `regiongate tenant plan`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from regiongate.config.reader import Reader, Rule, Text, TextList, key_path

CERTIFICATE_NAME_RE = re.compile(r"^(?:\*\.)?(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")
CERTIFICATE_NAMES = TextList(Text(CERTIFICATE_NAME_RE, "a DNS name or *.domain wildcard on the certificate"))
RULES: Mapping[str, Rule | None] = {"certificate_names": CERTIFICATE_NAMES}


def covers(names: tuple[str, ...], domain: str) -> bool:
    """ACM semantics: an exact name, or ``*.example.com`` for exactly one more label."""
    for name in names:
        if name == domain:
            return True
        if name.startswith("*.") and domain.endswith(name[1:]) and "." not in domain[: -len(name) + 1]:
            return True
    return False


def parse_certificate_names(
    reader: Reader,
    raw: Mapping[str, Any],
    key: str,
    *,
    api_domain: str,
    console_domain: str | None,
    console: bool,
    own_console_certificate: bool,
) -> tuple[str, ...]:
    """The names of ``certificate_arn``; refuses a console on an uncovered name without a certificate of its own."""
    names_key = key_path(key, "certificate_names")
    if raw.get("certificate_names") is None:
        names: tuple[str, ...] = (api_domain,)
    else:
        names = CERTIFICATE_NAMES.parse(reader, raw["certificate_names"], names_key)
        for i, name in enumerate(names):
            if not CERTIFICATE_NAME_RE.match(name):
                raise reader.fail(f"{names_key}[{i}]", f"{name!r} is not a DNS name or *.domain wildcard")
        if not covers(names, api_domain):
            raise reader.fail(
                names_key,
                f"none of {', '.join(names)} covers api_domain {api_domain}; certificate_arn must be a certificate "
                "for the API domain",
            )
    if console and console_domain and not own_console_certificate and not covers(names, console_domain):
        raise reader.fail(
            key_path(key, "console_certificate_arn"),
            f"is required: the console is served on {console_domain}, which certificate_arn does not cover "
            f"(certificate_names: {', '.join(names)}). Request an ACM certificate for {console_domain} in the stack's "
            "region and account and set console_certificate_arn to its ARN, or, if certificate_arn names it too, "
            f"add {console_domain} to certificate_names",
        )
    return names
