"""The greenlet bridge of the served gateway (``regiongate.gateway.runtime.cooperative``), without sockets.

A request's synchronous code runs in a greenlet on the loop; what it hands over (``await_only``) is awaited
by the loop, which meanwhile runs other requests; blocking calls run on other threads; a cancellation is
raised where the greenlet waited, as a ``GeneratorExit`` so generators end as if closed. Outside a greenlet
every helper is the plain call. Assertions are on order, values and threads, never on durations."""

from __future__ import annotations

import asyncio
import threading

import pytest

from regiongate.gateway.runtime import cooperative


def run(coro):
    return asyncio.run(coro)


def test_outside_a_greenlet_everything_is_the_plain_call():
    assert not cooperative.active()
    assert cooperative.blocking(lambda a, b=0: a + b, 1, b=2) == 3
    assert cooperative.blocking(threading.current_thread) is threading.current_thread()
    with pytest.raises(RuntimeError, match="outside a request's greenlet"):
        cooperative.await_only(None)  # type: ignore[arg-type]


def test_a_greenlet_gets_what_it_awaits_and_its_result_comes_back():
    async def double(x):
        await asyncio.sleep(0)
        return 2 * x

    def work(x):
        assert cooperative.active()
        return cooperative.await_only(double(x)) + 1

    assert run(cooperative.run(work, 20)) == 41


@pytest.mark.parametrize("waits_first", [False, True], ids=["at its first step", "after a wait"])
def test_an_error_of_the_awaitable_is_raised_where_the_greenlet_waited(waits_first):
    async def fail():
        if waits_first:  # the error then comes from the loop's side, after await_only ran the first step
            await asyncio.sleep(0)
        raise KeyError("upstream")

    def work():
        try:
            cooperative.await_only(fail())
        except KeyError as exc:
            return f"caught {exc}"
        return "not raised"

    assert run(cooperative.run(work)) == "caught 'upstream'"


def test_an_error_of_the_greenlet_reaches_the_coroutine():
    def work():
        raise ValueError("from the service")

    with pytest.raises(ValueError, match="from the service"):
        run(cooperative.run(work))


def test_greenlets_interleave_on_one_thread_while_each_waits():
    order: list[str] = []

    def request(name, first_wait):
        order.append(f"{name} start")
        cooperative.sleep(first_wait)
        order.append(f"{name} end")
        return threading.get_ident()

    async def both():
        # b sleeps less than a: it ends first although it started second, which only interleaving allows
        return await asyncio.gather(cooperative.run(request, "a", 0.05), cooperative.run(request, "b", 0.0))

    idents = run(both())
    assert order == ["a start", "b start", "b end", "a end"]
    assert idents[0] == idents[1] == threading.get_ident()  # both on the loop's thread


def test_a_blocking_call_runs_on_another_thread_and_the_loop_serves_others_meanwhile():
    release = threading.Event()
    seen: list[str] = []

    def slow():  # blocks its thread until the other request has run
        assert release.wait(10), "the loop was blocked by the blocking call"
        return threading.get_ident()

    def blocked():
        return cooperative.blocking(slow)

    def other():
        seen.append("other ran")
        release.set()

    async def main():
        first = asyncio.ensure_future(cooperative.run(blocked))
        await asyncio.sleep(0)
        await cooperative.run(other)
        return await first

    ident = run(main())
    assert seen == ["other ran"]
    assert ident != threading.get_ident()


def cancel_once_waiting(work):
    """Runs ``work`` in a request's greenlet, cancels its task once it waits, and checks the cancellation comes out
    again as it went in."""

    async def main():
        task = asyncio.ensure_future(cooperative.run(work))
        await asyncio.sleep(0)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError, match=r"^$"):  # a bare cancellation: no message
        run(main())


def test_a_cancelled_request_ends_its_generators_as_closed_and_the_cancellation_is_raised_again():
    ended: list[str] = []

    def stream():
        try:
            while True:
                cooperative.await_only(asyncio.sleep(3600))  # an upstream that never answers
                yield b"chunk"
        except GeneratorExit:
            ended.append("closed")
            raise

    def work():
        for _ in stream():
            pass

    cancel_once_waiting(work)
    assert ended == ["closed"]


def test_offloop_calls_public_methods_off_the_loop_and_passes_attributes_through():
    class Store:
        pool = "the pool"

        def find(self, key):
            return key, threading.get_ident()

        def _private(self):
            return threading.get_ident()

    store = cooperative.OffLoop(Store())
    assert store.pool == "the pool"
    assert store.find("k")[0] == "k"  # outside a greenlet: inline

    def work():
        return store.find("k"), store._private()

    (key, method_thread), private_thread = run(cooperative.run(work))
    assert key == "k"
    assert method_thread != threading.get_ident()
    assert private_thread == threading.get_ident()  # private helpers are not offloaded


class CountingStore:
    def __init__(self, release: threading.Event | None = None, error: Exception | None = None) -> None:
        self.calls: list[tuple[str, tuple]] = []
        self.release = release
        self.error = error

    def find_key(self, digest):
        self.calls.append(("find_key", (digest,)))
        if self.release is not None:
            assert self.release.wait(10)
        if self.error is not None:
            raise self.error
        return f"record of {digest}"

    def reserve(self, amount):
        self.calls.append(("reserve", (amount,)))
        if self.release is not None:
            assert self.release.wait(10)
        return amount


def concurrently(store, calls):
    """Start every call in its own request greenlet, let them all reach the store, then release it."""

    async def main():
        tasks = [asyncio.ensure_future(cooperative.run(call)) for call in calls]
        for _ in range(5):
            await asyncio.sleep(0)
        store.release.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    return run(main())


def test_identical_shared_reads_in_flight_at_once_are_made_once():
    store = CountingStore(threading.Event())
    shared = cooperative.OffLoop(store, shared=("find_key",))
    results = concurrently(store, [lambda: shared.find_key(b"k")] * 5 + [lambda: shared.find_key(b"other")])
    assert results == ["record of b'k'"] * 5 + ["record of b'other'"]
    assert sorted(store.calls) == [("find_key", (b"k",)), ("find_key", (b"other",))]


def test_a_shared_read_that_fails_fails_every_caller_waiting_for_it():
    store = CountingStore(threading.Event(), error=ConnectionError("database unreachable"))
    shared = cooperative.OffLoop(store, shared=("find_key",))
    results = concurrently(store, [lambda: shared.find_key(b"k")] * 3)
    assert [type(r) for r in results] == [ConnectionError] * 3
    assert len(store.calls) == 1


def test_methods_not_named_shared_are_never_coalesced():
    store = CountingStore(threading.Event())
    shared = cooperative.OffLoop(store, shared=("find_key",))
    results = concurrently(store, [lambda: shared.reserve(1)] * 3)
    assert results == [1, 1, 1] and len(store.calls) == 3  # writes: each one is made


def _switches_during(fn):
    """fn() run with a greenlet trace: the number of greenlet switches it made."""
    import greenlet

    switches: list[str] = []
    previous = greenlet.settrace(lambda event, args: switches.append(event))
    try:
        fn()
    finally:
        greenlet.settrace(previous)
    return len(switches)


def test_a_coroutine_that_does_not_wait_is_run_in_the_greenlet_without_a_switch_to_the_loop():
    seen: dict[str, object] = {}

    async def send(piece):  # a server's send of one chunk: written at once, nothing to wait for
        seen["task"] = asyncio.current_task()
        return len(piece)

    def work():
        seen["switches"] = _switches_during(lambda: seen.setdefault("result", cooperative.await_only(send(b"abc"))))

    async def main():
        task = asyncio.ensure_future(cooperative.run(work))
        await task
        return task

    task = run(main())
    assert seen["result"] == 3
    assert seen["switches"] == 0
    assert seen["task"] is task  # the coroutine ran inside the request's own task, as it would on the loop


def test_a_coroutine_that_waits_after_its_first_step_is_finished_by_the_loop_in_the_same_task():
    steps: list[object] = []

    async def send_with_flow_control():
        steps.append(("first step", asyncio.current_task()))
        async with asyncio.timeout(5):  # needs the running task: the one it started in
            await asyncio.sleep(0.01)
        steps.append(("resumed", asyncio.current_task()))
        return "written"

    def work():
        return cooperative.await_only(send_with_flow_control())

    async def main():
        task = asyncio.ensure_future(cooperative.run(work))
        return await task, task

    result, task = run(main())
    assert result == "written"
    assert steps == [("first step", task), ("resumed", task)]


def test_a_cancellation_while_a_started_coroutine_waits_reaches_that_coroutine_and_then_the_greenlet():
    events: list[str] = []

    async def send():
        try:
            await asyncio.sleep(3600)  # a client that stopped reading: flow control waits
        except asyncio.CancelledError:
            events.append("coroutine cancelled")
            raise
        finally:
            events.append("coroutine finally")

    def work():
        try:
            cooperative.await_only(send())
        except GeneratorExit:
            events.append("greenlet closed")
            raise

    cancel_once_waiting(work)
    assert events == ["coroutine cancelled", "coroutine finally", "greenlet closed"]


# --- Wakeup: a loop callback switches into the waiting greenlet itself ---------------------------------------


def _parked(wakeup: cooperative.Wakeup, loop: asyncio.AbstractEventLoop, then) -> None:
    """Calls ``then()`` from a loop callback once the greenlet is parked on ``wakeup``."""

    def check() -> None:
        if wakeup.waiting:
            then()
        else:
            loop.call_soon(check)

    loop.call_soon(check)


def test_a_wake_from_a_loop_callback_runs_the_greenlet_in_that_callback_until_it_waits_again():
    wakeup = cooperative.Wakeup()
    seen: list[tuple[object, bool]] = []

    def work():
        for _ in range(3):
            value = wakeup.wait()
            seen.append((value, asyncio.current_task() is None))  # no task: it runs inside the callback
        return "done"

    async def main():
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(cooperative.run(work))
        for value in ("a", "b", "c"):
            woken = asyncio.Event()
            _parked(wakeup, loop, lambda value=value, woken=woken: (wakeup.wake(value), woken.set()))
            await woken.wait()
        return await task

    assert run(main()) == "done"
    assert seen == [("a", True), ("b", True), ("c", True)]


def test_what_the_greenlet_awaits_after_a_wake_is_awaited_by_its_own_task():
    wakeup = cooperative.Wakeup()

    async def in_a_timeout():
        async with asyncio.timeout(5):  # needs the task it runs in
            await asyncio.sleep(0)
            return asyncio.current_task()

    def work():
        wakeup.wait()
        return cooperative.await_only(in_a_timeout())

    async def main():
        task = asyncio.ensure_future(cooperative.run(work))
        _parked(wakeup, asyncio.get_running_loop(), wakeup.wake)
        return task, await task

    task, ran_in = run(main())
    assert ran_in is task


def test_an_error_the_greenlet_ends_with_after_a_wake_is_raised_by_its_task():
    wakeup = cooperative.Wakeup()

    def work():
        wakeup.wait()
        raise ValueError("after the wake")

    async def main():
        task = asyncio.ensure_future(cooperative.run(work))
        _parked(wakeup, asyncio.get_running_loop(), wakeup.wake)
        await task

    with pytest.raises(ValueError, match="after the wake"):
        run(main())


def test_an_error_thrown_from_a_callback_is_raised_where_the_greenlet_waits():
    wakeup = cooperative.Wakeup()

    def work():
        try:
            wakeup.wait()
        except TimeoutError:
            return "timed out"
        return "woken"

    async def main():
        task = asyncio.ensure_future(cooperative.run(work))
        _parked(wakeup, asyncio.get_running_loop(), lambda: wakeup.throw(TimeoutError()))
        return await task

    assert run(main()) == "timed out"


def test_a_cancelled_parked_greenlet_unwinds_and_a_wake_after_the_cancel_does_not_run_it():
    wakeup = cooperative.Wakeup()
    ended: list[str] = []

    def work():
        try:
            wakeup.wait()
            ended.append("woken")
        except cooperative.Cancelled:
            ended.append("cancelled")
            raise

    async def main():
        task = asyncio.ensure_future(cooperative.run(work))
        parked = asyncio.Event()
        _parked(wakeup, asyncio.get_running_loop(), parked.set)
        await parked.wait()
        task.cancel()
        wakeup.wake()  # before the task's step: its future is done, so the task resumes the greenlet
        with pytest.raises(asyncio.CancelledError, match=r"^$"):  # a plain cancel(), no message
            await task

    run(main())
    assert ended == ["cancelled"]


def test_a_wake_off_the_loops_own_greenlet_resumes_the_greenlet_through_its_task():
    wakeup = cooperative.Wakeup()
    seen: list[bool] = []

    def waiter():
        value = wakeup.wait()
        seen.append(asyncio.current_task() is not None)  # resumed by its task
        return value

    def waker():
        while not wakeup.waiting:
            cooperative.sleep(0)
        wakeup.wake("from another request")  # inside a request's greenlet, not the loop's own
        return "woke"

    async def main():
        return await asyncio.gather(cooperative.run(waiter), cooperative.run(waker))

    assert run(main()) == ["from another request", "woke"]
    assert seen == [True]


def test_the_wait_hook_runs_before_every_wait_and_not_for_a_coroutine_that_does_not_wait():
    wakeup = cooperative.Wakeup()
    log: list[str] = []

    async def instant():
        return "instant"

    async def waits():
        await asyncio.sleep(0)
        return "waited"

    def work():
        assert cooperative.on_wait(lambda: log.append("hook")) is None
        log.append(cooperative.await_only(instant()))  # finishes at its first step: no wait, no hook
        log.append(cooperative.await_only(waits()))
        log.append(cooperative.await_only(asyncio.ensure_future(waits())))  # a task: handed over whole
        log.append(wakeup.wait())
        replaced = cooperative.on_wait(None)
        log.append(cooperative.await_only(waits()))  # no hook any more
        return replaced

    async def main():
        task = asyncio.ensure_future(cooperative.run(work))
        _parked(wakeup, asyncio.get_running_loop(), lambda: wakeup.wake("woken"))
        return await task

    replaced = run(main())
    assert callable(replaced)
    assert log == ["instant", "hook", "waited", "hook", "waited", "hook", "woken", "waited"]
    with pytest.raises(RuntimeError, match="outside a request's greenlet"):
        cooperative.on_wait(None)


@pytest.mark.parametrize("taskless", [False, True])
def test_after_a_wake_a_coroutine_goes_to_the_task_whole_unless_it_is_taskless(taskless):
    """Run by a loop callback, the greenlet is outside its task: a coroutine is handed to the task (two switches)
    so that it runs in it, unless the caller says it needs no task; then it runs here, without a switch."""
    wakeup = cooperative.Wakeup()
    seen: dict[str, object] = {}

    async def send(piece):  # nothing to wait for
        seen["task"] = asyncio.current_task()
        return len(piece)

    def work():
        wakeup.wait()
        seen["switches"] = _switches_during(
            lambda: seen.setdefault("result", cooperative.await_only(send(b"abc"), taskless=taskless))
        )

    async def main():
        task = asyncio.ensure_future(cooperative.run(work))
        _parked(wakeup, asyncio.get_running_loop(), wakeup.wake)
        await task
        return task

    task = run(main())
    assert seen["result"] == 3
    if taskless:
        assert (seen["switches"], seen["task"]) == (0, None)  # ran in the callback, outside any task
    else:
        assert seen["switches"] == 2 and seen["task"] is task
