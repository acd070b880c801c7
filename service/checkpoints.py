"""Publishing the node's checkpoint (SPEC §10; docs/trust.md): sign the head, have witnesses cosign it,
keep the cosigned checkpoint where the API serves it and bundles carry it.

`publish` signs the head's checkpoint with the node key, asks each witness for its cosignature
(chain.witness.request_cosignature: from size 0, and once more from the size a 409 names), merges
the cosignatures it got into one note and, when at least one witness cosigned, inserts it into
the ``published_checkpoints`` table of the ledger's database.

That table is beside the ledger, not in it (the four ledger tables are what blocks account for,
and `chain verify` counts their rows): a cosigned checkpoint is a statement about the ledger by
the node and its witnesses.  Rows are only inserted (triggers refuse UPDATE and DELETE, as for
the ledger).  The API worker holds no node key: it reads the latest row (`GET /checkpoint`) and
the latest row that covers a record (the bundle route), exactly as stored.  Every row is
re-verified against the node's key before it is served, so a row slipped into the table by hand
is refused, never handed to an auditor as the node's.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

from coopchain.chain.checkpoint import Checkpoint, add_signatures, node_note_key, sign_ledger_checkpoint, verify_checkpoint
from coopchain.chain.errors import ChainError, StorageError
from coopchain.chain.ledger import Ledger
from coopchain.chain.store import database_url
from coopchain.chain.witness import WitnessAnswer, request_cosignature

Submit = Callable[[bytes], tuple[int, bytes]]  # an add-checkpoint body -> (HTTP status, answer body)

_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS published_checkpoints (id INTEGER PRIMARY KEY AUTOINCREMENT, size INTEGER NOT NULL,
    note TEXT NOT NULL, cosignatures INTEGER NOT NULL, published REAL NOT NULL);
CREATE INDEX IF NOT EXISTS published_checkpoints_by_size ON published_checkpoints (size, id);
CREATE TRIGGER IF NOT EXISTS published_checkpoints_no_update BEFORE UPDATE ON published_checkpoints
    BEGIN SELECT RAISE(ABORT, 'published checkpoints are append-only: UPDATE is refused'); END;
CREATE TRIGGER IF NOT EXISTS published_checkpoints_no_delete BEFORE DELETE ON published_checkpoints
    BEGIN SELECT RAISE(ABORT, 'published checkpoints are append-only: DELETE is refused'); END;
"""
_POSTGRES_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS published_checkpoints (id BIGSERIAL PRIMARY KEY, size BIGINT NOT NULL, note TEXT NOT NULL,"
    " cosignatures INTEGER NOT NULL, published DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS published_checkpoints_by_size ON published_checkpoints (size, id)",
    "CREATE OR REPLACE FUNCTION coopchain_checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "RAISE EXCEPTION 'published checkpoints are append-only: % is refused', TG_OP USING ERRCODE = 'restrict_violation'; END $$",
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'published_checkpoints_append_only') THEN "
    "CREATE TRIGGER published_checkpoints_append_only BEFORE UPDATE OR DELETE ON published_checkpoints "
    "FOR EACH ROW EXECUTE FUNCTION coopchain_checkpoints_append_only(); END IF; END $$",
)
_LOCK = 727273  # a PostgreSQL advisory lock: two workers starting together make the table once


class NoCheckpoint(ChainError):
    """No published checkpoint (that covers the block asked for)."""


class SinceBeyondCheckpoint(ChainError):
    """An earlier head asked for (`since`) above the head of the checkpoint the bundle carries."""


@dataclass(frozen=True)
class Published:
    """A cosigned checkpoint as stored: the note's bytes, its size, when it was stored."""

    size: int
    note: bytes
    cosignatures: int
    published: float


@dataclass(frozen=True)
class Publication:
    """What `publish` did: the cosigned note, who refused (witness, reason), whether it was stored."""

    note: bytes
    checkpoint: Checkpoint
    cosigned_by: tuple[str, ...]
    refused: tuple[tuple[str, str], ...]
    stored: bool


class CheckpointStore:
    """The ``published_checkpoints`` table at a database URL (sqlite:///… or postgresql://…), made on first use."""

    def __init__(self, url: str | None) -> None:
        self.url = database_url(url)
        self._lock = threading.Lock()
        if urlparse(self.url).scheme == "sqlite":
            try:
                self._conn = sqlite3.connect(urlparse(self.url).path[1:], isolation_level=None, check_same_thread=False)
                self._conn.execute("PRAGMA busy_timeout=60000")
                self._conn.executescript(_SQLITE_SCHEMA)
            except sqlite3.Error as e:
                raise StorageError(f"{self.url}: cannot open the published checkpoints ({e})") from e
            self._ph = "?"
        else:
            import psycopg

            try:
                self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
                with self._conn.cursor() as cur:
                    cur.execute("SELECT pg_advisory_lock(%s)", (_LOCK,))
                    try:
                        for statement in _POSTGRES_SCHEMA:
                            cur.execute(statement)
                    finally:
                        cur.execute("SELECT pg_advisory_unlock(%s)", (_LOCK,))
            except psycopg.Error as e:
                raise StorageError(f"cannot open the published checkpoints ({' '.join(str(e).split())})") from e
            self._ph = "%s"

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _rows(self, sql: str, args: tuple = ()) -> list:
        with self._lock:
            try:
                return self._execute(sql, args)
            except Exception:
                # A PostgreSQL connection the server dropped (a restart, an idle timeout) is opened once more
                # and the statement run again (an INSERT whose reply was lost may then be stored twice: a
                # duplicate row of the same note, which changes nothing that is served).
                if self._ph != "%s" or not self._conn.closed:
                    raise
                import psycopg

                self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
                return self._execute(sql, args)

    def _execute(self, sql: str, args: tuple) -> list:
        cur = self._conn.cursor()
        try:
            cur.execute(sql.replace("?", self._ph), args)
            return cur.fetchall() if cur.description else []
        finally:
            cur.close()

    def add(self, size: int, note: bytes, cosignatures: int) -> None:
        self._rows("INSERT INTO published_checkpoints (size, note, cosignatures, published) VALUES (?, ?, ?, ?)",
                   (size, note.decode(), cosignatures, time.time()))

    def latest(self, covering: int | None = None) -> Published | None:
        """The newest checkpoint of the largest size (that covers block `covering`: size > covering)."""
        rows = self._rows("SELECT size, note, cosignatures, published FROM published_checkpoints WHERE size > ? "
                          "ORDER BY size DESC, id DESC LIMIT 1", (-1 if covering is None else covering,))
        return Published(rows[0][0], rows[0][1].encode(), rows[0][2], rows[0][3]) if rows else None


def publish(ledger: Ledger, witnesses: Sequence[tuple[str, Submit]], store: CheckpointStore | None) -> Publication:
    """Sign the head's checkpoint with the ledger's node key, collect each witness's cosignature, and
    store the merged note when at least one witness cosigned (`store` None: only return it).

    `witnesses`: (name for messages, submit) pairs; a witness that refuses or cannot be reached is
    named in `refused` with the reason, and the others still cosign.
    """
    if ledger.node_key is None:
        raise ChainError("publishing a checkpoint needs the node key")
    note = cosigned = sign_ledger_checkpoint(ledger, ledger.node_key)
    history = ledger.history()
    by, refused = [], []
    for name, submit in witnesses:
        try:
            cosigned = add_signatures(cosigned, request_cosignature(history, note, submit))
            by.append(name)
        except (WitnessAnswer, OSError, ChainError) as e:
            refused.append((name, str(getattr(e, "reason", None) or e)))
    checkpoint = verify_checkpoint(cosigned, node_note_key(ledger)).checkpoint
    stored = bool(by) and store is not None
    if stored:
        store.add(checkpoint.size, cosigned, len(by))
    return Publication(cosigned, checkpoint, tuple(by), tuple(refused), stored)


def published(ledger: Ledger, store: CheckpointStore, covering: int | None = None) -> Published:
    """The latest published checkpoint (covering block `covering`), checked against the node's key and
    this ledger's block tree before it is served; NoCheckpoint if there is none."""
    found = store.latest(covering)
    if found is None:
        what = "no checkpoint has been published" + ("" if covering is None else f" that covers block {covering}")
        raise NoCheckpoint(f"{what} (coopchain chain publish-checkpoint)")
    cp = verify_checkpoint(found.note, node_note_key(ledger)).checkpoint
    history = ledger.history()
    if cp.size != found.size or cp.size > history.size or history.root_at(cp.size) != cp.root:
        raise ChainError(f"the published checkpoint of size {found.size} is not of this ledger's block tree")
    return found


def pinned_bundle(ledger: Ledger, store: CheckpointStore, tx_hash: bytes, since: int | None = None) -> dict:
    """The audit bundle of a transaction, carrying the latest published checkpoint that covers its block
    (docs/trust.md): the bundle's head is then the checkpoint's last block, so that its proofs tie the
    head to the checkpoint exactly.  With no such checkpoint, the bundle against the current head,
    without one (`coopchain verify --policy` then says that the bundle carries no checkpoint)."""
    from coopchain.chain.checkpoint import bundle_checkpoint
    from coopchain.service.bundles import audit_bundle

    where = ledger.store.transaction_location(tx_hash)
    if where is None:
        raise ChainError(f"no transaction {tx_hash.hex()}")
    try:
        found = published(ledger, store, covering=where[0])
    except NoCheckpoint:
        return audit_bundle(ledger, tx_hash, since)
    head = found.size - 1
    if since is not None and since > head:
        raise SinceBeyondCheckpoint(f"since {since}: the published checkpoint's head is {head}; an earlier head lies in 1..{head}")
    bundle = audit_bundle(ledger, tx_hash, since, head)
    bundle["checkpoint"] = bundle_checkpoint(ledger, head, found.note)
    return bundle
