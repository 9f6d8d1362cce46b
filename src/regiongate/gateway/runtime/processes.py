"""Several server processes on one listening socket: ``regiongate serve --processes N`` and a gateway task with
more than one vCPU (``sizing.gateway_task_vcpus``).

One process serves every request on one asyncio event loop, so it uses at most one CPU. With ``N > 1`` the parent
binds the listening socket once (``local.listening_socket``), forks ``N`` workers and supervises them; it never
accepts a connection itself. Each worker builds its own store pool, audit sink and Gateway after the fork (the
parent holds no connection, thread or event loop when it forks) and serves the inherited socket with
``local.GatewayHTTPServer``. The kernel hands each new connection to one worker that is waiting in ``accept``
(uvicorn's and gunicorn's model: one shared queue, so a worker that stops accepting leaves what is queued to
the others; ``SO_REUSEPORT`` would give every worker a queue of its own, which a worker that exits takes with it).
``N == 1`` is not this module: that one process serves as it always did, with no supervisor.

Supervision: SIGTERM or SIGINT to the parent is forwarded to every worker as SIGTERM (a second SIGINT is
forwarded as SIGINT, uvicorn's "stop now"); each worker then does what a single server does (stops accepting,
lets in-flight requests and streams finish for up to the drain time, hands on its own buffered audit events,
exits 0). The parent waits for all of them: 0 if every worker exited 0, 1 otherwise. A worker that exits while
nobody asked it to is logged with its exit code, the others are stopped the same graceful way, and the parent
exits 1, so ECS replaces the task (see ``_Supervisor.reap`` for why it is not respawned).

Workers run in a process group of their own, so a terminal's Ctrl-C reaches only the parent (which forwards it
once) and not every worker at the same time; on Linux a worker whose parent dies is sent SIGTERM (its drain
then runs as usual) instead of serving on as an orphan.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import NoReturn

log = logging.getLogger("regiongate.processes")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_WAITED = {*STOP_SIGNALS, signal.SIGCHLD}
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class StopRequest:
    """SIGTERM/SIGINT in a server process, whenever they arrive: before its server exists (it then stops as soon
    as it has started), while it serves (uvicorn's own handlers take over then) and after (uvicorn raises the
    signals it caught again once it has stopped: here that is a no-op, so what follows still runs)."""

    def __init__(self) -> None:
        self.requested = False
        self._callbacks: list[Callable[[], None]] = []

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._handle)

    def on_request(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on a stop request, now if one has already arrived."""
        self._callbacks.append(callback)
        if self.requested:
            callback()

    def _handle(self, signum: int, frame: object) -> None:
        self.requested = True
        for callback in self._callbacks:
            callback()


# A worker: serves the listening socket until its StopRequest, then returns its exit code.
Worker = Callable[[socket.socket, StopRequest], int]


def serve_workers(count: int, listener: socket.socket, worker: Worker) -> int:
    """Fork ``count`` (at least 2) workers serving ``listener``, supervise them until they have all exited, and
    return the parent's exit code. ``listener`` is closed in the parent once the workers hold it."""
    if count < 2:
        raise ValueError(f"serve_workers needs at least 2 processes, got {count} (one process serves by itself)")
    if threading.active_count() > 1:
        # Only the forking thread exists in a child: a lock another thread held stays locked there forever.
        raise RuntimeError("serve_workers must fork before any thread is started (the workers start their own)")
    parent = os.getpid()
    # Blocked before the first fork: a signal that arrives while workers are being started waits for the
    # supervisor (which then forwards it to every worker), and the workers unblock once their handlers are set.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _WAITED)
    supervisor = _Supervisor()
    try:
        try:
            for index in range(count):
                pid = os.fork()
                if pid == 0:
                    _run_worker(index, listener, worker, parent, previous)  # never returns
                supervisor.started(pid, index)
        except OSError:
            log.error("could not start gateway worker", extra={"fields": {"started": len(supervisor.workers)}})
            supervisor.forward(signal.SIGTERM)
            supervisor.failed = True
        listener.close()  # the workers hold it; the parent never accepts
        log.info(
            "gateway workers started",
            extra={"fields": {"processes": count, "pids": sorted(supervisor.workers)}},
        )
        return supervisor.run()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class _Supervisor:
    def __init__(self) -> None:
        self.workers: dict[int, int] = {}  # pid -> worker index
        self.stopping = False
        self.failed = False
        self._signals_seen = 0

    def started(self, pid: int, index: int) -> None:
        self.workers[pid] = index

    def run(self) -> int:
        # Signals are taken synchronously (blocked, then sigwait): no handler can run between reaping a worker
        # and forgetting its pid, so a signal is never sent to a pid that was already reaped (and maybe reused).
        self.reap()  # a child that exited before SIGCHLD was blocked (not a worker) left only a zombie
        while self.workers:
            signum = signal.sigwait(_WAITED)
            if signum == signal.SIGCHLD:
                self.reap()
            else:
                self.on_stop_signal(signum)
        return 1 if self.failed else 0

    def on_stop_signal(self, signum: int) -> None:
        self._signals_seen += 1
        first = not self.stopping
        self.stopping = True
        # The first request, whichever signal it was, is a graceful stop; a second Ctrl-C is uvicorn's "now".
        forwarded = signal.SIGINT if (signum == signal.SIGINT and self._signals_seen > 1) else signal.SIGTERM
        if first:
            log.info("stopping gateway workers", extra={"fields": {"signal": signal.Signals(signum).name}})
        self.forward(forwarded)

    def forward(self, signum: int) -> None:
        self.stopping = True
        for pid in self.workers:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:  # exited; reaped on its SIGCHLD
                pass

    def reap(self) -> None:
        while self.workers:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            index = self.workers.pop(pid, None)
            if index is None:
                continue  # not a worker (as PID 1 of a container, orphans are reparented to us)
            code = os.waitstatus_to_exitcode(status)  # negative: killed by that signal
            fields = {"pid": pid, "worker": index, "exit_code": code}
            if not self.stopping:
                # Not respawned: a worker that died unasked (a crash, the kernel's OOM killer) took its
                # in-memory audit buffer and its in-flight requests with it, and a replacement would hide that
                # (and any crash loop) from ECS, its deployment circuit breaker and the task's exit code. The
                # other workers drain and hand on their events, the task exits 1, and ECS starts a fresh one.
                log.error("gateway worker exited unexpectedly", extra={"fields": fields})
                self.failed = True
                self.forward(signal.SIGTERM)
            elif code != 0:
                log.error("gateway worker failed", extra={"fields": fields})
                self.failed = True
            else:
                log.info("gateway worker stopped", extra={"fields": fields})


def _run_worker(
    index: int, listener: socket.socket, worker: Worker, parent: int, mask: set[int | signal.Signals]
) -> NoReturn:
    """The forked child: serve, then leave with the worker's exit code (never back into the parent's code)."""
    code = 1
    try:
        os.setpgid(0, 0)
        stop = StopRequest()
        stop.install()
        _stop_with_parent(parent)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        code = worker(listener, stop)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:  # a worker never returns into the parent's code
        log.error("gateway worker crashed", extra={"fields": {"worker": index, "error": type(exc).__name__}})
        code = 1
    finally:
        logging.shutdown()  # the worker's log lines (and the background writer's queue) are written first
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def _stop_with_parent(parent: int) -> None:
    """Linux: SIGTERM this worker when its parent dies (a SIGKILLed supervisor must not leave it serving)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl: nobody will send it
        os.kill(os.getpid(), signal.SIGTERM)
