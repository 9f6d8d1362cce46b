"""Budgets and rate limits under load (`make bench`): the overshoot of a $0.01 budget at 50 and 500 concurrent
requests, and the requests accepted at twice a rate limit.

Method
- A throw-away PostgreSQL database (from DATABASE_URL), shared by four gateway instances in this process,
  each with its own store and connection pool (as four Lambda instances or tasks of a region would be).
- The provider is in-process: it waits 20 ms (so requests overlap) and answers with fixed usage below the
  request's max_tokens. Chat requests name `max_tokens: 200`, so each reserves its input estimate and 200
  output tokens at the model's prices.
- Budget: N threads (50, then 500) each send one request at once, spread over the instances, against a key
  with a monthly budget of $0.01. Afterwards the audit events are written through the store (as the writer
  does) and the key's spend is read back: rollups plus any holds left. Overshoot = spend − budget, also in
  units of one request's reservation (the bound is one).
- Rate limit: a key limited to L requests per window; requests are paced at twice the limit for one window
  (60 s; `BENCH_RATE_SECONDS=10` or `--rate-seconds 10` for a quick run, which shortens the window to match),
  spread over the instances. Accepted should be L (within 5 %).
Everything runs on this machine (2 shared cores): the figures are counts, not speeds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import served

BUDGET = Decimal("0.01")
INSTANCES = 4
RATE_PER_SECOND = 10  # the limit: 600 requests per 60 s window (100 per 10 s in a quick run)
# A chat model of the shipped EU catalogue (which offers Claude only by explicit opt-in: regions.yaml).
BODY = json.dumps(
    {"model": "nova-pro", "max_tokens": 200, "messages": [{"role": "user", "content": "Capital of France?"}]}
).encode()


def _instances(database_url: str, runtime, pool_size: int, window: float = 60.0):
    from regiongate.audit.runtime.events import ListAuditSink
    from regiongate.gateway.runtime.service import Gateway
    from regiongate.gateway.runtime.translate import ChatResult
    from regiongate.store.postgres import ConnectionParams, ConnectionPool, PostgresStore

    class Slow:
        def chat(self, model, body, timer):
            time.sleep(0.02)
            return ChatResult("Paris.", [], "stop", 12, 150)

    class Providers:
        def get(self, name):
            return Slow()

        def for_context(self, ctx, name):  # the service asks per request (organisations' own credentials)
            ctx.credential_source = "platform"
            return self.get(name)

    built = []
    for _ in range(INSTANCES):
        store = PostgresStore(ConnectionPool(ConnectionParams.from_url(database_url).connect, size=pool_size))
        sink = ListAuditSink()
        gateway = Gateway(runtime, store=store, registry=Providers(), audit=sink, rate_window_seconds=window)
        built.append((gateway, store, sink))
    return built


def _post(gateway, key: str) -> int:
    from regiongate.gateway.runtime.transport import Request

    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    return gateway.handle(Request("POST", "/v1/chat/completions", headers, BODY)).status


def budget_overshoot(database_url: str, runtime, concurrency: int) -> dict:
    from regiongate.common.clock import utc_now
    from regiongate.gateway.runtime.checks import max_output_tokens
    from regiongate.gateway.runtime.guardrails import chat_texts, estimate_tokens
    from regiongate.gateway.runtime.pricing import cost_usd
    from regiongate.store.keys import KeyService

    instances = _instances(database_url, runtime, pool_size=8)
    try:
        first_store = instances[0][1]
        created = KeyService(first_store).create(
            region_code="eu", org_id=f"bench{concurrency}", monthly_budget_usd=BUDGET
        )
        body = json.loads(BODY)
        model = runtime.models[body["model"]]
        reservation = cost_usd(
            estimate_tokens(chat_texts(body)),
            max_output_tokens(body),
            model.highest_input_price,  # what the budget check reserves an input token at
            model.output_usd_per_mtok,
        )
        barrier = threading.Barrier(concurrency)

        def one(i: int) -> int:
            gateway = instances[i % INSTANCES][0]
            barrier.wait()
            return _post(gateway, created.key)

        with ThreadPoolExecutor(concurrency) as pool:
            statuses = list(pool.map(one, range(concurrency)))
        for _, store, sink in instances:
            store.write_audit_events(sink.events)  # what the writer does with the queue's messages
        today = utc_now().date()
        rolled = first_store.month_spend("key", created.record.key_id, today)
        held = first_store.held_spend("key", created.record.key_id, today, utc_now())
        spend = rolled + held
        overshoot = max(spend - BUDGET, Decimal(0))
        return {
            "concurrency": concurrency,
            "ok": statuses.count(200),
            "refused": statuses.count(429),
            "other": len(statuses) - statuses.count(200) - statuses.count(429),
            "spend": spend,
            "held": held,
            "reservation": reservation,
            "overshoot": overshoot,
            "in_reservations": overshoot / reservation,
        }
    finally:
        for _, store, _ in instances:
            store.pool.close()


def rate_accuracy(database_url: str, runtime, seconds: float) -> dict:
    from regiongate.store import RateLimits
    from regiongate.store.keys import KeyService

    # The window is the run's length: 60 s, unless shortened for a quick run.
    instances = _instances(database_url, runtime, pool_size=4, window=seconds)
    try:
        store = instances[0][1]
        created = KeyService(store).create(region_code="eu", org_id="benchrate")
        limit = int(RATE_PER_SECOND * seconds)
        store.set_rate_limits("key", created.record.key_id, RateLimits(requests_per_minute=limit))
        total = 2 * limit
        interval = seconds / total
        start = time.monotonic() + 0.5
        counter = iter(range(total))
        lock = threading.Lock()
        statuses: list[int] = []
        late: list[float] = []

        def worker(w: int) -> None:
            gateway = instances[w % INSTANCES][0]
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                delay = start + i * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                status = _post(gateway, created.key)
                with lock:
                    statuses.append(status)
                    late.append(-delay)

        threads = [threading.Thread(target=worker, args=(w,)) for w in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - start
        accepted = statuses.count(200)
        return {
            "limit": limit,
            "lag": max(late),
            "sent": total,
            "accepted": accepted,
            "refused": statuses.count(429),
            "elapsed": elapsed,
            "deviation": (accepted - limit) / limit * 100,
        }
    finally:
        for _, store, _ in instances:
            store.pool.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rate-seconds", type=float, default=float(os.environ.get("BENCH_RATE_SECONDS") or 60), help="window and run"
    )
    args = parser.parse_args()
    return served.on_throwaway_database("rg_bench_limits", lambda url: _measure(url, args.rate_seconds))


def _measure(url: str, rate_seconds: float) -> int:
    from regiongate.config.gateway import runtime_document
    from regiongate.config.regions import load_catalogue
    from regiongate.contract.document import RuntimeConfig
    from regiongate.store.postgres import ConnectionParams, ConnectionPool, PostgresStore

    runtime = RuntimeConfig.from_document(runtime_document(load_catalogue().region("eu")))
    store = PostgresStore(ConnectionPool(ConnectionParams.from_url(url).connect, size=1))
    store.migrate()
    store.maintain(1)
    store.pool.close()
    print(f"| concurrent requests | 200 | 429 | other | spend (USD) | overshoot of ${BUDGET} | in reservations |")
    print("|---|---|---|---|---|---|---|")
    failures = []
    for concurrency in (50, 500):
        r = budget_overshoot(url, runtime, concurrency)
        print(
            f"| {r['concurrency']} | {r['ok']} | {r['refused']} | {r['other']} | {r['spend']:.6f} | "
            f"{r['overshoot']:.6f} | {r['in_reservations']:.2f} (one = {r['reservation']:.6f} USD) |"
        )
        if r["in_reservations"] > 1 or r["other"]:
            failures.append(f"budget at {concurrency}")
    r = rate_accuracy(url, runtime, rate_seconds)
    print(
        f"\nrate limit {r['limit']} requests per {rate_seconds:g} s window, {r['sent']} sent at twice the limit "
        f"over {r['elapsed']:.1f} s (latest send {max(r['lag'], 0) * 1000:.0f} ms behind its schedule): accepted "
        f"{r['accepted']} ({r['deviation']:+.1f} % of the limit; target ±5 %), refused {r['refused']}"
    )
    if abs(r["deviation"]) > 5:
        failures.append("rate limit accuracy")
    if r["lag"] > rate_seconds * 0.05:
        failures.append("pacing (this machine could not send at twice the limit: the figure is not valid)")
    print("\ntargets: " + ("met" if not failures else "MISSED: " + ", ".join(failures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
