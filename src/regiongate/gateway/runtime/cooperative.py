"""The served gateway's requests as greenlets on the event loop: the synchronous service, with no thread per request.

The service (handler → service → store) is synchronous, and the Lambda runs it as it is. The server
(``regiongate serve`` and the container) runs each request's call of that same code in a greenlet on the
event-loop thread (:func:`run`); where the code would wait, it hands an awaitable to the loop and is resumed
with the result (:func:`await_only`), so a request or an open stream holds no thread, and thousands of
streams are one thread switching between them. This is how SQLAlchemy's asyncio layer runs its synchronous
core (``greenlet_spawn`` / ``await_only``); only the transport differs, never the service.

What waits, and how:
- upstream HTTP (the OpenAI-compatible providers): on the loop itself (``providers.cooperative_http``), the
  connection's callback switching into the waiting greenlet as its bytes arrive (:class:`Wakeup`);
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
        # The future its run() task awaits while it is parked (Wakeup.wait); None when not parked.
        self.parked: asyncio.Future[Any] | None = None
        # True while it runs from a loop callback (Wakeup.wake), outside its run() task's step.
        self.outside_task = False
        self.before_wait: Callable[[], None] | None = None  # on_wait


def on_wait(hook: Callable[[], None] | None) -> Callable[[], None] | None:
    """From a request's greenlet: ``hook()`` is called each time the greenlet is about to wait (:meth:`Wakeup.wait`,
    and :func:`await_only` when it hands its awaitable over), None: no longer; returns the hook it replaces. The
    server writes what a stream has relayed there, so that a piece never waits behind the stream's next read."""
    current = getcurrent()
    if not isinstance(current, _RequestGreenlet):
        raise RuntimeError("on_wait() outside a request's greenlet")
    replaced, current.before_wait = current.before_wait, hook
    return replaced


def available() -> bool:
    """Whether greenlets can run here at all (the Lambda's layer has no greenlet)."""
    return getcurrent is not None


def active() -> bool:
    """True inside a request's greenlet (:func:`run`), where waits go to the event loop."""
    return getcurrent is not None and isinstance(getcurrent(), _RequestGreenlet)


def await_only(awaitable: Awaitable[T], *, taskless: bool = False) -> T:
    """From a request's greenlet: the loop awaits ``awaitable`` (serving others meanwhile); its result or error.

    A coroutine is first run here, up to its first wait, when the greenlet runs inside its :func:`run` task's step
    (so the coroutine runs in the task it would run in on the loop): one that finishes without waiting (the
    server's send of an answer) returns at once, without the two greenlet switches and the loop's step in between.
    A greenlet that a loop callback runs (:class:`Wakeup`) hands a coroutine to its task whole, unless the caller
    says it is ``taskless``: it never asks for the task it runs in (as ``asyncio.timeout`` does), so its first step
    may run outside any (uvicorn's ``send``: an answer's send after its upstream's bytes woke the greenlet)."""
    current = getcurrent()
    if not isinstance(current, _RequestGreenlet):
        raise RuntimeError("await_only() outside a request's greenlet")
    if type(awaitable) is types.CoroutineType and (taskless or not current.outside_task):
        try:
            first = awaitable.send(None)
        except StopIteration as finished:
            return finished.value  # type: ignore[no-any-return]
        if current.before_wait is not None:
            current.before_wait()
        return current.driver.switch(_Resumed(awaitable, first))  # type: ignore[no-any-return]
    if current.before_wait is not None:
        current.before_wait()
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

    While the greenlet is parked (:meth:`Wakeup.wait`) this awaits a future of its own, which a loop callback
    that ran the greenlet itself (:meth:`Wakeup.wake`) resolves with what the greenlet did next (:class:`_Next`).
    A cancellation of this coroutine is raised in the greenlet as :class:`Cancelled`, and raised again here
    once the greenlet has unwound."""
    import asyncio  # here, not at import: the Lambda imports this module and never runs a greenlet

    child = _RequestGreenlet(fn, getcurrent())
    result: Any = child.switch(*args)
    cancelled: BaseException | None = None
    while not child.dead:
        if result is _PARK:
            result = child.parked = asyncio.get_running_loop().create_future()
        try:
            value = await result
        except asyncio.CancelledError as exc:
            child.parked, child.outside_task = None, False
            cancelled = cancelled or exc
            try:
                result = child.throw(Cancelled())
            except Cancelled:
                break  # unwound: the greenlet is dead
        except BaseException:  # the awaitable failed: its error is raised where the greenlet waited
            child.parked, child.outside_task = None, False
            result = child.throw(*sys.exc_info())
        else:
            if type(value) is _Next:  # a loop callback ran the greenlet: what it came to
                if value.error is not None:
                    if cancelled is not None and isinstance(value.error, Cancelled):
                        break
                    raise value.error
                result = value.value
                if child.dead:
                    break
                child.outside_task = False  # the task awaits what the greenlet handed over, then resumes it
                continue
            child.parked, child.outside_task = None, False
            result = child.switch(value)
    if cancelled is not None:
        raise cancelled
    return result  # type: ignore[no-any-return]


_PARK = object()  # what a greenlet parking in Wakeup.wait hands to whoever ran it


class _Next:
    """What a greenlet that a loop callback ran came to, for its run() task: an awaitable it handed over
    (``value``), its end (``value``: its result, the greenlet dead) or the error it ended with."""

    __slots__ = ("error", "value")

    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        self.value = value
        self.error = error


class Wakeup:
    """One thing a request's greenlet waits for that a callback of the loop delivers (an upstream connection's
    data, its end, a timer): the callback switches into the greenlet itself (:meth:`wake`), which then runs
    until it waits again, instead of resolving a future for the greenlet's task to be stepped and switch into it
    on a later turn of the loop. A relayed chunk had that future, its callback, a loop handle and a task step
    between the upstream's bytes and the greenlet that relays them (issue 12).

    While the greenlet is parked its task awaits a future of its own (``run``): a cancellation reaches the
    greenlet as always; what the greenlet hands over when a callback ran it is awaited by that task, in the
    task (``await_only`` then runs no coroutine step outside it). A wake that cannot switch here (called off the
    loop's own greenlet, or the task's future is already done: a cancellation on its way) resumes the greenlet
    through the task, as a future would."""

    __slots__ = ("_greenlet",)

    def __init__(self) -> None:
        self._greenlet: _RequestGreenlet | None = None

    @property
    def waiting(self) -> bool:
        return self._greenlet is not None

    def wait(self) -> Any:
        """From a request's greenlet: until :meth:`wake` (its value) or :meth:`throw` (raised here)."""
        current = getcurrent()
        if not isinstance(current, _RequestGreenlet):
            raise RuntimeError("Wakeup.wait() outside a request's greenlet")
        if current.before_wait is not None:
            current.before_wait()
        self._greenlet = current
        try:
            return current.driver.switch(_PARK)
        finally:
            self._greenlet = None

    def throw(self, error: BaseException) -> None:
        """From a callback of the loop: ``error`` is raised where the greenlet (if any) waits."""
        self.wake(None, error)

    def wake(self, value: Any = None, error: BaseException | None = None) -> None:
        """From a callback of the loop: the waiting greenlet (if any) goes on, ``wait`` returning ``value`` (or
        raising ``error``)."""
        child = self._greenlet
        if child is None:
            return
        self._greenlet = None
        parked = child.parked
        if parked is None or parked.done():
            return  # its task resumes it (a cancellation, raised where it waits)
        if getcurrent() is not child.driver:
            child.parked = None
            if error is not None:
                parked.set_exception(error)
            else:
                parked.set_result(value)
            return
        child.outside_task = True
        try:
            came_to = child.throw(error) if error is not None else child.switch(value)
        except BaseException as ended:  # the greenlet ended with an error: its task raises it
            child.parked = None
            parked.set_result(_Next(error=ended))
            return
        if came_to is _PARK and not child.dead:
            return  # parked again: its task goes on awaiting the same future
        child.parked = None
        parked.set_result(_Next(came_to))


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
