"""PostgreSQL implementation of the Store (pg8000, pure Python), with a small thread-safe connection pool."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from regiongate.common.clock import Clock, utc_now
from regiongate.contract.audit_event import ParsedEvent, parsed_event
from regiongate.contract.limits import DATABASE_PORT
from regiongate.store import KeyRecord, SpendRow, memory_facts, rollup_scopes, tls
from regiongate.store import migrate as migrations
from regiongate.store.pooled import run_once
from regiongate.store.postgres_credentials import PostgresCredentials
from regiongate.store.postgres_limits import PostgresLimits

T = TypeVar("T")
_BATCH = 500  # events per INSERT statement (one JSON parameter holding the rows)
_AUDIT_COLUMNS = (
    "request_id",
    "created_at",
    "region",
    "endpoint",
    "key_id",
    "org_id",
    "team_id",
    "user_id",
    "model",
    "provider",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "total_ms",
    "upstream_ms",
    "status",
    "error_type",
    "is_stream",
    "guardrail",
    "credential_source",
)
_KEY_COLUMNS = (
    "key_id, key_hash, display_prefix, region, org_id, team_id, user_id, monthly_budget_usd, model_allowlist, "
    "expires_at, created_at, revoked_at"
)
_AUDIT_TYPES = {
    "request_id": "uuid",
    "created_at": "timestamptz",
    "input_tokens": "integer",
    "output_tokens": "integer",
    "cost_usd": "numeric",
    "total_ms": "numeric",
    "upstream_ms": "numeric",
    "status": "smallint",
    "is_stream": "boolean",
}
_INSERT_AUDIT = (
    f"INSERT INTO audit_events ({', '.join(c if c != 'is_stream' else 'stream' for c in _AUDIT_COLUMNS)}) "
    f"SELECT {', '.join(_AUDIT_COLUMNS)} FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r("
    + ", ".join(f"{c} {_AUDIT_TYPES.get(c, 'text')}" for c in _AUDIT_COLUMNS)
    + ") ON CONFLICT DO NOTHING RETURNING CAST(request_id AS text)"
)
_UPSERT_SPEND = (
    "INSERT INTO daily_spend (day, scope, scope_id, requests, input_tokens, output_tokens, cost_usd) "
    "SELECT day, scope, scope_id, requests, input_tokens, output_tokens, cost_usd FROM jsonb_to_recordset(CAST(:rows AS jsonb)) "
    "AS r(day date, scope text, scope_id text, requests bigint, input_tokens bigint, output_tokens bigint, cost_usd numeric) "
    "ON CONFLICT (scope, scope_id, day) DO UPDATE SET "
    "requests = daily_spend.requests + EXCLUDED.requests, "
    "input_tokens = daily_spend.input_tokens + EXCLUDED.input_tokens, "
    "output_tokens = daily_spend.output_tokens + EXCLUDED.output_tokens, "
    "cost_usd = daily_spend.cost_usd + EXCLUDED.cost_usd"
)
_INSERT_VIOLATIONS = (
    "INSERT INTO guardrail_violations (request_id, created_at, key_id, org_id, detector, action, message) "
    "SELECT request_id, created_at, key_id, org_id, detector, action, message FROM jsonb_to_recordset(CAST(:rows AS jsonb)) "
    "AS r(request_id uuid, created_at timestamptz, key_id text, org_id text, detector text, action text, message text) "
    "ON CONFLICT DO NOTHING"
)


def _json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


_FIXED_STATEMENTS: dict[str, tuple[str, Callable[[Mapping[str, Any]], Any]]] = {}


def _run_fixed(conn: Any, sql: str, **params: Any) -> Any:
    """``conn.run`` for the audit writer's fixed statements. pg8000 turns ``:name`` placeholders into ``$n`` with
    a per-character parser on every ``run`` (about 2 ms of CPU for these long statements, measured in
    bench/bench_gateway.py, several times per batch, in the process that serves requests); the conversion only
    depends on the SQL text, so it is done once per statement here."""
    converted = _FIXED_STATEMENTS.get(sql)
    if converted is None:
        from pg8000.native import to_statement

        converted = _FIXED_STATEMENTS[sql] = to_statement(sql)
    statement, make_values = converted
    return conn.execute_unnamed(statement, make_values(params), oids=()).rows


def _audit_row(e: Mapping[str, Any]) -> dict[str, Any]:
    """One parsed event as a JSON object for ``_INSERT_AUDIT``: decimals, times and milliseconds as text, so
    PostgreSQL reads them with its own input functions (exact, as the typed parameters were)."""
    row = {c: e[c] for c in _AUDIT_COLUMNS if c != "is_stream"}
    row["is_stream"] = e["stream"]
    row["created_at"] = e["created_at"].isoformat()
    row["cost_usd"] = str(e["cost_usd"])
    for name in ("total_ms", "upstream_ms"):
        if row[name] is not None:
            row[name] = str(row[name])
    return row


@dataclass(frozen=True)
class ConnectionParams:
    host: str
    port: int
    database: str
    user: str
    password: str | None
    ssl_mode: str = "disable"  # disable | require | verify-ca | verify-full (regiongate.store.tls)
    ca_bundle: str | None = None

    @classmethod
    def from_url(cls, url: str, ca_bundle: str | None = None) -> ConnectionParams:
        """libpq's URL: ``sslmode`` and ``sslrootcert`` as libpq reads them, except that a CA file (there, or
        ``ca_bundle`` from DB_CA_BUNDLE) means ``verify-full`` (see regiongate.store.tls.url_ssl)."""
        parts = urlsplit(url)
        if parts.scheme not in ("postgres", "postgresql"):
            raise ValueError("DATABASE_URL must start with postgresql://")
        ssl_mode, ca = tls.url_ssl(parse_qs(parts.query), ca_bundle)
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or DATABASE_PORT,
            database=unquote(parts.path.lstrip("/")) or "postgres",
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password) if parts.password is not None else None,
            ssl_mode=ssl_mode,
            ca_bundle=ca,
        )

    def connect(self) -> Any:
        import pg8000.native

        context = tls.client_context(self.ssl_mode, self.ca_bundle)
        try:
            conn = pg8000.native.Connection(
                user=self.user,
                password=self.password,
                host=self.host,
                port=self.port,
                database=self.database,
                ssl_context=context,
                timeout=30,
                application_name="regiongate",
            )
        except ssl.SSLCertVerificationError as exc:
            raise tls.verification_error(exc, self.host, self.port, self.ca_bundle) from None
        no_delay(conn)
        return conn


def no_delay(conn: Any) -> None:
    """Turn Nagle's algorithm off on the connection's socket, as libpq does. pg8000 (1.31) leaves it on, and its
    extended protocol writes a large Bind (a 1024-dimension embedding is ~20 kB of text) in several segments
    between waits for the server: the last small segment then waits for the ACK the server delays (~40 ms on
    Linux), so such a query took ~45 ms instead of ~3 (bench/bench_memory.py, issue 16)."""
    conn._usock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class ConnectionPool:
    """Up to ``size`` connections, created on demand; a connection that raised is discarded.

    After a database restart every pooled connection is dead, but only the first use of each would notice.
    So a connection error also retires every connection opened before it (a new *generation* starts): the
    connections in use are closed when they come back, idle ones are never handed out again. A connection
    idle for more than ``validate_after`` seconds (a Lambda frozen between invocations, a quiet console) is
    checked with an empty query before it is handed out, and replaced if it is dead. A restart therefore
    costs at most the requests that were running on a connection when it happened.
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        size: int = 4,
        *,
        validate_after: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self._idle: queue.LifoQueue[tuple[Any, int, float]] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._generation = 0
        self._lock = threading.Lock()
        self.validate_after = validate_after
        self._monotonic = monotonic
        self.replaced = 0  # connections found dead or retired and closed (for tests and logs)

    def retire_all(self) -> None:
        """Connections opened until now are not used again (called on any connection error): the idle ones
        are closed now, the ones in use when they come back."""
        with self._lock:
            self._generation += 1
        while True:
            try:
                conn, _, _ = self._idle.get_nowait()
            except queue.Empty:
                return
            self._discard(conn)

    def _checkout(self, fresh: bool) -> tuple[Any, int]:
        while not fresh:
            try:
                conn, generation, idle_since = self._idle.get_nowait()
            except queue.Empty:
                break
            if generation != self._generation or (
                self._monotonic() - idle_since > self.validate_after and not _alive(conn)
            ):
                self._discard(conn)
                continue
            return conn, generation
        generation = self._generation
        return self._connect(), generation

    def _discard(self, conn: Any) -> None:
        self.replaced += 1
        with contextlib.suppress(Exception):
            conn.close()

    @contextlib.contextmanager
    def connection(self, *, fresh: bool = False) -> Iterator[Any]:
        """A pooled connection (a new one with ``fresh``), returned to the pool afterwards unless it raised."""
        self._slots.acquire()
        conn = None
        generation = self._generation
        try:
            conn, generation = self._checkout(fresh)
            yield conn
        except BaseException as exc:
            if conn is not None:
                self._discard(conn)
                conn = None
            if isinstance(exc, Exception) and connection_lost(exc):
                self.retire_all()
            raise
        finally:
            if conn is not None:
                if generation == self._generation:
                    self._idle.put((conn, generation, self._monotonic()))
                else:
                    self._discard(conn)
            self._slots.release()

    def ping(self) -> None:
        """Raises unless the database answers a query (readiness checks): on a fresh connection if needed."""
        with self.connection() as conn:
            conn.run("SELECT 1")

    def close(self) -> None:
        while True:
            try:
                conn, _, _ = self._idle.get_nowait()
            except queue.Empty:
                return
            with contextlib.suppress(Exception):
                conn.close()


def _alive(conn: Any) -> bool:
    try:
        conn.run("SELECT 1")
    except Exception:
        return False
    return True


def _key(row: Sequence[Any]) -> KeyRecord:
    return KeyRecord(
        key_id=row[0],
        key_hash=bytes(row[1]),
        display_prefix=row[2],
        region=row[3],
        org_id=row[4],
        team_id=row[5],
        user_id=row[6],
        monthly_budget_usd=row[7],
        model_allowlist=tuple(row[8]) if row[8] is not None else None,
        expires_at=row[9],
        created_at=row[10],
        revoked_at=row[11],
    )


PASSWORD_REJECTED = "28P01"  # SQLSTATE invalid_password


def password_rejected(exc: BaseException) -> bool:
    """Whether PostgreSQL refused the sign-in because of the password (pg8000 puts the fields in args[0])."""
    from pg8000.exceptions import DatabaseError

    if not isinstance(exc, DatabaseError) or not exc.args:
        return False
    fields = exc.args[0]
    return isinstance(fields, dict) and fields.get("C") == PASSWORD_REJECTED


class RefreshingConnect:
    """Opens connections with parameters loaded once, and loads them again once when PostgreSQL rejects the
    password: after a rotation of the database secret, new connections sign in with the new password while
    open ones keep working. ``load`` reads the secret; it runs at the first connection, not at construction."""

    def __init__(self, load: Callable[[], ConnectionParams]) -> None:
        self._load = load
        self._params: ConnectionParams | None = None
        self._lock = threading.Lock()

    def _current(self) -> ConnectionParams:
        with self._lock:
            if self._params is None:
                self._params = self._load()
            return self._params

    def __call__(self) -> Any:
        params = self._current()
        try:
            return params.connect()
        except Exception as exc:
            if not password_rejected(exc):
                raise
        with self._lock:
            current = self._params
            if current is None or current is params:  # else another thread has reloaded already
                current = self._params = self._load()
        return current.connect()  # a second rejection is raised to the caller


def _connection_errors() -> tuple[type[BaseException], ...]:
    from pg8000.exceptions import InterfaceError

    return (InterfaceError, ConnectionError, TimeoutError)


# SQLSTATEs of a server that is going away or not yet back: the connection, not the statement, failed.
_GONE_STATES = frozenset({"57P01", "57P02", "57P03", "08000", "08001", "08003", "08004", "08006"})


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is unreachable (down, restarting, the connection cut), as opposed to a
    statement PostgreSQL rejected: the caller may answer 503 and retry on another connection."""
    if isinstance(exc, _connection_errors()):
        return True
    from pg8000.exceptions import DatabaseError

    if isinstance(exc, DatabaseError) and exc.args and isinstance(exc.args[0], dict):
        return str(exc.args[0].get("C", "")) in _GONE_STATES
    return False


class PostgresStore(PostgresLimits, PostgresCredentials):  # see postgres_limits.py, postgres_credentials.py
    def __init__(self, pool: ConnectionPool, clock: Clock = utc_now) -> None:
        self.pool = pool
        self.clock = clock
        self._known_partitions: set[date] = set()

    def _run(self, work: Callable[[Any], T]) -> T:
        """Run ``work`` on a pooled connection; once more on a fresh one if the connection was lost (the
        database restarted or closed an idle connection between Lambda invocations). Only for idempotent work."""
        for attempt in (0, 1):
            try:
                with self.pool.connection(fresh=bool(attempt)) as conn:
                    return work(conn)
            except Exception as exc:
                if attempt or not connection_lost(exc):
                    raise
        raise AssertionError("unreachable")

    def ping(self) -> None:
        """Raises unless the database answers (the readiness endpoints)."""
        self._run(lambda conn: conn.run("SELECT 1"))

    # --- schema -----------------------------------------------------------------------------------------
    def migrate(self) -> list[int]:
        with self.pool.connection() as conn:
            return migrations.migrate(conn)

    def maintain(self, retention_months: int, today: date | None = None) -> list[str]:
        """Partitions for ``today``'s month and the next; drop what is older than the retention (``today``
        defaults to the store's clock, in UTC, like every event's partition). Memory facts expired by the
        store's clock are deleted too (regiongate.store.memory_facts)."""
        day = today or self.clock().astimezone(UTC).date()
        with self.pool.connection() as conn:
            dropped = migrations.maintain(conn, retention_months, day)
            memory_facts.purge_expired(conn, self.clock())
            return dropped

    # --- keys and orgs ------------------------------------------------------------------------------------
    def ensure_org(self, org_id: str) -> None:
        run_once(self.pool, "INSERT INTO orgs (org_id) VALUES (:o) ON CONFLICT DO NOTHING", o=org_id)

    def set_org_budget(self, org_id: str, monthly_budget_usd: Decimal | None) -> None:
        run_once(
            self.pool,
            "INSERT INTO orgs (org_id, monthly_budget_usd) VALUES (:o, :b) "
            "ON CONFLICT (org_id) DO UPDATE SET monthly_budget_usd = EXCLUDED.monthly_budget_usd",
            o=org_id,
            b=monthly_budget_usd,
        )

    def org_budget(self, org_id: str) -> Decimal | None:
        rows = self._run(lambda conn: conn.run("SELECT monthly_budget_usd FROM orgs WHERE org_id = :o", o=org_id))
        return rows[0][0] if rows else None

    def insert_key(self, record: KeyRecord) -> None:
        run_once(
            self.pool,
            f"INSERT INTO api_keys ({_KEY_COLUMNS}) VALUES (:key_id, :key_hash, :display_prefix, :region, :org_id, "
            ":team_id, :user_id, :budget, CAST(:allow AS text[]), :expires_at, :created_at, :revoked_at)",
            key_id=record.key_id,
            key_hash=record.key_hash,
            display_prefix=record.display_prefix,
            region=record.region,
            org_id=record.org_id,
            team_id=record.team_id,
            user_id=record.user_id,
            budget=record.monthly_budget_usd,
            allow=list(record.model_allowlist) if record.model_allowlist else None,
            expires_at=record.expires_at,
            created_at=record.created_at,
            revoked_at=record.revoked_at,
        )

    def find_key_by_hash(self, key_hash: bytes) -> KeyRecord | None:
        rows = self._run(lambda conn: conn.run(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_hash = :h", h=key_hash))
        return _key(rows[0]) if rows else None

    def list_keys(self, *, region: str | None = None, org_id: str | None = None) -> list[KeyRecord]:
        rows = run_once(
            self.pool,
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE (CAST(:r AS text) IS NULL OR region = :r) "
            "AND (CAST(:o AS text) IS NULL OR org_id = :o) ORDER BY created_at, key_id",
            r=region,
            o=org_id,
        )
        return [_key(row) for row in rows]

    def revoke_key(self, key_id: str, at: datetime) -> bool:
        rows = run_once(
            self.pool,
            "UPDATE api_keys SET revoked_at = :t WHERE key_id = :k AND revoked_at IS NULL RETURNING key_id",
            t=at,
            k=key_id,
        )
        return bool(rows)

    def update_key_settings(
        self,
        key_id: str,
        *,
        region: str,
        org_id: str | None,
        monthly_budget_usd: Decimal | None,
        model_allowlist: tuple[str, ...] | None,
        expires_at: datetime | None,
    ) -> bool:
        rows = run_once(
            self.pool,
            "UPDATE api_keys SET monthly_budget_usd = :b, model_allowlist = CAST(:m AS text[]), expires_at = :x "
            "WHERE key_id = :k AND region = :r AND (CAST(:o AS text) IS NULL OR org_id = :o) AND revoked_at IS NULL "
            "RETURNING key_id",
            b=monthly_budget_usd,
            m=list(model_allowlist) if model_allowlist else None,
            x=expires_at,
            k=key_id,
            r=region,
            o=org_id,
        )
        return bool(rows)

    # --- audit and spend ----------------------------------------------------------------------------------
    def write_audit_events(self, events: Sequence[Mapping[str, Any]]) -> int:
        """One transaction per batch: a multi-row insert that skips request ids already written, then the
        rollups and violations of the rows actually inserted (so a redelivery never double-counts)."""
        parsed = [parsed_event(e) for e in events]
        if not parsed:
            return 0

        def write(conn: Any) -> int:
            for month in {migrations.month_start(e["created_at"].date()) for e in parsed} - self._known_partitions:
                migrations.ensure_partition(conn, month)
                self._known_partitions.add(month)
            new = 0
            conn.run("BEGIN")
            try:
                for start in range(0, len(parsed), _BATCH):
                    new += self._write_batch(conn, parsed[start : start + _BATCH])
                conn.run("COMMIT")
            except Exception as exc:
                if not connection_lost(exc):
                    with contextlib.suppress(Exception):
                        conn.run("ROLLBACK")
                raise  # on a lost connection nothing to roll back: the server discarded the transaction on a dead connection; the server discarded the transaction
            except BaseException:
                conn.run("ROLLBACK")
                raise
            return new

        return self._run(write)  # safe to repeat: inserts skip request ids already written

    @staticmethod
    def _write_batch(conn: Any, batch: Sequence[ParsedEvent]) -> int:
        # Three fixed statements, each with one JSON parameter (the rows): the SQL text never depends on the
        # batch size, so pg8000's per-character placeholder parser (quadratic in the number of named
        # parameters) and PostgreSQL's parse and plan stay constant per batch instead of growing with it.
        unique: dict[str, ParsedEvent] = {}
        for e in batch:
            unique.setdefault(e["request_id"], e)  # the same message twice in one batch
        inserted = _run_fixed(conn, _INSERT_AUDIT, rows=_json([_audit_row(e) for e in unique.values()]))
        written = [unique[row[0]] for row in inserted]
        if not written:
            return 0
        # Their costs are in the rollups from now on: their spend holds stop counting in the same transaction.
        # The ids as one array literal: parse_event has normalised each to a UUID's canonical text (hex digits and
        # dashes, nothing to quote); a Python list would be escaped by pg8000 character by character.
        _run_fixed(
            conn,
            "DELETE FROM spend_holds WHERE request_id = ANY(CAST(:ids AS uuid[]))",
            ids="{" + ",".join(str(e["request_id"]) for e in written) + "}",
        )
        rollups: dict[tuple[date, str, str], list[Any]] = {}
        violations = []
        for e in written:
            for scope, scope_id in rollup_scopes(e):
                row = rollups.setdefault((e["created_at"].date(), scope, scope_id), [0, 0, 0, Decimal(0)])
                row[0] += 1
                row[1] += e["input_tokens"]
                row[2] += e["output_tokens"]
                row[3] += e["cost_usd"]
            violations += [(e, v) for v in e["violations"]]
        if rollups:
            _run_fixed(
                conn,
                _UPSERT_SPEND,
                rows=_json(
                    [
                        {
                            "day": day.isoformat(),
                            "scope": scope,
                            "scope_id": scope_id,
                            "requests": requests,
                            "input_tokens": tokens_in,
                            "output_tokens": tokens_out,
                            "cost_usd": str(cost),
                        }
                        for (day, scope, scope_id), (requests, tokens_in, tokens_out, cost) in rollups.items()
                    ]
                ),
            )
        if violations:
            _run_fixed(
                conn,
                _INSERT_VIOLATIONS,
                rows=_json(
                    [
                        {
                            "request_id": e["request_id"],
                            "created_at": e["created_at"].isoformat(),
                            "key_id": e["key_id"],
                            "org_id": e["org_id"],
                            "detector": v["detector"],
                            "action": v["action"],
                            "message": v["message"],
                        }
                        for e, v in violations
                    ]
                ),
            )
        return len(written)

    def month_spend(self, scope: str, scope_id: str, month: date) -> Decimal:
        start = migrations.month_start(month)
        rows = self._run(
            lambda conn: conn.run(
                "SELECT COALESCE(SUM(cost_usd), 0) FROM daily_spend WHERE scope = :s AND scope_id = :i "
                "AND day >= :a AND day < :b",
                s=scope,
                i=scope_id,
                a=start,
                b=migrations.add_months(start, 1),
            )
        )
        return Decimal(rows[0][0])

    def spend(self, *, scope: str, scope_id: str | None = None, since: date | None = None) -> list[SpendRow]:
        with self.pool.connection() as conn:
            rows = conn.run(
                "SELECT day, scope, scope_id, requests, input_tokens, output_tokens, cost_usd FROM daily_spend "
                "WHERE scope = :s AND (CAST(:i AS text) IS NULL OR scope_id = :i) AND (CAST(:d AS date) IS NULL OR day >= :d) "
                "ORDER BY day, scope_id",
                s=scope,
                i=scope_id,
                d=since,
            )
        return [SpendRow(r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5]), Decimal(r[6])) for r in rows]
