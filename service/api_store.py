"""The API's side tables, in the ledger's own database but outside the ledger (SPEC §6).

- ``api_keys``: who may call the API.  Only SHA-256 of each key's secret is kept
  (the secret is 256 random bits, so a fast hash is enough: there is nothing to
  guess), and a presented key is compared in constant time (`hmac.compare_digest`).
  An API worker keeps the keys it has seen for `key_cache_s` (one second by
  default): a read then costs no query.  A revocation through this instance is
  seen at once; one made elsewhere (another worker, `coopchain keys api revoke`)
  within that time.
- ``api_problems``: uploaded problem documents by content hash, canonical text.
- ``api_jobs``: front jobs, their progress and result, so that any worker can
  answer for a job another worker runs (several workers share one database).

These are operational tables, not the ledger: the append-only rules and triggers
of chain.store cover the four ledger tables, which this module never touches.  A
key's revocation and a job's progress are updates here for that reason.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlparse

from coopchain.chain.store import database_url

ROLES = ("admin", "manager", "auditor", "participant")
KEY_PREFIX = "cck"
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
HEARTBEAT_S = 5.0  # a running job touches its row this often
_JOB_POOL_LOCK = 727274  # PostgreSQL advisory key serialising job creation across workers
_KNOWN_KEYS = 10_000  # live keys an API worker keeps in memory (ApiStore.authenticate)
LOST_AFTER_S = 60.0  # a running job silent this long lost its process (an API worker killed with it)

_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (id TEXT PRIMARY KEY, secret_hash BLOB NOT NULL, role TEXT NOT NULL,
    cooperatives TEXT NOT NULL, label TEXT NOT NULL, created REAL NOT NULL, revoked REAL);
CREATE TABLE IF NOT EXISTS api_problems (hash TEXT PRIMARY KEY, cooperative TEXT NOT NULL, round TEXT NOT NULL,
    canonical TEXT NOT NULL, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS api_problems_by_cooperative ON api_problems (cooperative, created);
CREATE TABLE IF NOT EXISTS api_jobs (id TEXT PRIMARY KEY, cooperative TEXT NOT NULL, problem TEXT NOT NULL,
    request TEXT NOT NULL, state TEXT NOT NULL, progress REAL NOT NULL, message TEXT NOT NULL, result TEXT,
    cancel INTEGER NOT NULL, created REAL NOT NULL, updated REAL NOT NULL);
"""
_POSTGRES_SCHEMA = (
    _SQLITE_SCHEMA.replace("BLOB", "BYTEA").replace("REAL", "DOUBLE PRECISION").replace("cancel INTEGER", "cancel BIGINT")
)


class ApiKeyRequestError(Exception):
    """A key request that cannot be met (unknown role, a manager without cooperatives)."""


@dataclass(frozen=True)
class ApiKey:
    id: str
    role: str
    cooperatives: tuple[str, ...]  # a manager's; empty for the other roles
    label: str
    created: float
    revoked: float | None = None


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    token: str  # shown once, never stored


@dataclass(frozen=True)
class StoredProblem:
    hash: str
    cooperative: str
    round: str
    canonical: str
    created: float


@dataclass(frozen=True)
class Job:
    id: str
    cooperative: str
    problem: str
    request: dict
    state: str
    progress: float
    message: str
    result: dict | None
    cancel: bool
    created: float
    updated: float

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")


def _secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _of_cooperatives(cooperatives: tuple[str, ...] | None) -> tuple[str, tuple] | None:
    """(WHERE clause, its arguments) keeping the rows of `cooperatives` (None: every row); None when no row can be kept."""
    if cooperatives is None:
        return "", ()
    if not cooperatives:
        return None
    return "WHERE cooperative IN (" + ", ".join("?" * len(cooperatives)) + ")", tuple(cooperatives)


class ApiStore:
    """The side tables at a database URL (sqlite:///… or postgresql://…), made on first use."""

    def __init__(self, url: str | None, key_cache_s: float = 0.0) -> None:
        self.url = database_url(url)
        self._lock = threading.Lock()
        # key id -> (stored secret hash, key, time.monotonic() past which it is read again).
        # Only live keys are kept, and only by id: an unknown or revoked key is always looked up.
        self._key_cache_s = key_cache_s
        self._known: dict[str, tuple[bytes, ApiKey, float]] = {}
        self._revocations = 0  # a lookup that raced a revocation is not kept
        scheme = urlparse(self.url).scheme
        if scheme == "sqlite":
            path = urlparse(self.url).path[1:]
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA busy_timeout=60000")
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.executescript(_SQLITE_SCHEMA)
            self._ph = "?"
        else:
            self._conn = self._connect()
            with self._conn.cursor() as cur:
                # Two workers starting together: one makes the tables, the other waits for it.
                cur.execute("SELECT pg_advisory_lock(727272)")
                try:
                    for statement in filter(str.strip, _POSTGRES_SCHEMA.split(";")):
                        cur.execute(statement)
                finally:
                    cur.execute("SELECT pg_advisory_unlock(727272)")
            self._ph = "%s"

    def _connect(self):
        import psycopg

        return psycopg.connect(self.url, autocommit=True, connect_timeout=10)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _run(self, sql: str, args: tuple = (), fetch: str | None = None):
        with self._lock:
            try:
                return self._execute(sql, args, fetch)
            except Exception:
                # A PostgreSQL connection the server dropped (restart, idle timeout) is opened once
                # more and the statement run again.  Each statement is idempotent or keyed: an
                # INSERT whose reply was lost is refused by its primary key, never doubled.
                if self._ph != "%s" or not self._conn.closed:
                    raise
                self._conn = self._connect()
                return self._execute(sql, args, fetch)

    def _execute(self, sql: str, args: tuple, fetch: str | None):
        cur = self._conn.cursor()
        try:
            cur.execute(sql.replace("?", self._ph), args)
            if fetch == "one":
                return cur.fetchone()
            if fetch == "all":
                return cur.fetchall()
            return cur.rowcount
        finally:
            cur.close()

    # -- API keys ------------------------------------------------------------------
    def create_key(self, role: str, cooperatives: tuple[str, ...] = (), label: str = "") -> NewKey:
        if role not in ROLES:
            raise ApiKeyRequestError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
        cooperatives = tuple(dict.fromkeys(c.strip() for c in cooperatives if c.strip()))
        if role == "manager" and not cooperatives:
            raise ApiKeyRequestError("a manager's key names the cooperatives it manages")
        if role != "manager" and cooperatives:
            raise ApiKeyRequestError(f"only a manager's key names cooperatives, not a {role}'s")
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        key = ApiKey(key_id, role, cooperatives, label, time.time())
        self._run("INSERT INTO api_keys (id, secret_hash, role, cooperatives, label, created) VALUES (?, ?, ?, ?, ?, ?)",
                  (key.id, _secret_hash(secret), role, json.dumps(list(cooperatives)), label, key.created))
        return NewKey(key, f"{KEY_PREFIX}_{key_id}_{secret}")

    def authenticate(self, token: str) -> ApiKey | None:
        """The live key this token is, or None.  The secret is compared in constant time."""
        prefix, _, rest = token.partition("_")
        key_id, _, secret = rest.partition("_")
        if prefix != KEY_PREFIX or len(key_id) != 16 or not secret:
            return None
        presented = _secret_hash(secret)
        known = self._known.get(key_id)
        if known is not None and known[2] > time.monotonic():
            # A key's id and secret hash never change once made, so the stored hash compared here is
            # the row's; what may change (revocation) is re-read at the deadline or dropped by revoke_key.
            return known[1] if hmac.compare_digest(presented, known[0]) else None
        revocations = self._revocations
        row = self._run("SELECT id, secret_hash, role, cooperatives, label, created, revoked FROM api_keys WHERE id = ?", (key_id,), "one")
        stored = bytes(row[1]) if row is not None else bytes(32)
        # Compared even when the id is unknown, so timing does not tell ids apart.
        if not hmac.compare_digest(presented, stored) or row is None or row[6] is not None:
            self._known.pop(key_id, None)
            return None
        key = self._key(row)
        if self._key_cache_s > 0 and revocations == self._revocations:
            if len(self._known) >= _KNOWN_KEYS:  # bounded: live keys only, but an operator may make many
                self._known.clear()
            self._known[key_id] = (stored, key, time.monotonic() + self._key_cache_s)
        return key

    @staticmethod
    def _key(row) -> ApiKey:
        return ApiKey(row[0], row[2], tuple(json.loads(row[3])), row[4], float(row[5]), None if row[6] is None else float(row[6]))

    def keys(self, offset: int, limit: int) -> tuple[list[ApiKey], int]:
        rows = self._run("SELECT id, secret_hash, role, cooperatives, label, created, revoked FROM api_keys ORDER BY created, id LIMIT ? OFFSET ?", (limit, offset), "all")
        count = self._run("SELECT COUNT(*) FROM api_keys", (), "one")[0]
        return [self._key(r) for r in rows], int(count)

    def key(self, key_id: str) -> ApiKey | None:
        row = self._run("SELECT id, secret_hash, role, cooperatives, label, created, revoked FROM api_keys WHERE id = ?", (key_id,), "one")
        return None if row is None else self._key(row)

    def revoke_key(self, key_id: str) -> ApiKey | None:
        # Before and after the UPDATE: a lookup that read the row in between is not kept (authenticate).
        self._revocations += 1
        self._known.pop(key_id, None)
        self._run("UPDATE api_keys SET revoked = ? WHERE id = ? AND revoked IS NULL", (time.time(), key_id))
        self._revocations += 1
        self._known.pop(key_id, None)
        return self.key(key_id)

    # -- problems ------------------------------------------------------------------
    def put_problem(self, digest: str, cooperative: str, round_: str, canonical: str) -> StoredProblem:
        """Store a problem under its content hash; storing the same document again changes nothing."""
        self._run("INSERT INTO api_problems (hash, cooperative, round, canonical, created) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                  (digest, cooperative, round_, canonical, time.time()))
        return self.problem(digest)

    def problem(self, digest: str) -> StoredProblem | None:
        row = self._run("SELECT hash, cooperative, round, canonical, created FROM api_problems WHERE hash = ?", (digest,), "one")
        return None if row is None else StoredProblem(row[0], row[1], row[2], row[3], float(row[4]))

    def problems(self, cooperatives: tuple[str, ...] | None, offset: int, limit: int) -> tuple[list[StoredProblem], int]:
        """A page of problems, newest first; `cooperatives` None: all of them."""
        scope = _of_cooperatives(cooperatives)
        if scope is None:  # a manager of no cooperative sees none
            return [], 0
        where, args = scope
        rows = self._run(f"SELECT hash, cooperative, round, canonical, created FROM api_problems {where} ORDER BY created DESC, hash LIMIT ? OFFSET ?", args + (limit, offset), "all")
        count = self._run(f"SELECT COUNT(*) FROM api_problems {where}", args, "one")[0]
        return [StoredProblem(r[0], r[1], r[2], r[3], float(r[4])) for r in rows], int(count)

    # -- jobs ----------------------------------------------------------------------
    def create_job(self, cooperative: str, problem: str, request: dict, limit: int) -> Job | None:
        """A queued job, or None when `limit` jobs are already queued or running (the pool is full).

        The count and the insert are one database transaction under a lock (SQLite's write lock,
        taken by BEGIN IMMEDIATE; a PostgreSQL advisory lock), so workers creating jobs at the
        same moment see each other's: the limit holds over all workers, never overshot."""
        job_id = secrets.token_hex(12)
        now = time.time()
        self._fail_lost_jobs()
        with self._lock:
            created = self._atomically(lambda cur: self._create_job(cur, job_id, cooperative, problem, request, limit, now))
        return self.job(job_id) if created else None

    def _create_job(self, cur, job_id: str, cooperative: str, problem: str, request: dict, limit: int, now: float) -> bool:
        ph = self._ph
        cur.execute("SELECT COUNT(*) FROM api_jobs WHERE state IN ('queued', 'running')")
        if int(cur.fetchone()[0]) >= limit:
            return False
        cur.execute("INSERT INTO api_jobs (id, cooperative, problem, request, state, progress, message, result, cancel, created, updated) "
                    f"VALUES ({ph}, {ph}, {ph}, {ph}, 'queued', 0, 'queued', NULL, 0, {ph}, {ph})", (job_id, cooperative, problem, json.dumps(request), now, now))
        return True

    def _atomically(self, work):
        """Run work(cursor) in one database transaction holding the job-pool lock; the caller holds self._lock."""
        if self._ph == "?":
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")  # the write lock before the count: other workers wait
            try:
                out = work(cur)
                cur.execute("COMMIT")
                return out
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.close()
        if self._conn.closed:
            self._conn = self._connect()
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_JOB_POOL_LOCK,))
            return work(cur)

    def _fail_lost_jobs(self) -> None:
        self._run("UPDATE api_jobs SET state = 'failed', message = ?, updated = ? WHERE state = 'running' AND updated < ?",
                  (f"lost: the process running it stopped (no heartbeat for {LOST_AFTER_S:.0f} s)", time.time(), time.time() - LOST_AFTER_S))

    def job_heartbeat(self, job_id: str) -> None:
        self._run("UPDATE api_jobs SET updated = ? WHERE id = ? AND state = 'running'", (time.time(), job_id))

    def job(self, job_id: str) -> Job | None:
        self._fail_lost_jobs()
        row = self._run("SELECT id, cooperative, problem, request, state, progress, message, result, cancel, created, updated FROM api_jobs WHERE id = ?", (job_id,), "one")
        if row is None:
            return None
        return Job(row[0], row[1], row[2], json.loads(row[3]), row[4], float(row[5]), row[6], None if row[7] is None else json.loads(row[7]),
                   bool(row[8]), float(row[9]), float(row[10]))

    def jobs(self, cooperatives: tuple[str, ...] | None, offset: int, limit: int) -> tuple[list[Job], int]:
        scope = _of_cooperatives(cooperatives)
        if scope is None:  # a manager of no cooperative sees none
            return [], 0
        where, args = scope
        rows = self._run(f"SELECT id FROM api_jobs {where} ORDER BY created DESC, id LIMIT ? OFFSET ?", args + (limit, offset), "all")
        count = self._run(f"SELECT COUNT(*) FROM api_jobs {where}", args, "one")[0]
        return [self.job(r[0]) for r in rows], int(count)

    def job_progress(self, job_id: str, state: str, progress: float, message: str) -> None:
        self._run("UPDATE api_jobs SET state = ?, progress = ?, message = ?, updated = ? WHERE id = ? AND state IN ('queued', 'running')",
                  (state, progress, message, time.time(), job_id))

    def job_finish(self, job_id: str, state: str, message: str, result: dict | None = None) -> None:
        self._run("UPDATE api_jobs SET state = ?, progress = CASE WHEN ? = 'done' THEN 1 ELSE progress END, message = ?, result = ?, updated = ? "
                  "WHERE id = ? AND state IN ('queued', 'running')",
                  (state, state, message, None if result is None else json.dumps(result), time.time(), job_id))

    def job_cancel(self, job_id: str) -> None:
        """Ask a job to stop: a queued one is cancelled at once, a running one at its next progress report."""
        self._run("UPDATE api_jobs SET cancel = 1, updated = ? WHERE id = ?", (time.time(), job_id))
        self._run("UPDATE api_jobs SET state = 'cancelled', message = 'cancelled before it started', updated = ? WHERE id = ? AND state = 'queued'", (time.time(), job_id))

    def job_cancel_requested(self, job_id: str) -> bool:
        row = self._run("SELECT cancel FROM api_jobs WHERE id = ?", (job_id,), "one")
        return row is None or bool(row[0])
