"""The server store: PostgreSQL shared by several API workers (chain.store; SPEC §2, §9).

The same four append-only tables as SQLite (BYTEA for bytes, BIGINT for heights
and history positions).  Three guards keep them append-only: BEFORE UPDATE OR
DELETE row triggers and a BEFORE TRUNCATE statement trigger raise
``the ledger is append-only: …`` (SQLSTATE 23001, restrict_violation, so the
driver raises an IntegrityError as SQLite does), and UPDATE, DELETE and TRUNCATE
are revoked from PUBLIC.  The triggers bind the tables' owner and superusers
too; a superuser can still disable them, which is why `chain verify` re-derives
every stored byte instead of trusting the database.

One head, no forks, across processes and machines: a writer runs
``BEGIN ISOLATION LEVEL READ COMMITTED`` and takes the transaction-scoped
advisory lock `WRITE_LOCK_KEY` before it reads the head; the lock is released by
COMMIT or ROLLBACK (or by the server when the connection dies), so writers
queue, and each reads the head its predecessor committed (READ COMMITTED takes a
fresh snapshot per statement; a REPEATABLE READ or SERIALIZABLE snapshot would
be taken before the lock wait and miss the predecessor's block).  COMMIT returns
after the WAL is flushed (synchronous_commit on, forced if the server has it
off): an acknowledged block is on disk.

Two connections per store.  Reads use an autocommit connection, one statement
one snapshot, so a long-lived API worker sees every new block.  Writes use their
own connection, opened on first use and guarded by a thread lock, so a reader in
another thread never runs inside, sees, or aborts a half-built block.  While the
advisory lock is held nobody else can commit, so the ledger's reads through the
autocommit connection during a commit see exactly the head it builds on.  A
connection the server dropped is reopened on next use.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

from coopchain.chain.errors import StorageError
from coopchain.chain.store import OLD_SCHEMA, TABLES, SqlStore

try:
    import psycopg
    from psycopg import IsolationLevel, errors, sql
    from psycopg.conninfo import conninfo_to_dict
except ImportError as _missing:  # pragma: no cover - depends on the environment
    psycopg = None
    _import_error: ImportError | None = _missing
else:
    _import_error = None

# int.from_bytes(sha256(b"coopchain ledger writer").digest()[:8], "big", signed=True):
# a fixed 64-bit key in pg_advisory_xact_lock's space.  Advisory locks are per
# database, so ledgers in different databases of one cluster do not contend.
WRITE_LOCK_KEY = 0x218F_A99E_EFD7_4A8F
CONNECT_TIMEOUT_S = 10
LOCK_TIMEOUT_S = 60.0  # as SQLite's busy_timeout: a writer waits this long for the lock, then fails

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS blocks (height BIGINT PRIMARY KEY, hash BYTEA NOT NULL UNIQUE, header BYTEA NOT NULL)",
    # As SQLite's (chain/store_sqlite.py): transactions keyed by (height, position), hashes UNIQUE.
    "CREATE TABLE IF NOT EXISTS transactions (height BIGINT NOT NULL REFERENCES blocks (height), position INTEGER NOT NULL,"
    " hash BYTEA NOT NULL UNIQUE, body BYTEA NOT NULL, receipt BYTEA NOT NULL, PRIMARY KEY (height, position))",
    "CREATE TABLE IF NOT EXISTS trie_nodes (hash BYTEA NOT NULL UNIQUE, node BYTEA NOT NULL)",
    "CREATE TABLE IF NOT EXISTS history_nodes (level INTEGER NOT NULL, position BIGINT NOT NULL, hash BYTEA NOT NULL,"
    " PRIMARY KEY (level, position))",
)

# TG_OP is UPDATE, DELETE or TRUNCATE; restrict_violation is an integrity error.
REFUSE_FUNCTION = """
CREATE OR REPLACE FUNCTION coopchain_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$
"""

# (trigger name, timing and events, FOR EACH ROW or STATEMENT), created on every table.
TRIGGERS = (
    ("no_update_delete", "BEFORE UPDATE OR DELETE", "ROW"),
    ("no_truncate", "BEFORE TRUNCATE", "STATEMENT"),
)


def _describe(url: str) -> str:
    """`database 'x' at host:port as user 'u'`, never the password."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.Error as e:
        raise StorageError(f"not a PostgreSQL URL ({' '.join(str(e).split())}): use postgresql://USER@HOST:PORT/DATABASE") from e
    host = info.get("host") or "the default socket"
    where = f"{host}:{info.get('port') or 5432}"
    return f"database {info.get('dbname') or info.get('user') or '(default)'!r} at {where}" + (
        f" as user {info['user']!r}" if info.get("user") else ""
    )


def _scrub(text: str, url: str) -> str:
    """`text` with the URL's password, if any, replaced (libpq does not echo it; belt and braces)."""
    password = conninfo_to_dict(url).get("password")
    return text.replace(password, "***") if password else text


class PostgresStore(SqlStore):
    placeholder = "%s"

    def __init__(self, url: str, create: bool = False, *, lock_timeout_s: float = LOCK_TIMEOUT_S) -> None:
        super().__init__()
        if psycopg is None:  # pragma: no cover - depends on the environment
            raise StorageError(f"PostgreSQL needs the psycopg driver ({_import_error}): pip install 'psycopg[binary]'")
        self.url, self.where = url, _describe(url)
        self.lock_timeout_s = lock_timeout_s
        self._write_lock = threading.Lock()
        self._closed = False
        self._writer_conn = None
        self._reader = self._connect()
        try:
            if create:
                try:
                    with self._write_transaction() as cur:
                        self._create_schema(cur)
                except psycopg.Error as e:  # no CREATE privilege, for instance
                    raise StorageError(f"cannot create the ledger's tables in {self.where}: {' '.join(str(e).split())}") from e
            present = {r[0] for r in self._reader.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ANY(%s)",
                (list(TABLES),),
            )}
        except BaseException:
            self.close()
            raise
        missing = [t for t in TABLES if t not in present]
        if missing:
            self.close()
            hint = ": create one first (coopchain demo, or chain init)" if len(missing) == len(TABLES) else ""
            raise StorageError(f"{self.where} is not a coopchain ledger (tables {missing} are missing){hint}")
        columns = {r[0] for r in self._reader.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'transactions'")}
        if "receipt" not in columns:
            self.close()
            raise StorageError(OLD_SCHEMA.format(where=self.where))

    # -- connections -------------------------------------------------------------
    def _connect(self):
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.Error as e:
            reason = " ".join(_scrub(str(e), self.url).split())  # libpq's hint lines, on one line
            raise StorageError(f"cannot connect to PostgreSQL {self.where}: {reason}") from e

    def _live(self, conn):
        if self._closed:
            raise StorageError(f"the store for {self.where} is closed")
        return conn if conn is not None and not conn.closed and not conn.broken else None

    def _read_connection(self):
        if self._live(self._reader) is None:
            self._reader = self._connect()
        return self._reader

    def _cursor(self):
        return _ReadCursor(self)

    def _create_schema(self, cur) -> None:
        """Tables, refusal function, triggers and revocations; safe to run again and by racing creators
        (it runs under the write lock)."""
        for statement in SCHEMA:
            cur.execute(statement)
        cur.execute(REFUSE_FUNCTION)
        cur.execute(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE c.relname = ANY(%s) AND c.relnamespace = current_schema()::regnamespace",
            (list(TABLES),),
        )
        existing = set(cur.fetchall())
        for table in TABLES:
            for name, when, level in TRIGGERS:
                trigger = f"{table}_{name}"
                if (table, trigger) not in existing:
                    cur.execute(sql.SQL("CREATE TRIGGER {} " + when + " ON {} FOR EACH " + level +
                                        " EXECUTE FUNCTION coopchain_append_only()").format(
                        sql.Identifier(trigger), sql.Identifier(table)))
            cur.execute(sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON {} FROM PUBLIC").format(sql.Identifier(table)))

    # -- writing -----------------------------------------------------------------
    @contextmanager
    def _write_transaction(self):
        with self._write_lock:
            conn = self._live(self._writer_conn)
            if conn is None:
                conn = self._writer_conn = self._connect()
                conn.isolation_level = IsolationLevel.READ_COMMITTED  # see the module docstring
                conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(f"{int(self.lock_timeout_s * 1000)}ms")))
                if conn.execute("SHOW synchronous_commit").fetchone()[0] == "off":
                    conn.execute("SET synchronous_commit = on")  # acknowledged means flushed
            try:
                with conn.transaction():  # BEGIN ISOLATION LEVEL READ COMMITTED; COMMIT, or ROLLBACK on any exception
                    cur = conn.cursor()
                    try:
                        cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))  # before the head is read
                    except errors.LockNotAvailable as e:
                        raise StorageError(
                            f"the ledger's write lock in {self.where} stayed taken for {self.lock_timeout_s:g} s "
                            f"by {self._lock_holder()}") from e
                    yield cur
            except psycopg.OperationalError as e:
                # Lost mid-block, the server rolls back; lost during COMMIT, the block may have landed.
                reason = " ".join(_scrub(str(e), self.url).split())
                raise StorageError(f"lost the connection to PostgreSQL {self.where} while writing ({reason}); "
                                   "the block is not acknowledged: read the head before retrying") from e

    def _lock_holder(self) -> str:
        """Who holds the write lock, for the timeout's message (pg_locks splits the key in two oids)."""
        try:
            row = self._cursor().execute(
                "SELECT l.pid, a.application_name, a.xact_start FROM pg_locks l LEFT JOIN pg_stat_activity a USING (pid) "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s::oid AND l.objid = %s::oid "
                "AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                ((WRITE_LOCK_KEY >> 32) & 0xFFFF_FFFF, WRITE_LOCK_KEY & 0xFFFF_FFFF),
            ).fetchone()
        except psycopg.Error:
            row = None
        if row is None:
            return "another writer (gone by now)"
        pid, application, since = row
        return f"server process {pid}" + (f" ({application!r})" if application else "") + (
            f", in a transaction since {since:%Y-%m-%d %H:%M:%S %Z}" if since else "")

    def close(self) -> None:
        self._closed = True
        for conn in (self._reader, self._writer_conn):
            if conn is not None:
                conn.close()


class _ReadCursor:
    """A cursor on the autocommit connection.  Reads are idempotent, so a read the server
    dropped (restart, terminated backend) is run once more on a new connection: a
    long-lived worker survives a server restart without failing a request."""

    def __init__(self, store: PostgresStore) -> None:
        self.store, self.cur = store, None

    def execute(self, query, params=None) -> _ReadCursor:
        for attempt in (1, 2):
            conn = self.store._read_connection()
            self.cur = conn.cursor()
            try:
                self.cur.execute(query, params)
                return self
            except psycopg.OperationalError as e:
                if attempt == 2 or not conn.broken:
                    reason = " ".join(_scrub(str(e), self.store.url).split())
                    raise StorageError(f"reading PostgreSQL {self.store.where} failed: {reason}") from e
        raise AssertionError("unreachable")

    def fetchone(self):
        return self.cur.fetchone()

    def fetchall(self):
        return self.cur.fetchall()
