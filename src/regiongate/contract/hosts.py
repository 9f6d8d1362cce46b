"""Host allowlist matching, shared by every layer that checks an upstream host against a region's
``allowed_hosts`` (the runtime document carries the list): the configuration at synth time, and the
organisations' own provider endpoints when they are added (regiongate.store.provider_credentials)."""

from __future__ import annotations

from collections.abc import Iterable


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    """``*.example.com`` matches subdomains only; other patterns match the host exactly (case-insensitive)."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and host != pattern[2:]:
                return True
        elif host == pattern:
            return True
    return False
