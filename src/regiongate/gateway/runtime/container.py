"""Entry point of the gateway container (``gateway.runtime: container``): ``python -m regiongate.gateway.runtime.container``.

The image's CMD and the task definition's command are this module (regiongate.gateway.container_infrastructure).
It reads the Lambda's environment contract, with the region document as JSON in ``REGIONGATE_REGION_DOCUMENT``
(:class:`~regiongate.contract.environment.GatewayContainerEnvironment`), and serves the same service code as the
Lambda through uvicorn on ``GATEWAY_PORT``, streaming server-sent events as they arrive.

Audit events go to the region's SQS queue through a bounded buffer
(:class:`~regiongate.audit.runtime.events.BackgroundAuditSink` over
:class:`~regiongate.audit.runtime.queue.SqsBatchSender`): while the queue is unreachable they are kept and
retried, and once the buffer is full new requests get 503, so no request is answered whose event cannot be
handed on.

SIGTERM (ECS stops a task after its target has drained): stop accepting, let in-flight requests and streams
finish for up to the deployment's drain time (the longest generation plus time to answer), hand on the
buffered audit events, exit 0. A start without its settings exits 2 naming the variable.

A task with more than one vCPU runs one server process per vCPU (``REGIONGATE_GATEWAY_PROCESSES``, set from
``sizing.gateway_task_vcpus``): the parent binds the port and supervises; each worker builds its own store pool,
audit sink and gateway and does all of the above itself (regiongate.gateway.runtime.processes). The parent exits 0
once every worker has, and 1 if one failed or died unasked (ECS then replaces the task).
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from regiongate.contract.environment import GatewayContainerEnvironment
    from regiongate.gateway.runtime.processes import StopRequest

log = logging.getLogger("regiongate.container")

# The task's own network interface, reached only through its ALB (the task security group).
LISTEN_HOST = "0.0.0.0"
# After SIGTERM, what the sink still holds is handed on for at most this long (ECS kills the task at 120 s).
AUDIT_FLUSH_SECONDS = 15.0
# A task's connections to the region's database, shared out among its server processes, so that the most the
# service can open (MAX_TASKS tasks of container_infrastructure, 10 × 16 = 160) stays the same whatever
# sizing.gateway_task_vcpus is: 16 per process made 640 at 4 vCPUs, more than RDS's default max_connections on the
# default db.t4g.medium (LEAST(DBInstanceClassMemory/9531392, 5000): about 400 for 4 GiB).
TASK_DATABASE_CONNECTIONS = 16
MIN_PROCESS_CONNECTIONS = 4  # a process's store calls wait for one of these on its blocking-call threads


def database_connections_per_process(processes: int) -> int:
    return max(MIN_PROCESS_CONNECTIONS, TASK_DATABASE_CONNECTIONS // processes)


def main() -> int:
    from regiongate.common import logs
    from regiongate.contract.environment import GatewayContainerEnvironment, SettingsError

    try:
        env = GatewayContainerEnvironment.from_env()
    except SettingsError as exc:
        print(f"regiongate gateway container: {exc}", file=sys.stderr)
        return 2
    logs.configure(env.settings.log_level)
    if env.processes == 1:
        return serve(env)

    from regiongate.gateway.runtime.local import listening_socket
    from regiongate.gateway.runtime.processes import serve_workers

    listener = listening_socket((LISTEN_HOST, env.port))
    log.info(
        "gateway container serving",
        extra={"fields": {"region": env.region.code, "port": env.port, "processes": env.processes}},
    )
    code = serve_workers(env.processes, listener, lambda sock, stop: serve(env, sock, stop))
    log.info("gateway container stopped", extra={"fields": {"processes": env.processes, "exit_code": code}})
    return code


def serve(
    env: GatewayContainerEnvironment, listener: socket.socket | None = None, stop: StopRequest | None = None
) -> int:
    """One server process: the whole task, or (``listener`` and ``stop`` given) one worker of several, which
    serves the socket its parent bound and stops on ``stop``."""
    from regiongate.common import logs

    logs.write_in_background()  # log lines are written by a thread, off the request path

    from regiongate.audit.runtime.events import BackgroundAuditSink
    from regiongate.audit.runtime.queue import SqsBatchSender
    from regiongate.contract.limits import GATEWAY_ANSWER_MARGIN_SECONDS
    from regiongate.gateway.runtime.app import served_gateway
    from regiongate.gateway.runtime.asgi import ServerLimits
    from regiongate.gateway.runtime.local import GatewayHTTPServer
    from regiongate.store.connections import postgres_store

    region = env.region
    settings = env.settings
    assert settings.audit_queue_url is not None  # GatewayContainerEnvironment refuses to start without it
    store = postgres_store(settings, region.aws_region, pool_size=database_connections_per_process(env.processes))
    sink = BackgroundAuditSink(
        SqsBatchSender(settings.audit_queue_url, region.aws_region), capacity=env.audit_buffer_events, batch_size=100
    )
    gateway = served_gateway(
        region, settings=settings, store=store, audit=sink, upstream_deadline=region.max_generation_seconds
    )
    not_warmed = gateway.registry.warm()  # clients and credentials now, not on the loop during the first requests
    if not_warmed:
        log.warning("providers not ready at start", extra={"fields": {"providers": not_warmed}})
    # The drain of regiongate.config.gateway_runtime: the longest generation, then time to answer.
    limits = ServerLimits(graceful_shutdown=float(region.max_generation_seconds + GATEWAY_ANSWER_MARGIN_SECONDS))
    server = GatewayHTTPServer((LISTEN_HOST, env.port), gateway, limits, sock=listener)
    if stop is not None:
        # A worker: a stop that came before the server existed stops it as soon as it has started, and the
        # signal uvicorn raises again once it has stopped is a no-op (StopRequest).
        stop.on_request(server.request_stop)
    else:
        # uvicorn handles SIGTERM/SIGINT while it serves and raises the signal again once it has stopped: these
        # make that second delivery a no-op, so the buffered audit events are still handed on below.
        signal.signal(signal.SIGTERM, lambda signum, frame: None)
        signal.signal(signal.SIGINT, lambda signum, frame: None)
    log.info(
        "gateway container serving",
        extra={
            "fields": {"region": region.code, "port": server.server_address[1], "drain_s": limits.graceful_shutdown}
        },
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()
        sink.close(timeout=AUDIT_FLUSH_SECONDS)
        store.pool.close()
        log.info("gateway container stopped", extra={"fields": {"audit_events_not_sent": sink.pending}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
