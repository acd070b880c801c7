"""Submitting client-signed transactions (SPEC §4, §6, §9): admitted, durably queued, committed in blocks.

The server never holds a submitter's key: a transaction arrives signed.  Its path:

1. *Admission*, in the request: what can be checked alone (shape, chain id, size,
   signature).  A failure is the client's 422.
2. *Acknowledgement*: the transaction is written to the pending queue
   (service.pending) in the ledger's database.  Requests that arrive while one
   write is being flushed share the next one (group commit: one fsync for many
   requests, none per request).  When that write returns, the transaction is
   acknowledged: the reply (202, or 200 after step 3) names its hash, and no
   crash of any worker can lose it.
3. *Commit*: one committer at a time cuts blocks from the queue (service.committer):
   a process of its own beside several workers, else the worker's own thread.
4. *Receipts*: every worker runs one watcher thread for its own `wait=true`
   requests.  A committer in this worker wakes it after each block.  Blocks committed
   elsewhere: on PostgreSQL the committer's NOTIFY after the block wakes it
   (LISTEN/NOTIFY, service.pending.Wakeups; as the queued rows' NOTIFY wakes the
   committer), with a poll every `NOTIFIED_POLL_S` behind it; on SQLite a doorbell
   of its own that each settled block rings (service.pending.Doorbell), with the same
   poll behind it (without one: the head is read every `WATCH_S` while someone waits).  It reads each new block's transactions once and resolves every
   waiter in it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from dataclasses import dataclass

from coopchain.chain.errors import ChainError, EncodingError, InvalidTransaction, StorageError, ensure
from coopchain.chain.keys import PublicKey, verify_many
from coopchain.chain.store import open_store
from coopchain.chain.transaction import Transaction, encode_signed, signing_bytes
from coopchain.service.committer import NOTIFIED_POLL_S, RETRY_S, STANDBY_AFTER_S, Committer
from coopchain.service.pending import (PENDING_CHANNEL, SETTLED_CHANNEL, SETTLED_DOORBELLS, Doorbell, PendingQueue, Wakeups, admission_key,
                                       doorbell_address, row_tag)

MAX_TRANSACTION_BYTES = 8 * 1024 * 1024  # a problem document of about 50,000 enterprises
WATCH_S = 0.005  # a watcher with waiters reads the head this often when nothing wakes it (NOTIFIED_POLL_S when something does)
REFUSALS_S = 0.05  # … and the queue's refusals this often
LOOKUP_AFTER_S = 3.0  # a waiter this old is looked up in the ledger (submitted again after its block)
LOOKUP_EVERY_S = 0.5  # … looked for this often

log = logging.getLogger("coopchain.submission")


@dataclass(frozen=True)
class Included:
    """A submitted transaction in its block, with its receipt as the ledger stores it (canonical JSON, chain.receipt)."""

    hash: str
    height: int
    position: int
    receipt: bytes


@dataclass(frozen=True)
class Admitted:
    """A transaction admitted and acknowledged (on disk in the queue)."""

    hash: str
    body: bytes


def admit(tx: Transaction, chain_id: str) -> Admitted:
    """Check what a transaction can be checked for alone; its hash and canonical body, or InvalidTransaction saying why."""
    ensure(tx.chain_id == chain_id, InvalidTransaction, f"the transaction is for chain {tx.chain_id!r}, this is {chain_id!r}")
    try:
        # The signing bytes are needed for the signature anyway, and the body is those bytes with the
        # signature put in (encode_signed): the payload is encoded once per request, not twice.
        signing = signing_bytes(tx)
        body = encode_signed(signing, tx.signature)
    except EncodingError as e:  # a Transaction built past transaction_from_json's checks: still the client's fault
        raise InvalidTransaction(str(e)) from e
    ensure(len(body) <= MAX_TRANSACTION_BYTES, InvalidTransaction, f"a transaction is at most {MAX_TRANSACTION_BYTES:,} bytes")
    if not _libsodium_accepts(tx, signing):
        try:
            # The full rule (PublicKey's checks, libsodium, pycryptodome's reference): the same verdict as the
            # ledger's, and its reason.
            verify_many([(PublicKey.from_text(tx.sender), tx.signature, signing)], workers=1)
        except ChainError as e:
            raise InvalidTransaction(f"signature: {e}") from e
    return Admitted(hashlib.sha256(body).hexdigest(), body)


_HEX = frozenset("0123456789abcdef")


def _libsodium_accepts(tx: Transaction, signing: bytes) -> bool:
    """An Ed25519 transaction's signature accepted by libsodium alone (~60 µs), without decoding the key
    with pycryptodome first (~70 µs more, what PublicKey.from_text costs for a sender not seen before).

    The same verdict as verify_many's when it accepts: libsodium refuses a public key that is not
    canonically encoded, has small order or is no curve point before it looks at the signature
    (crypto_sign_ed25519_verify_detached: ge25519_is_canonical, ge25519_has_small_order,
    ge25519_frombytes_negate_vartime), which is what PublicKey's construction refuses, and then
    checks the signature as verify_many's fast path does.  Anything it refuses (or a P-256 key)
    goes through the full rule, which also says why."""
    scheme, _, hex_key = tx.sender.partition(":") if isinstance(tx.sender, str) else ("", "", "")
    if scheme != "ed25519" or len(hex_key) != 64 or not _HEX.issuperset(hex_key):
        return False
    if type(tx.signature) is not bytes or len(tx.signature) != 64:
        return False
    try:
        _crypto_sign_open(tx.signature + signing, bytes.fromhex(hex_key))
    except Exception:  # BadSignatureError, CryptoError: decided again by the full rule
        return False
    return True


def _crypto_sign_open(signed: bytes, key: bytes) -> bytes:
    from nacl.bindings import crypto_sign_open

    return crypto_sign_open(signed, key)


class _Waiter:
    """A request waiting for its transaction's block: its future, since when, whether it was looked up."""

    __slots__ = ("future", "since", "looked")

    def __init__(self, future: asyncio.Future) -> None:
        self.future, self.since, self.looked = future, time.time(), False


def _settle(outcomes: list[tuple[asyncio.Future, object]]) -> None:
    """Resolve request futures from a worker thread: one call_soon_threadsafe per event loop for the lot.

    A concurrent.futures.Future wrapped for the loop (asyncio.wrap_future) costs a thread-safe call,
    a wake-up of the loop and two futures per request, twice a request (acknowledged, included):
    ~50 µs of a worker's CPU per transaction at 1,000 tx/s.  Here a group commit or a block
    resolves all its requests with one wake-up."""
    by_loop: dict = {}
    for future, outcome in outcomes:
        by_loop.setdefault(future.get_loop(), []).append((future, outcome))
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_deliver, items)
        except RuntimeError:  # the loop is closed: nobody awaits these any more
            pass


def _deliver(items: list[tuple[asyncio.Future, object]]) -> None:
    """On the futures' loop: an exception outcome is raised to its awaiter, anything else returned."""
    for future, outcome in items:
        if future.done():  # cancelled: the request timed out or went away
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class Submitter:
    """One API worker's part: admit and acknowledge, keep a committer (service.committer), wake waiters.

    `ledger`: this worker's Ledger with the node key (its committer commits only while holding the lock).
    `standby`: a committer process of its own runs beside the workers (`coopchain serve --workers 2`
    or more): this worker's committer is a standby (service.committer)."""

    def __init__(self, ledger, url: str, max_transactions: int = 1000, max_wait_ms: float = 100.0, standby: bool = False) -> None:
        self.ledger, self.url = ledger, url
        self._closed = False
        self._tag_key = admission_key(ledger.node_key)
        # Acknowledgement: requests queue here; one thread writes them to the pending table together.
        self._acks = PendingQueue(url)
        self._to_ack: list[tuple[Admitted, asyncio.Future]] = []
        self._ack_ready = threading.Condition()
        # Waiting for receipts.
        self._reads = open_store(url)
        self._waiters: dict[bytes, list[_Waiter]] = {}
        self._waiters_lock = threading.Lock()
        self._watch_wake = threading.Event()
        self._seen, self._refusals_since, self._looked_up = self._reads.height() or 0, time.time(), 0.0
        self._committer = Committer(ledger, url, max_transactions, max_wait_ms, standby_after_s=STANDBY_AFTER_S if standby else None,
                                    on_block=self._watch_wake.set, listen=False)
        # Other processes' queued rows and settled blocks wake this one: PostgreSQL's LISTEN/NOTIFY, SQLite's
        # doorbells (service.pending.Doorbell; where there is none, the watcher polls every few milliseconds).
        self._wakeups = self._settled_bell = None
        self._watch_s = WATCH_S
        if self._acks.postgres:
            self._wakeups = Wakeups(self._acks.url, {PENDING_CHANNEL: self._committer.queued, SETTLED_CHANNEL: self._watch_wake.set})
            self._watch_s = NOTIFIED_POLL_S
        else:
            try:
                self._settled_bell = Doorbell([doorbell_address(url, SETTLED_CHANNEL, slot) for slot in range(SETTLED_DOORBELLS)], self._watch_wake.set)
                self._watch_s = NOTIFIED_POLL_S
            except OSError:  # not Linux, or every slot taken
                pass
        self._threads = [threading.Thread(target=f, name=n, daemon=True) for f, n in ((self._ack_loop, "acknowledge"), (self._watch_loop, "watch"))]
        for thread in self._threads:
            thread.start()

    # -- the request's side ----------------------------------------------------------
    def submit(self, tx: Transaction, wait: bool = False) -> tuple[Admitted, asyncio.Future, asyncio.Future | None]:
        """Admit `tx` (InvalidTransaction if it fails) and queue it for acknowledgement; called on the
        event loop that awaits the answers.

        Returns the admitted transaction, a future of that loop that resolves (to None) once it
        is acknowledged, and with `wait` one that resolves to Included when a block holds it,
        or raises InvalidTransaction when the ledger refuses it."""
        return self.queue(self.admit(tx), wait)

    def admit(self, tx: Transaction) -> Admitted:
        """Admission alone (InvalidTransaction if it fails), nothing queued: a batch admits every item first."""
        return admit(tx, self.ledger.config.chain_id)

    def queue(self, admitted: Admitted, wait: bool = False) -> tuple[Admitted, asyncio.Future, asyncio.Future | None]:
        """Queue an admitted transaction for acknowledgement: `submit` without its admission."""
        ensure(not self._closed, InvalidTransaction, "the server is shutting down")
        loop = asyncio.get_running_loop()
        included = self._wait_for(bytes.fromhex(admitted.hash), loop) if wait else None  # before the enqueue: no block can slip by
        ack = loop.create_future()
        with self._ack_ready:
            self._to_ack.append((admitted, ack))
            if len(self._to_ack) == 1:  # the thread was told of the others already
                self._ack_ready.notify()
        return admitted, ack, included

    def forget(self, tx_hash: str, future: asyncio.Future) -> None:
        """Stop waiting (the request timed out or went away)."""
        digest = bytes.fromhex(tx_hash)
        with self._waiters_lock:
            waiters = [w for w in self._waiters.get(digest, ()) if w.future is not future]
            if waiters:
                self._waiters[digest] = waiters
            else:
                self._waiters.pop(digest, None)

    def close(self) -> None:
        """Stop: what is acknowledged stays queued for the next committer."""
        self._closed = True
        with self._ack_ready:
            self._ack_ready.notify()
        self._watch_wake.set()
        for thread in self._threads:
            thread.join(30)
        self._committer.close()  # after the acknowledgements: it commits what it can of them if it holds the lock
        if self._wakeups is not None:
            self._wakeups.close()
        if self._settled_bell is not None:
            self._settled_bell.close()
        self._acks.close()
        self._reads.close()

    # -- acknowledgement ---------------------------------------------------------------
    def _ack_loop(self) -> None:
        while True:
            with self._ack_ready:
                while not self._to_ack and not self._closed:
                    self._ack_ready.wait()
                if not self._to_ack:
                    return
                batch, self._to_ack = self._to_ack, []
            try:
                key = self._tag_key
                self._acks.enqueue([(bytes.fromhex(a.hash), a.body, None if key is None else row_tag(key, a.body)) for a, _ in batch])
            except Exception as e:  # the database failed: nothing was acknowledged, each request says so
                log.error("enqueueing %d transactions failed: %r", len(batch), e)
                _settle([(future, StorageError(f"the transaction could not be queued: {e}")) for _, future in batch])
                continue
            _settle([(future, None) for _, future in batch])
            self._committer.queued()

    # -- waiting for receipts --------------------------------------------------------------
    def _wait_for(self, tx_hash: bytes, loop) -> asyncio.Future:
        future = loop.create_future()
        with self._waiters_lock:
            idle = not self._waiters
            self._waiters.setdefault(tx_hash, []).append(_Waiter(future))
        if idle:  # a watcher with waiters already reads the head every WATCH_S: no wake-up per request
            self._watch_wake.set()
        return future

    def _resolve(self, outcomes: dict[bytes, object]) -> None:
        """Answer the waiters of each digest with its outcome (Included, or InvalidTransaction)."""
        settled = []
        with self._waiters_lock:
            for digest, outcome in outcomes.items():
                settled.extend((w.future, outcome) for w in self._waiters.pop(digest, ()))
        _settle(settled)

    def _watch_loop(self) -> None:
        reads, refusals = self._reads, PendingQueue(self.url)
        try:
            while not self._closed:
                self._watch_wake.clear()  # before the head is read: a block committed after the read ends the wait below
                try:
                    # Read the head before looking for waiters: a waiter registered after this read
                    # is enqueued after it too, so its block lies above `head`.
                    head, now = reads.height() or 0, time.time()
                    with self._waiters_lock:
                        idle = not self._waiters
                    if idle:
                        self._seen, self._refusals_since = head, now
                        self._watch_wake.wait(1.0)
                    else:
                        self._watch_once(reads, refusals, head, now)
                        # The committing worker's blocks are its own, and each wakes this thread (_commit_rows):
                        # only another worker's need a poll every few milliseconds (each ~0.1 ms of CPU here).
                        self._watch_wake.wait(NOTIFIED_POLL_S if self._committer.holding else self._watch_s)
                except Exception as e:
                    log.error("watching the head failed: %r", e)
                    time.sleep(RETRY_S)
        finally:
            refusals.close()

    def _watch_once(self, reads, refusals: PendingQueue, head: int, now: float) -> None:
        for height in range(self._seen + 1, head + 1):
            waiters = self._waiters
            self._resolve({digest: Included(digest.hex(), height, position, bytes(receipt))
                           for position, digest, _, receipt in reads.transaction_rows(height) if digest in waiters})
            self._seen = height
        # Refusals (rare): the committer marks them in the queue; looked for every REFUSALS_S
        # (clocks of one machine; a second's slack).
        if now - self._refusals_since >= REFUSALS_S:
            self._resolve({digest: InvalidTransaction(reason) for digest, reason, _ in refusals.refusals(self._refusals_since - 1.0)
                           if digest in self._waiters})
            self._refusals_since = now
        # A transaction submitted again after its block was committed is in no new block: look it up.
        # Every LOOKUP_EVERY_S, not every look at the head: the scan is over all waiters.
        if now - self._looked_up < LOOKUP_EVERY_S:
            return
        self._looked_up = now
        with self._waiters_lock:
            old = [d for d, ws in self._waiters.items() if any(now - w.since > LOOKUP_AFTER_S and not w.looked for w in ws)]
            for d in old:
                for w in self._waiters[d]:
                    w.looked = True
        for digest in old:
            where = reads.transaction_location(digest)
            if where is not None:
                height, position = where
                receipt = next(r for p, _, _, r in reads.transaction_rows(height) if p == position)
                self._resolve({digest: Included(digest.hex(), height, position, bytes(receipt))})
