"""The pending-transaction queue (SPEC §6, §9): admitted transactions, durably stored until a block holds them.

A side table in the ledger's own database, beside the API's others (service.api_store),
never one of the ledger's four append-only tables:

    api_pending(seq, hash, body, received, refused, refused_at, tag)

A submitted transaction is *acknowledged* when its row is committed here (SQLite
WAL with synchronous=FULL, PostgreSQL with synchronous_commit on: on disk before
the reply).  From then on it is the committer's: whichever worker holds the
committer lock reads the queue in `seq` order, commits blocks, and deletes the
rows a block now holds (the ledger keeps them; the queue is only a queue, which is
why it may delete).  A row the ledger refuses (a replayed or out-of-order nonce) is
kept with the reason, so the worker that took the request can answer 422.

A worker killed at any point loses nothing acknowledged: before its COMMIT the
client had no answer; after it the row waits for the next committer.  A block that
landed before its rows were deleted is harmless: `batch` skips every row whose
hash the ledger already holds (and the ledger's primary key on the hash would
refuse a second copy anyway).

`tag` is an HMAC of the body under a key only the node key can make (`admission_key`,
`row_tag`): the worker that admitted the row checked its signature (service.submission),
so the committer (service.committer) need not check it again.  A row without a valid tag
is checked in full.

Each instance owns one connection, so a thread that enqueues (and waits for an
fsync) never holds up the API's other side-table reads.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import select
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

from coopchain.chain.store import database_url

_SQLITE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS api_pending (seq INTEGER PRIMARY KEY AUTOINCREMENT, hash BLOB NOT NULL UNIQUE, body BLOB NOT NULL,"
    " received REAL NOT NULL, refused TEXT, refused_at REAL, tag BLOB)",
)
_POSTGRES_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS api_pending (seq BIGSERIAL PRIMARY KEY, hash BYTEA NOT NULL UNIQUE, body BYTEA NOT NULL,"
    " received DOUBLE PRECISION NOT NULL, refused TEXT, refused_at DOUBLE PRECISION, tag BYTEA)",
)
# Submitting a transaction again is idempotent; one refused before may be tried again (its nonce may fit now).
_ENQUEUE = ("INSERT INTO api_pending (hash, body, received, tag) VALUES (?, ?, ?, ?) ON CONFLICT (hash) DO UPDATE "
            "SET refused = NULL, refused_at = NULL, received = excluded.received, tag = excluded.tag WHERE api_pending.refused IS NOT NULL")
# A queue table made before the tag column: the column is added (rows without a tag are checked in full).
_TAG_COLUMN = {"sqlite": "ALTER TABLE api_pending ADD COLUMN tag BLOB", "postgresql": "ALTER TABLE api_pending ADD COLUMN IF NOT EXISTS tag BYTEA"}
PENDING_CHANNEL, SETTLED_CHANNEL = "coopchain_pending", "coopchain_settled"  # PostgreSQL NOTIFY channels (Wakeups)
KEEP_REFUSED_S = 3600.0  # a refusal stays readable this long, for a client that polls late
log = logging.getLogger("coopchain.pending")
_SCHEMA_LOCK = 727273  # PostgreSQL advisory key: two workers starting together make the table once


@dataclass(frozen=True)
class PendingRow:
    seq: int
    hash: bytes
    body: bytes
    received: float  # time.time() when acknowledged
    tag: bytes | None = None  # the admitting worker's HMAC of the body (service.submission)


class PendingQueue:
    """The queue at a database URL (sqlite:///… or postgresql://…), its table made on first use."""

    def __init__(self, url: str | None) -> None:
        self.url = database_url(url)
        self._lock = threading.Lock()
        self.postgres = urlparse(self.url).scheme != "sqlite"
        self._ph = "%s" if self.postgres else "?"
        self._conn = self._connect()
        # SQLite on Linux: where `enqueue` and `settle` ring (Doorbell), and the socket they ring with.
        self._ringer = None
        pending_bell = None if self.postgres else doorbell_address(self.url, PENDING_CHANNEL)
        if pending_bell is not None:
            self._pending_bell = [pending_bell]
            self._settled_bells = [doorbell_address(self.url, SETTLED_CHANNEL, slot) for slot in range(SETTLED_DOORBELLS)]
            self._ringer = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._ringer.setblocking(False)
        if self.postgres:
            with self._conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
                try:
                    for statement in _POSTGRES_SCHEMA:
                        cur.execute(statement)
                    cur.execute(_TAG_COLUMN["postgresql"])
                finally:
                    cur.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))
        else:
            for statement in _SQLITE_SCHEMA:
                self._conn.execute(statement)
            if "tag" not in {row[1] for row in self._conn.execute("PRAGMA table_info(api_pending)")}:
                try:
                    self._conn.execute(_TAG_COLUMN["sqlite"])
                except sqlite3.OperationalError:  # another worker added it first
                    pass

    def _connect(self):
        if self.postgres:
            import psycopg

            return psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        conn = sqlite3.connect(urlparse(self.url).path[1:], isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=60000")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # an acknowledged row is on disk
        return conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            if self._ringer is not None:
                self._ringer.close()

    def _transaction(self, statements: Sequence[tuple[str, Sequence]]) -> list:
        """Run (sql, rows) pairs in one database transaction (one fsync); each sql is run once per row,
        or once with no parameters for rows=None.  A PostgreSQL connection the server dropped is
        opened again and the whole transaction retried (every statement here is idempotent)."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    return self._run_transaction(statements)
                except Exception:
                    if not self.postgres or attempt == 2 or not (self._conn.closed or self._conn.broken):
                        raise
                    self._conn = self._connect()
        raise AssertionError("unreachable")

    def _run_transaction(self, statements) -> list:
        out = []
        if self.postgres:
            with self._conn.transaction(), self._conn.cursor() as cur:
                for sql, rows in statements:
                    if rows is None:
                        cur.execute(sql.replace("?", "%s"))
                    else:
                        cur.executemany(sql.replace("?", "%s"), rows)
                    out.append(cur.rowcount)
            return out
        cur = self._conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            for sql, rows in statements:
                if rows is None:
                    cur.execute(sql)
                else:
                    cur.executemany(sql, rows)
                out.append(cur.rowcount)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        return out

    def _query(self, sql: str, args: Sequence = ()) -> list:
        with self._lock:
            for attempt in (1, 2):
                try:
                    cur = self._conn.cursor()
                    try:
                        cur.execute(sql.replace("?", self._ph), tuple(args))
                        return cur.fetchall()
                    finally:
                        cur.close()
                except Exception:
                    if not self.postgres or attempt == 2 or not (self._conn.closed or self._conn.broken):
                        raise
                    self._conn = self._connect()
        raise AssertionError("unreachable")

    # -- the submitting side -------------------------------------------------------
    def enqueue(self, items: Sequence[tuple[bytes, bytes] | tuple[bytes, bytes, bytes | None]]) -> None:
        """Store (hash, canonical body[, tag]) in one database transaction: on return they are acknowledged.
        The committer, listening, is woken once the transaction commits: PostgreSQL's NOTIFY (Wakeups), else a Doorbell."""
        now = time.time()
        statements = [(_ENQUEUE, [(item[0], item[1], now, item[2] if len(item) > 2 else None) for item in items])]
        if self.postgres:
            statements.append((f"SELECT pg_notify('{PENDING_CHANNEL}', '')", None))
        self._transaction(statements)
        if self._ringer is not None:
            ring(self._ringer, self._pending_bell)

    def refusals(self, since: float) -> list[tuple[bytes, str, float]]:
        """(hash, reason, when) of the transactions refused at or after `since` (time.time())."""
        return [(bytes(h), r, float(t)) for h, r, t in self._query(
            "SELECT hash, refused, refused_at FROM api_pending WHERE refused_at >= ?", (since,))]

    def refusal(self, tx_hash: bytes) -> str | None:
        rows = self._query("SELECT refused FROM api_pending WHERE hash = ?", (tx_hash,))
        return rows[0][0] if rows else None

    # -- the committer's side ------------------------------------------------------
    def batch(self, limit: int) -> tuple[list[PendingRow], list[int]]:
        """The oldest `limit` rows still to commit, and the seqs of rows the ledger already holds
        (a block that landed before its rows were deleted: a committer killed in between)."""
        rows = self._query(
            "SELECT p.seq, p.hash, p.body, p.received, p.tag, EXISTS (SELECT 1 FROM transactions t WHERE t.hash = p.hash) "
            "FROM api_pending p WHERE p.refused IS NULL ORDER BY p.seq LIMIT ?", (limit,))
        live = [PendingRow(int(s), bytes(h), bytes(b), float(r), None if t is None else bytes(t)) for s, h, b, r, t, done in rows if not done]
        return live, [int(row[0]) for row in rows if row[-1]]

    def waiting_summary(self) -> tuple[int, float]:
        """(rows still to commit, when the oldest of them was acknowledged): what cutting a block needs to know."""
        count, oldest = self._query("SELECT COUNT(*), MIN(received) FROM api_pending WHERE refused IS NULL")[0]
        return int(count), 0.0 if oldest is None else float(oldest)

    def settle(self, committed_seqs: Sequence[int], refused: Sequence[tuple[int, str]]) -> None:
        """Delete the rows a committed block holds, mark refused ones with their reason, drop old refusals."""
        now = time.time()
        statements = [
            ("DELETE FROM api_pending WHERE seq = ?", [(s,) for s in committed_seqs]),
            ("UPDATE api_pending SET refused = ?, refused_at = ? WHERE seq = ?", [(reason, now, s) for s, reason in refused]),
            ("DELETE FROM api_pending WHERE refused_at < ?", [(now - KEEP_REFUSED_S,)]),
        ]
        if self.postgres and (committed_seqs or refused):  # the block is committed before: its waiters may look now
            statements.append((f"SELECT pg_notify('{SETTLED_CHANNEL}', '')", None))
        self._transaction(statements)
        if self._ringer is not None and (committed_seqs or refused):
            ring(self._ringer, self._settled_bells)


ADMISSION_TAG_INFO = b"coopchain api_pending admission tag v2"  # v1 was a hash of a signature: its tags check as no tag


def admission_key(node_key) -> bytes | None:
    """The key of the pending queue's row tags: HKDF-SHA256 of an Ed25519 node key's seed for this one purpose,
    so every worker holding the node key makes the same key and nothing else can.  None for a P-256 node key
    (no seed): then every row is checked in full at commit, as is a row tagged under another key."""
    if node_key is None or node_key.scheme != "ed25519":
        return None
    return node_key.derive_secret(ADMISSION_TAG_INFO)


def row_tag(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()


class Wakeups:
    """PostgreSQL LISTEN/NOTIFY between the processes: `callbacks[channel]()` runs (on a thread of its own)
    when another worker's transaction that notified on that channel commits.

    Rows queued (PENDING_CHANNEL) wake the committer; rows settled after a block (SETTLED_CHANNEL)
    wake the workers waiting for receipts.  A wake-up is only a hint: each side still looks at the
    database itself, now and then without one, so a notification lost with a dropped connection
    delays an answer by that poll interval and loses nothing."""

    def __init__(self, url: str, callbacks: dict) -> None:
        self.url, self.callbacks = url, callbacks
        self._closed = threading.Event()
        self._conn = None
        self._thread = threading.Thread(target=self._run, name="wakeups", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psycopg

        while not self._closed.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=10, application_name=f"coopchain wakeups {os.getpid()}") as conn:
                    for channel in self.callbacks:
                        conn.execute(f"LISTEN {channel}")
                    while not self._closed.is_set():
                        for note in conn.notifies(timeout=0.5):
                            self.callbacks[note.channel]()
            except Exception:  # the server went away: the pollers carry on until it is back
                self._closed.wait(1.0)

    def close(self) -> None:
        self._closed.set()
        self._thread.join(5)


class CommitterLock:
    """Who commits: one worker at a time holds this lock, the others only enqueue.

    PostgreSQL: a session-level advisory lock on a connection of its own; SQLite: an
    exclusive `flock` on a file beside the database.  Either is released by the
    operating system or the server when its holder dies (kill -9 included), so another
    worker takes over within its next try."""

    KEY = 0x636F_6F70_636F_6D6D  # b"coopcomm": apart from the ledger's own write lock

    def __init__(self, url: str | None) -> None:
        self.url = database_url(url)
        self.postgres = urlparse(self.url).scheme != "sqlite"
        self._conn = None
        self._file = None

    def acquire(self) -> bool:
        """Take the lock if it is free; True if this process holds it now."""
        if self.held():
            return True
        if self.postgres:
            import psycopg

            try:
                if self._conn is None or self._conn.closed or self._conn.broken:
                    self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10, application_name=f"coopchain committer {os.getpid()}")
                return bool(self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.KEY,)).fetchone()[0])
            except psycopg.OperationalError:
                return False
        import fcntl

        handle = open(urlparse(self.url).path[1:] + ".committer", "a+b")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def held(self) -> bool:
        """Still held: a PostgreSQL connection the server dropped has lost it."""
        if self.postgres:
            if self._conn is None or self._conn.closed or self._conn.broken:
                return False
            try:  # a cheap round trip: a dead connection shows itself here
                return bool(self._conn.execute(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted "
                    "AND classid = %s::oid AND objid = %s::oid AND objsubid = 1)",
                    ((self.KEY >> 32) & 0xFFFF_FFFF, self.KEY & 0xFFFF_FFFF)).fetchone()[0])
            except Exception:
                return False
        return self._file is not None

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()  # the server releases a session's advisory locks with it
            self._conn = None
        if self._file is not None:
            self._file.close()  # closing the descriptor releases the flock
            self._file = None


SETTLED_DOORBELLS = 32  # workers on one SQLite file whose watchers a settled block rings (more poll)


def doorbell_address(url: str, channel: str, slot: int = 0) -> bytes | None:
    """A Linux abstract socket name for `channel` of the queue of this SQLite file (no file to leave behind, no
    length limit on the database's path); None elsewhere, where the listeners poll."""
    if not sys.platform.startswith("linux"):
        return None
    path = os.path.realpath(urlparse(url).path[1:])
    return f"\0{channel}-{hashlib.sha256(path.encode()).hexdigest()[:32]}-{slot}".encode()


class Doorbell:
    """SQLite's stand-in for PostgreSQL's NOTIFY between the processes of one machine (one network namespace:
    abstract socket names live there): `callback()` runs, on a thread of its own, when a datagram reaches one
    of `addresses` (the first free one is taken).  PENDING_CHANNEL: the committer holding the lock listens
    and each enqueue rings it; SETTLED_CHANNEL: each worker's watcher listens on a slot of its own and each
    settled block rings every slot.  A ring is a hint, as a NOTIFY is: the listeners still look now and then
    (every 0.1 s), and a writer in another namespace (a container sharing the file) rings no one.

    OSError when it cannot listen (not Linux, every address taken): the listener then polls every few ms."""

    def __init__(self, addresses: list[bytes | None], callback) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        for address in addresses:
            if address is None:
                continue
            try:
                self._sock.bind(address)
                break
            except OSError:  # EADDRINUSE: another listener's
                continue
        else:
            self._sock.close()
            raise OSError("no doorbell address to listen on")
        self._sock.setblocking(False)
        self._closed = False
        self._thread = threading.Thread(target=self._run, args=(callback,), name="doorbell", daemon=True)
        self._thread.start()

    def _run(self, callback) -> None:
        poller = select.poll()  # not select.select: a descriptor past 1024 is fine
        poller.register(self._sock, select.POLLIN)
        while not self._closed:
            try:
                if not poller.poll(500):  # half a second: a close() that found nothing to wake it is seen then
                    continue
                while True:  # the rings that came meanwhile: one wake-up for all of them
                    self._sock.recv(16)
            except BlockingIOError:
                pass
            except Exception as e:  # never a dead listener its owner believes alive: its owner polls behind it anyway
                if self._closed:
                    return
                log.error("a doorbell failed: %r", e)
                time.sleep(0.1)
                continue
            if not self._closed:
                callback()

    def close(self) -> None:
        self._closed = True
        try:  # wake the thread now rather than at its poll's timeout
            self._sock.sendto(b"\x00", self._sock.getsockname())
        except OSError:
            pass
        self._thread.join(2)
        self._sock.close()


def ring(ringer: socket.socket, addresses) -> None:
    """One datagram to each listening address; dropped where no one listens (ECONNREFUSED) or a buffer is full."""
    for address in addresses:
        try:
            ringer.sendto(b"\x01", address)
        except OSError:
            pass
