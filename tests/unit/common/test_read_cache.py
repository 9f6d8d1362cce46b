"""common.read_cache.ReadCache (the budgets' and rate limits' cache): kept for the TTL, refreshed ahead of expiry by
one request while the others keep the value, a failed refresh served from the cache until the TTL, a miss that
fails raised, and the bound."""

from __future__ import annotations

import pytest

from regiongate.common.read_cache import REFRESH_AHEAD, ReadCache


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_value_is_kept_for_the_ttl_and_refreshed_once_ahead_of_expiry_while_others_keep_it() -> None:
    clock = Clock()
    cache: ReadCache[str, int] = ReadCache("test", 30, max_entries=10, monotonic=clock)
    loads: list[int] = []
    seen: list[tuple[int, int]] = []  # (value, reads so far) of a request made while the refresh reads

    def load() -> int:
        loads.append(len(loads))
        if len(loads) == 2:  # the refreshing request is reading: another request asks meanwhile
            seen.append((cache.get("org", load), len(loads)))  # the cached value, and no second read
        return len(loads)

    assert cache.get("org", load) == 1
    clock.t += 30 * (1 - REFRESH_AHEAD) - 0.1
    assert cache.get("org", load) == 1 and len(loads) == 1  # cached
    clock.t += 0.2  # in the last fifth: this request refreshes
    assert cache.get("org", load) == 2 and len(loads) == 2
    assert seen == [(1, 2)]
    clock.t += 1
    assert cache.get("org", load) == 2 and len(loads) == 2  # the refreshed entry lasts 30 s from its read


def test_a_failed_refresh_serves_the_cached_value_until_the_ttl_and_a_failed_miss_is_raised() -> None:
    clock = Clock()
    cache: ReadCache[str, str] = ReadCache("test", 30, max_entries=10, monotonic=clock)
    assert cache.get("org", lambda: "limited") == "limited"

    def down() -> str:
        raise ConnectionError("database unreachable")

    clock.t += 29
    assert cache.get("org", down) == "limited"  # within the TTL: the cached value
    assert cache.get("org", down) == "limited"  # the next request in the window tried again
    clock.t += 1.5  # expired: a miss, and its failure is the request's
    with pytest.raises(ConnectionError, match=r"^database unreachable$"):
        cache.get("org", down)


def test_the_cache_starts_again_empty_when_full() -> None:
    clock = Clock()
    cache: ReadCache[int, int] = ReadCache("test", 30, max_entries=3, monotonic=clock)
    loads: list[int] = []
    for name in range(4):
        cache.get(name, lambda n=name: loads.append(n) or n)
    cache.get(3, lambda: loads.append(99) or 99)
    assert loads == [0, 1, 2, 3]  # 3 was kept (after the clear)
    cache.get(0, lambda: loads.append(100) or 0)
    assert loads[-1] == 100  # 0 went with the clear
