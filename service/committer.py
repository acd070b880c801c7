"""Committing the pending queue (SPEC §6, §9): one committer at a time cuts blocks from it.

Exactly one committer at a time, the holder of the committer lock (service.pending.CommitterLock),
reads the queue (service.pending) in order and cuts a block when `max_transactions` wait or the
oldest has waited `max_wait_ms`, as Fabric's orderer cuts a batch (BatchSize.MaxMessageCount,
BatchTimeout).  Blocks fill up instead of several workers racing each other with blocks of two or
three.  A transaction the ledger refuses (a stale or out-of-order nonce, found only against the
state) is marked refused with the ledger's reason and the rest of the batch committed without it.

Where it runs:

- `coopchain serve --workers N` (N ≥ 2) with a node key runs a committer in a process of its own
  (app.api.commands), and each API worker keeps a *standby* committer.  Committing costs about a
  third of a transaction's CPU on the server, all of it Python under one GIL; in an API worker it
  shared that GIL with the worker's event loop, and requests queued behind blocks being committed
  (p99 from request to receipt at 1,000 tx/s: 0.6–2.3 s in a worker, 0.22–0.27 s in a process of
  its own, bench/bench_api.py).
- A standby takes the lock only when the oldest queued row has waited `standby_after_s` past its
  block's deadline, which happens only when nobody commits (the committer process is down, or is
  being restarted by the supervisor), and gives it back once the queue is empty, so that the
  restarted process commits again.
- A single worker (`--workers 1`, or uvicorn run by hand) commits in a thread of its own.  If a
  committer dies, another takes the lock within LOCK_RETRY_S (plus a standby's wait).
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable

import orjson

from coopchain.chain.errors import ChainError, InvalidTransaction, StorageError
from coopchain.chain.transaction import Transaction, decode_transaction
from coopchain.service.pending import (PENDING_CHANNEL, CommitterLock, Doorbell, PendingQueue, PendingRow, Wakeups, admission_key,
                                       doorbell_address, row_tag)

LOCK_RETRY_S = 0.5  # a committer without the lock tries again this often
POLL_S = 0.005  # the committer looks at the queue this often when nothing can wake it (SQLite off Linux)
NOTIFIED_POLL_S = 0.1  # … where queued rows wake it: PostgreSQL's LISTEN/NOTIFY (Wakeups), SQLite's Doorbell
BATCH_LOOK_S = 0.02  # a batch waiting for its deadline is counted again this often (full: cut at once)
RETRY_S = 1.0  # after a storage failure the committer waits this long (the rows stay queued)
STANDBY_AFTER_S = 2.0  # a standby commits rows that have waited this long past their block's deadline

log = logging.getLogger("coopchain.committer")


def _admitted_transaction(body: bytes) -> Transaction:
    """The transaction of a tagged row: admission wrote these bytes from a Transaction it had read and
    checked, so its fields are taken as they are (transaction_from_json's checks cost ~30 µs a row).
    Bytes that are somehow not of that shape get the full decoding, which says what is wrong."""
    try:
        doc = orjson.loads(body)
        return Transaction(doc["chain_id"], doc["sender"], doc["nonce"], doc["kind"], doc["payload"], bytes.fromhex(doc["signature"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return decode_transaction(body)


class Committer:
    """Commits the queue at `url` with `ledger` (a Ledger with the node key) while holding the committer lock.

    `standby_after_s`: None to take the lock whenever it is free; a number for a standby (above).
    `on_block`: called after each block is settled (the API worker's watcher, which then reads it).
    `listen`: on PostgreSQL, listen for queued rows itself; False when the caller's Wakeups call `queued`."""

    def __init__(self, ledger, url: str, max_transactions: int = 1000, max_wait_ms: float = 100.0, *,
                 standby_after_s: float | None = None, on_block: Callable[[], None] | None = None, listen: bool = True) -> None:
        self.ledger, self.max_transactions, self.max_wait = ledger, max_transactions, max_wait_ms / 1000.0
        self.standby_after_s, self._on_block = standby_after_s, on_block or (lambda: None)
        self._tag_key = admission_key(ledger.node_key)
        self._queue = PendingQueue(url)
        self._lock = CommitterLock(url)
        self._wake = threading.Event()
        self._closed = False
        # Whether a queued row should wake the commit thread (`queued`): only while it holds the lock and
        # found the queue empty.  Waiting for a batch's deadline it looks again by itself every BATCH_LOOK_S,
        # and a wake-up (and a count of the queue) at every group commit, hundreds a second, was CPU for nothing.
        self.wake_on_enqueue = True
        self.holding = False  # holds the lock: its blocks call on_block, no one else's poll needed
        self._wakeups = Wakeups(self._queue.url, {PENDING_CHANNEL: self.queued}) if self._queue.postgres and listen else None
        # SQLite on Linux: a doorbell listened to while this holds the lock (service.pending.Doorbell).
        self._bell_address = None if self._queue.postgres else doorbell_address(self._queue.url, PENDING_CHANNEL)
        self._doorbell: Doorbell | None = None
        self._bell_tried = float("-inf")
        self._thread = threading.Thread(target=self._loop, name="commit", daemon=True)
        self._thread.start()

    def queued(self) -> None:
        """Rows were queued: wake the loop if it is waiting for any (a standby, or a committer waiting for a
        batch's deadline, looks again by itself)."""
        if self.wake_on_enqueue:
            self._wake.set()

    def close(self) -> None:
        """Stop: commit what is queued if this holds the lock (bounded), then let the lock go."""
        self._closed = True
        self._wake.set()
        self._thread.join(30)
        if self._wakeups is not None:
            self._wakeups.close()
        self._hear_doorbell(False)
        self._lock.release()
        self._queue.close()

    def alive(self) -> bool:
        """Its thread runs (it ends only after close())."""
        return self._thread.is_alive()

    def _loop(self) -> None:
        checked = 0.0
        while True:
            if self._closed:
                self._drain()
                return
            try:
                if not self._take_lock():
                    self._let_go()
                    self._wake.wait(LOCK_RETRY_S)
                    self._wake.clear()
                    continue
                self.holding = True
                self._hear_doorbell(True)
                if time.monotonic() - checked > 1.0:  # a PostgreSQL connection the server dropped took the lock with it
                    if not self._lock.held():
                        self._let_go()
                        continue
                    checked = time.monotonic()
                self._commit_some()
            except Exception as e:
                # Storage trouble (the database restarting, a file that cannot be opened): nothing acknowledged is
                # lost, the rows stay queued.  The loop must outlive it, a standby's above all: it is the fallback.
                log.error("committing failed, retrying in %.0f s: %r", RETRY_S, e)
                time.sleep(RETRY_S)

    def _let_go(self) -> None:
        """Not (or no longer) the holder: a standby waits again for rows nobody commits."""
        self._hear_doorbell(False)  # first: the next holder can listen at once
        if self.holding:  # a lock lost or given back; one never taken keeps its PostgreSQL connection for the next try
            self._lock.release()
        self.holding = self.wake_on_enqueue = False

    def _hear_doorbell(self, on: bool) -> None:
        if on and self._doorbell is None and self._bell_address is not None and time.monotonic() - self._bell_tried > LOCK_RETRY_S:
            self._bell_tried = time.monotonic()
            try:
                self._doorbell = Doorbell([self._bell_address], self.queued)
            except OSError:  # its name taken (a holder before this one still closing it): the loop polls meanwhile
                pass
        elif not on and self._doorbell is not None:
            self._doorbell.close()
            self._doorbell = None

    def _take_lock(self) -> bool:
        if self.holding:
            return True  # checked against the database once a second (_loop), not at every pass
        if self.standby_after_s is not None:
            count, oldest = self._queue.waiting_summary()
            if count == 0 or time.time() - oldest <= self.max_wait + self.standby_after_s:
                return False
        return self._lock.acquire()

    def _drain(self) -> None:
        """On shutdown, commit what is queued (bounded: another committer or the next start does the rest)."""
        if not self._lock.held():
            return
        deadline = time.monotonic() + 10.0
        try:
            while time.monotonic() < deadline:
                rows, stale = self._queue.batch(self.max_transactions)
                if stale:
                    self._queue.settle(stale, ())
                if not rows:
                    return
                self._commit_rows(rows)
        except Exception as e:
            log.error("committing the queue at shutdown failed (it stays queued): %r", e)

    def _commit_some(self) -> None:
        """Wait for a full batch or the oldest's deadline, then commit one block.

        The waiting looks at a count and a time only; the rows themselves are read once, when the block is cut."""
        # Before the count: rows queued after it end the wait below (a wake-up that comes while a batch is
        # waiting for its deadline only costs one more count).
        self.wake_on_enqueue = True
        self._wake.clear()
        count, oldest = self._queue.waiting_summary()
        self.wake_on_enqueue = count == 0
        poll = NOTIFIED_POLL_S if self._queue.postgres or self._doorbell is not None else POLL_S
        if count == 0:
            if self.standby_after_s is not None:  # a standby's work is done: the lock goes back to the committer
                self._let_go()
                return
            self._wake.wait(poll)
            return
        left = oldest + self.max_wait - time.time()
        if count < self.max_transactions and left > 0:
            # Queued rows do not wake a batch waiting for its deadline (hundreds of wake-ups a second): a look every
            # BATCH_LOOK_S sees it fill up.
            self._wake.wait(min(left, BATCH_LOOK_S))
            return
        rows, stale = self._queue.batch(self.max_transactions)
        if stale:
            self._queue.settle(stale, ())
        if rows:
            self._commit_rows(rows)

    def _commit_rows(self, rows: list[PendingRow]) -> None:
        refused: list[tuple[int, str]] = []
        live = []  # (row, transaction, tagged)
        key = self._tag_key
        for row in rows:
            # A row whose tag the node key's holder made was admitted by admission (service.submission):
            # its bytes are encode_transaction's of a transaction that passed transaction_from_json's shape
            # check, and its signature was checked.  So it is read without decode's canonical re-check or
            # the shape check again, and the ledger does not check its signature twice.  The tag binds the
            # exact bytes committed; a row written by anything else (no tag, a wrong one) is decoded and
            # checked in full.  `chain verify` and `replay` check every signature regardless, so nothing
            # rests on this but the commit's own speed.
            tagged = key is not None and row.tag is not None and hmac.compare_digest(row.tag, row_tag(key, row.body))
            try:
                live.append((row, _admitted_transaction(row.body) if tagged else decode_transaction(row.body), tagged))
            except (ChainError, orjson.JSONDecodeError) as e:  # not a transaction (the queue table was written by something else)
                refused.append((row.seq, f"not a transaction: {e}"))
        while live:
            checked = frozenset(i for i, (_, _, tagged) in enumerate(live) if tagged)
            try:
                block = self.ledger.commit([tx for _, tx, _ in live], signatures_checked=checked)
                # A contract faulted on some (Ledger.commit left them out and committed the rest).
                for refusal in block.refused:
                    refused.append((live[refusal.index][0].seq, refusal.reason))
                left_out = {refusal.index for refusal in block.refused}
                live = [item for i, item in enumerate(live) if i not in left_out]
                break
            except StorageError:
                raise  # the database: nothing written, the rows stay queued, the loop retries
            except Exception as e:
                if type(e).__module__.split(".")[0] in ("sqlite3", "psycopg"):
                    raise  # a database error (a unique key another committer filled first): retried, never a refusal
                # Anything else is the ledger failing on some transaction (a contract's bug): without
                # this, the queue would retry the same batch forever.  Found alone, it is refused.
                if not isinstance(e, InvalidTransaction):
                    log.error("committing %d transactions failed: %r", len(live), e)
                    e = InvalidTransaction(f"the ledger failed on it: {type(e).__name__}: {e}")
                index = getattr(e, "index", None)
                if index is None:
                    if len(live) == 1:
                        refused.append((live[0][0].seq, str(e).removeprefix("transaction 0: ")))
                        live = []
                        break
                    # The fault has no position: one block per transaction finds it.
                    for item in live:
                        self._commit_rows([item[0]])
                    self._queue.settle((), refused)
                    self._on_block()
                    return
                row, _, _ = live.pop(index)
                refused.append((row.seq, str(e).split(": ", 1)[1] if str(e).startswith("transaction ") else str(e)))
        self._queue.settle([row.seq for row, _, _ in live], refused)
        self._on_block()
