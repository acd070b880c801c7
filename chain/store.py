"""Append-only storage of the ledger (SPEC §2, §8): SQLite by default, PostgreSQL for several workers.

Four tables, each only ever inserted into:

- ``blocks(height, hash, header)``: the canonical header bytes;
- ``transactions(hash, height, position, body, receipt)``: the canonical signed
  transactions, each with its canonical receipt (chain.receipt);
- ``trie_nodes(hash, node)``: state trie nodes by Keccak-256, content-addressed;
- ``history_nodes(level, position, hash)``: the perfect subtrees of the RFC 6962
  history tree over block hashes, so that proofs at any size cost O(log n) reads.

A block and everything it adds land in one database transaction, or not at all.
The writer holds the database's write lock from reading the head to commit
(SQLite ``BEGIN IMMEDIATE``; PostgreSQL a transaction-scoped advisory lock), so
concurrent writers queue instead of forking, and ``UNIQUE(height)`` would refuse a
fork even if they did not.  No UPDATE or DELETE statement exists in this
package, and triggers in both schemas refuse them (SQLite: RAISE(ABORT);
PostgreSQL: an exception, for TRUNCATE too).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlparse

from coopchain.chain import trie
from coopchain.chain.errors import StorageError
from coopchain.chain.types import Hash32

TABLES = ("blocks", "transactions", "trie_nodes", "history_nodes")
# The column whose negative value places a row before genesis (trie nodes have no place).
BEFORE_GENESIS = {"blocks": "height", "transactions": "height", "history_nodes": "position"}
DEFAULT_URL = "sqlite:///coopchain.db"
OLD_SCHEMA = ("{where} was written by an earlier version of coopchain (transactions without receipts, "
              "header format coopchain/header/v1), which this version does not extend or verify; start a new ledger "
              "in another file (coopchain chain init --db sqlite:///NEW.db --node-key KEY --chain-id ID, or "
              "coopchain demo --db sqlite:///NEW.db) and keep the old one as it is")
_NODE_CACHE = 50_000  # trie nodes kept in memory (~30 MiB); content-addressed, so never stale


@dataclass(frozen=True)
class BlockRows:
    """Everything one block adds, in the form the tables keep."""

    height: int
    hash: Hash32
    header: bytes
    transactions: list[tuple[Hash32, bytes, bytes]]  # (hash, canonical body, canonical receipt) in block order
    trie_nodes: dict[bytes, bytes]
    history_nodes: list[tuple[int, int, Hash32]]  # (level, position, hash)


def database_url(url: str | None) -> str:
    """--db, else $COOPCHAIN_DB, else a SQLite file in the current folder (SPEC §6)."""
    return url or os.environ.get("COOPCHAIN_DB") or DEFAULT_URL


def open_store(url: str | None = None, create: bool = False) -> "SqlStore":
    """The store at `url`; `create` makes the schema if the database is empty."""
    url = database_url(url)
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        from coopchain.chain.store_sqlite import SqliteStore

        return SqliteStore(url, create)
    if scheme in ("postgresql", "postgres"):
        from coopchain.chain.store_postgres import PostgresStore

        return PostgresStore(url, create)
    raise StorageError(f"unknown database URL {url!r}: use sqlite:///PATH or postgresql://…")


class SqlStore:
    """The queries both databases share; subclasses supply the connection, the lock and the schema."""

    placeholder = "?"

    def __init__(self) -> None:
        self._node_cache: dict[bytes, bytes] = {}

    # -- what subclasses provide -------------------------------------------------
    def _cursor(self):
        raise NotImplementedError

    @contextmanager
    def _write_transaction(self):
        raise NotImplementedError
        yield

    def close(self) -> None:
        raise NotImplementedError

    # -- reading -----------------------------------------------------------------
    def _sql(self, text: str) -> str:
        return text.replace("?", self.placeholder)

    def _one(self, sql: str, *args):
        cur = self._cursor()
        cur.execute(self._sql(sql), args)
        return cur.fetchone()

    def height(self) -> int | None:
        """The head's height, or None for an empty ledger."""
        row = self._one("SELECT MAX(height) FROM blocks")
        return None if row is None or row[0] is None else int(row[0])

    def header_bytes(self, height: int) -> bytes | None:
        row = self._one("SELECT header FROM blocks WHERE height = ?", height)
        return None if row is None else _blob(row[0])

    def block_rows(self, start: int = 0, batch: int = 256) -> Iterator[tuple[int, bytes, bytes]]:
        """(height, stored hash, header bytes) from `start` on, in order, a batch at a time: memory stays flat."""
        while True:
            cur = self._cursor()
            cur.execute(self._sql("SELECT height, hash, header FROM blocks WHERE height >= ? ORDER BY height LIMIT ?"), (start, batch))
            rows = cur.fetchall()
            for height, digest, header in rows:
                yield _integer(height), _blob(digest), _blob(header)
            if len(rows) < batch:
                return
            start = _integer(rows[-1][0]) + 1

    def transaction_rows(self, height: int) -> list[tuple[int, bytes, bytes, bytes]]:
        """(position, stored hash, body, receipt) of one block, in position order."""
        cur = self._cursor()
        cur.execute(self._sql("SELECT position, hash, body, receipt FROM transactions WHERE height = ? ORDER BY position"), (height,))
        return [(_integer(p), _blob(h), _blob(b), _blob(r)) for p, h, b, r in cur.fetchall()]

    def transaction_location(self, tx_hash: bytes) -> tuple[int, int] | None:
        row = self._one("SELECT height, position FROM transactions WHERE hash = ?", tx_hash)
        return None if row is None else (_integer(row[0]), _integer(row[1]))

    def get(self, node_hash: bytes) -> bytes | None:
        """A state trie node by hash, None if absent (the trie's node source)."""
        node = self._node_cache.get(node_hash)
        if node is None:
            row = self._one("SELECT node FROM trie_nodes WHERE hash = ?", node_hash)
            if row is None:
                return None
            node = _blob(row[0])
            self._cache_nodes({node_hash: node})
        return node

    def history_node(self, level: int, position: int) -> Hash32:
        row = self._one("SELECT hash FROM history_nodes WHERE level = ? AND position = ?", level, position)
        if row is None:
            raise KeyError((level, position))
        return Hash32(_blob(row[0]))

    def row_count(self, table: str) -> int:
        if table not in TABLES:
            raise ValueError(table)
        return int(self._one(f"SELECT COUNT(*) FROM {table}")[0])

    def rows_before_genesis(self, table: str) -> int:
        """How many rows of `table` claim a place before block 0: a negative block height, or
        (history_nodes) a negative position.  Verification walks from genesis on and never
        reads them otherwise."""
        column = BEFORE_GENESIS[table]
        return int(self._one(f"SELECT COUNT(*) FROM {table} WHERE {column} < 0")[0])

    # -- writing -----------------------------------------------------------------
    @contextmanager
    def writer(self):
        """Hold the write lock: read the head, build a block, `append` it; commit on exit."""
        with self._write_transaction() as cur:
            writer = _Writer(self, cur)
            yield writer
        # Committed: the next block reads these nodes first.  Not before commit, or a
        # rolled-back block's nodes would look stored.
        for rows in writer.appended:
            self._cache_nodes(rows.trie_nodes)
            trie.stored(rows.trie_nodes)

    def _cache_nodes(self, nodes: dict[bytes, bytes]) -> None:
        if len(self._node_cache) + len(nodes) > _NODE_CACHE:
            self._node_cache.clear()
        self._node_cache.update(nodes)


class _Writer:
    def __init__(self, store: SqlStore, cur) -> None:
        self.store, self.cur = store, cur
        self.appended: list[BlockRows] = []

    def height(self) -> int | None:
        self.cur.execute("SELECT MAX(height) FROM blocks")
        row = self.cur.fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def append(self, rows: BlockRows) -> None:
        sql, cur = self.store._sql, self.cur
        cur.execute(sql("INSERT INTO blocks (height, hash, header) VALUES (?, ?, ?)"), (rows.height, rows.hash, rows.header))
        _many(cur, sql("INSERT INTO transactions (hash, height, position, body, receipt) VALUES (?, ?, ?, ?, ?)"),
              ((h, rows.height, i, b, r) for i, (h, b, r) in enumerate(rows.transactions)))
        _many(cur, sql("INSERT INTO trie_nodes (hash, node) VALUES (?, ?) ON CONFLICT DO NOTHING"), rows.trie_nodes.items())
        _many(cur, sql("INSERT INTO history_nodes (level, position, hash) VALUES (?, ?, ?)"), rows.history_nodes)
        self.appended.append(rows)


def _blob(value) -> bytes:
    """A stored byte string.  A cell altered to another type (text, a number) reads as
    b"", which matches no hash or encoding, so verification names the block."""
    return bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) else b""


def _integer(value) -> int:
    """A stored integer; an altered cell of another type reads as −1, which no height or position is."""
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def _many(cur, sql: str, rows: Iterable) -> None:
    rows = list(rows)
    if rows:
        cur.executemany(sql, rows)
