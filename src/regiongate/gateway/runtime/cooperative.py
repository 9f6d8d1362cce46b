"""The served gateway's requests as greenlets on the event loop: the synchronous service, with no thread per request.

The service (handler → service → store) is synchronous, and the Lambda runs it as it is. The server
(``regiongate serve`` and the container) runs each request's call of that same code in a greenlet on the
event-loop thread (:func:`run`); where the code would wait, it hands an awaitable to the loop and is resumed
with the result (:func:`await_only`), so a request or an open stream holds no thread, and thousands of
streams are one thread switching between them. This is how SQLAlchemy's asyncio layer runs its synchronous
core (``greenlet_spawn`` / ``await_only``); only the transport differs, never the service.

What waits, and how:
- upstream HTTP (the OpenAI-compatible providers): on the loop itself (``providers.cooperative_http``);
- Bedrock: botocore as always, but its requests go out on the loop's connections (``cooperative_http.aws_send``,
  a ``before-send`` handler), so a Bedrock stream, too, holds no thread;
- everything else that blocks (PostgreSQL through pg8000, KMS, STS): :func:`blocking`, which runs the call on a
  small thread pool while the loop serves other requests. :class:`OffLoop` applies it to every public method of
  an object (the store);
- back-off between attempts: :func:`sleep`.
Outside a greenlet (the Lambda, the CLI, tests) each of these is the plain synchronous call.

A threading lock must never be held across one of these waits: the other greenlets run on the same thread
and would block the loop on it. The gateway's locks guard dictionary updates only (checked in review).
"""

from __future__ import annotations

import functools
import sys
import time
import types
from collections.abc import Awaitable, Callable, Collection, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

try:
    from greenlet import getcurrent, greenlet
except ImportError:  # the Lambda's layer has no greenlet, and nothing there runs in a request's greenlet
    getcurrent = None
    greenlet = object

if TYPE_CHECKING:
    import asyncio
    import concurrent.futures

T = TypeVar("T")

# Blocking calls of the served gateway (database, boto3) run here. Sized above the database pool (16 in the
# container) so a slow database does not also hold up boto3 calls.
BLOCKING_THREADS = 32
_blocking_pool: concurrent.futures.ThreadPoolExecutor | None = None


class Cancelled(GeneratorExit):
    """The server stopped this request while it waited (a shutdown past its limit).

    Raised in the greenlet where the request waited. A ``GeneratorExit`` so that the service's stream
    generators end as if closed: the stream is recorded as cut off (499) with what it relayed."""


class _RequestGreenlet(greenlet):  # type: ignore[misc]  # greenlet ships no type for subclassing
    def __init__(self, fn: Callable[..., Any], driver: greenlet) -> None:
        super().__init__(fn, driver)
        self.driver = driver


def available() -> bool:
    """Whether greenlets can run here at all (the Lambda's layer has no greenlet)."""
    return getcurrent is not None


def active() -> bool:
    """True inside a request's greenlet (:func:`run`), where waits go to the event loop."""
    return getcurrent is not None and isinstance(getcurrent(), _RequestGreenlet)


def await_only(awaitable: Awaitable[T]) -> T:
    """From a request's greenlet: the loop awaits ``awaitable`` (serving others meanwhile); its result or error.

    A coroutine is first run here, up to its first wait: one that finishes without waiting (the server's send of
    a chunk, nearly always) returns at once, without the two greenlet switches and the loop's step in between
    (each relayed chunk had one such round trip besides its wait for the upstream). It runs in the same task as
    it would in the loop: a request's greenlet only ever runs inside its :func:`run` task's step."""
    current = getcurrent()
    if not isinstance(current, _RequestGreenlet):
        raise RuntimeError("await_only() outside a request's greenlet")
    if type(awaitable) is types.CoroutineType:
        try:
            first = awaitable.send(None)
        except StopIteration as finished:
            return finished.value  # type: ignore[no-any-return]
        return current.driver.switch(_Resumed(awaitable, first))  # type: ignore[no-any-return]
    return current.driver.switch(awaitable)  # type: ignore[no-any-return]


class _Resumed:
    """The rest of a coroutine that :func:`await_only` started: awaited by the loop from where it stopped, the
    future it stopped on first; what the task sends or throws (a cancellation) goes on to the coroutine."""

    __slots__ = ("_coroutine", "_first")

    def __init__(self, coroutine: Any, first: Any) -> None:
        self._coroutine = coroutine
        self._first = first

    def __await__(self) -> Any:
        coroutine, pending = self._coroutine, self._first
        while True:
            try:
                sent = yield pending
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as exc:  # handed on to the coroutine, which may handle it
                try:
                    pending = coroutine.throw(exc)
                except StopIteration as finished:
                    return finished.value
            else:
                try:
                    pending = coroutine.send(sent)
                except StopIteration as finished:
                    return finished.value


async def run(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` in a new greenlet; every awaitable it hands over (:func:`await_only`) is awaited here.

    A cancellation of this coroutine is raised in the greenlet as :class:`Cancelled`, and raised again here
    once the greenlet has unwound."""
    import asyncio  # here, not at import: the Lambda imports this module and never runs a greenlet

    child = _RequestGreenlet(fn, getcurrent())
    result: Any = child.switch(*args)
    cancelled: BaseException | None = None
    while not child.dead:
        try:
            value = await result
        except asyncio.CancelledError as exc:
            cancelled = cancelled or exc
            try:
                result = child.throw(Cancelled())
            except Cancelled:
                break  # unwound: the greenlet is dead
        except BaseException:  # the awaitable failed: its error is raised where the greenlet waited
            result = child.throw(*sys.exc_info())
        else:
            result = child.switch(value)
    if cancelled is not None:
        raise cancelled
    return result  # type: ignore[no-any-return]


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    import concurrent.futures

    global _blocking_pool
    if _blocking_pool is None:  # on the loop's thread only (active()), so no two are made
        _blocking_pool = concurrent.futures.ThreadPoolExecutor(BLOCKING_THREADS, thread_name_prefix="blocking")
    return _blocking_pool


def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``; in a request's greenlet on the blocking-call threads, the loop serving others."""
    if not active():
        return fn(*args, **kwargs)
    import asyncio

    loop = asyncio.get_running_loop()
    return await_only(loop.run_in_executor(_pool(), functools.partial(fn, *args, **kwargs)))


def sleep(seconds: float) -> None:
    """Back-off between attempts: on the loop in a request's greenlet, else ``time.sleep``."""
    if active():
        import asyncio

        await_only(asyncio.sleep(seconds))
    else:
        time.sleep(seconds)


class OffLoop:
    """Every public method of ``target`` called through :func:`blocking` (attributes pass through).

    For the store: its PostgreSQL pool is guarded by a thread semaphore, which a greenlet must never wait on,
    so a whole store call (pool checkout included) runs on a blocking-call thread.

    ``shared``: read-only methods whose identical calls in flight at once are made once, every caller getting
    the one answer (or its error). When a cached key, budget or limit expires, every request of that moment misses
    the cache together: without this, each asked the database the same question (measured: a 123 ms stall of 64
    concurrent requests every key-cache lifetime, bench/bench_gateway.py)."""

    def __init__(self, target: Any, shared: Collection[str] = ()) -> None:
        self._target = target
        self._shared = frozenset(shared)
        self._in_flight: dict[Hashable, asyncio.Future[Any]] = {}  # touched on the loop's thread only

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if name.startswith("_") or not callable(value):
            return value
        if name in self._shared:

            @functools.wraps(value)
            def shared_call(*args: Any, **kwargs: Any) -> Any:
                return self._shared_call(name, value, args, kwargs)

            return shared_call

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            return blocking(value, *args, **kwargs)

        return call

    def _shared_call(self, name: str, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not active():
            return fn(*args, **kwargs)
        import asyncio

        loop = asyncio.get_running_loop()
        try:
            key: Hashable = (loop, name, args, tuple(sorted(kwargs.items())))
            pending = self._in_flight.get(key)
        except TypeError:  # unhashable arguments: not shared
            return blocking(fn, *args, **kwargs)
        if pending is not None:
            try:
                return await_only(asyncio.shield(pending))
            except asyncio.CancelledError:  # the first caller was stopped (this one's own stop comes as Cancelled)
                return blocking(fn, *args, **kwargs)
        future: asyncio.Future[Any] = loop.create_future()
        self._in_flight[key] = future
        try:
            result = blocking(fn, *args, **kwargs)
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: nobody else may be waiting for it
            raise
        except BaseException:
            future.cancel()
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._in_flight[key]
