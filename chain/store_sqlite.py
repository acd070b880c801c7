"""The embedded default store: one SQLite file, WAL, fsync at every commit (chain.store)."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from coopchain.chain.errors import StorageError
from coopchain.chain.store import OLD_SCHEMA, TABLES, SqlStore

# Laid out for appending (docs/ledger.md, "Storage"): every table is a B-tree whose key grows
# with the chain, so a block's rows land on the last pages; the random 32-byte hashes are only
# in secondary indexes of a few dozen bytes per row.  Transactions are clustered by (height,
# position); trie nodes (about 300 bytes each, three per transaction) sit in insertion order
# under their rowid, found through the UNIQUE index on their hash.  Row contents are as before.
SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (height INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, header BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS transactions (height INTEGER NOT NULL REFERENCES blocks(height), position INTEGER NOT NULL,
    hash BLOB NOT NULL UNIQUE, body BLOB NOT NULL, receipt BLOB NOT NULL, PRIMARY KEY (height, position)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trie_nodes (hash BLOB NOT NULL UNIQUE, node BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS history_nodes (level INTEGER NOT NULL, position INTEGER NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (level, position)) WITHOUT ROWID;
"""

# The ledger is append-only: these triggers refuse any change to a stored row.
TRIGGERS = "".join(
    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb} BEFORE {verb.upper()} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: {verb.upper()} on {table} is refused'); END;\n"
    for table in TABLES
    for verb in ("update", "delete")
)


_BACKSTOP_PAGES = 100_000


def _any_text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


class SqliteStore(SqlStore):
    placeholder = "?"

    def __init__(self, url: str, create: bool) -> None:
        super().__init__()
        path = urlparse(url).path
        # sqlite:///relative.db -> "/relative.db"; sqlite:////abs/path.db -> "//abs/path.db"
        path = path[1:]
        if not path:
            raise StorageError(f"{url!r} names no file: use sqlite:///PATH")
        self.path = Path(path)
        self._checkpointer = _Checkpointer(self.path)
        if not create and not self.path.exists():
            raise StorageError(f"no ledger at {self.path}: create one first (coopchain demo, or chain init)")
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            # Every ledger cell is a blob or an integer; a TEXT cell is a tampered one, and may hold
            # invalid UTF-8, which the default text factory turns into an OperationalError mid-read.
            # Read as str whatever its bytes: a str is never a blob, so `_blob` makes it b"" and
            # verification names the block.
            self.conn.text_factory = _any_text
            self.conn.execute("PRAGMA busy_timeout=60000")
            # Look before changing anything: another program's database is refused untouched.
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            ours = set(TABLES) <= tables
            if not ours and not (create and not tables):
                missing = sorted(set(TABLES) - tables)
                self.conn.close()
                raise StorageError(f"{self.path} is not a coopchain ledger (tables {missing} are missing)")
            if ours and "receipt" not in {r[1] for r in self.conn.execute("PRAGMA table_info(transactions)")}:
                self.conn.close()
                raise StorageError(OLD_SCHEMA.format(where=self.path))
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")  # WAL commits are fsynced before COMMIT returns
            self.conn.execute("PRAGMA foreign_keys=ON")
            # The hash indexes take random inserts: 64 MiB of page cache holds their inner pages
            # and most leaves at 10^6 transactions (about 3 million trie nodes).  The WAL is copied
            # into the database by `_Checkpointer`, off the commit's path; this connection does it
            # itself only past 100,000 WAL pages (400 MB), should that thread fall behind.
            self.conn.execute("PRAGMA cache_size=-65536")
            self.conn.execute(f"PRAGMA wal_autocheckpoint={_BACKSTOP_PAGES}")
            if not ours:
                self.conn.executescript(SCHEMA + TRIGGERS)
        except sqlite3.DatabaseError as e:
            raise StorageError(f"{self.path} is not a coopchain ledger: {e}") from e

    def _cursor(self):
        return self.conn.cursor()

    @contextmanager
    def _write_transaction(self):
        cur = self.conn.cursor()
        cur.execute("BEGIN IMMEDIATE")  # the write lock, taken before the head is read
        try:
            yield cur
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")
        self._checkpointer.wake()

    def close(self) -> None:
        self._checkpointer.close()
        self.conn.close()


class _Checkpointer:
    """Copies the WAL into the database file in a thread and connection of its own, after commits.

    A block of 1,000 transactions dirties some 3,000 pages of the hash indexes, at random places
    (about 12 MB of WAL), and copying them back (a checkpoint, with its fsync of the database
    file) cost the commit that crossed SQLite's auto-checkpoint threshold as much as the rest
    of its I/O: commits slowed from 5,000 to 3,100 tx/s between 10^4 and 5·10^5 transactions.
    Here the committing thread only wakes this one; a PASSIVE checkpoint never waits for the
    writer, which appends the next block meanwhile, and SQLite releases the GIL while it copies.
    Commits that come while a checkpoint runs are covered by the next one.  Crash safety is
    SQLite's: a checkpoint interrupted at any moment leaves the WAL authoritative."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.wanted = threading.Event()
        self.closing = False
        self.thread: threading.Thread | None = None

    def wake(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
            self.thread.start()
        self.wanted.set()

    def close(self) -> None:
        if self.thread is not None:
            self.closing = True
            self.wanted.set()
            self.thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=60000")
            while True:
                self.wanted.wait()
                self.wanted.clear()
                if self.closing:
                    return
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    pass  # the writer's own backstop checkpoints; the next wake tries again
        finally:
            conn.close()
