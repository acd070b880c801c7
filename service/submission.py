"""Submitting client-signed transactions (SPEC §4, §6): admitted at once, then batched into blocks.

The server never holds a submitter's key: a transaction arrives signed.  Admission
checks what can be checked alone (shape, chain id, signature) and answers at once;
the transaction then waits in a queue, and a block is cut when `max_transactions`
wait or `max_wait_ms` have passed since the first of them, as Fabric's orderer cuts
a batch (BatchSize.MaxMessageCount, BatchTimeout).  One thread commits, so blocks are
built in arrival order.  A batch the ledger refuses whole (a stale or out-of-order
nonce, found only against the state) is committed one transaction at a time, so the
one at fault is refused alone, with the ledger's reason.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from coopchain.chain.errors import ChainError, InvalidTransaction, ensure
from coopchain.chain.keys import PublicKey
from coopchain.chain.transaction import Transaction, encode_transaction, signing_bytes, transaction_hash

MAX_TRANSACTION_BYTES = 8 * 1024 * 1024  # a problem document of about 50,000 enterprises


@dataclass(frozen=True)
class Included:
    """A submitted transaction in its block, with its receipt (None on a ledger without receipts)."""

    hash: str
    height: int
    position: int
    receipt: object | None


def admit(tx: Transaction, chain_id: str) -> str:
    """Check what a transaction can be checked for alone; its hash (hex), or InvalidTransaction saying why."""
    ensure(tx.chain_id == chain_id, InvalidTransaction, f"the transaction is for chain {tx.chain_id!r}, this is {chain_id!r}")
    ensure(len(encode_transaction(tx)) <= MAX_TRANSACTION_BYTES, InvalidTransaction, f"a transaction is at most {MAX_TRANSACTION_BYTES:,} bytes")
    try:
        PublicKey.from_text(tx.sender).verify(tx.signature, signing_bytes(tx))
    except ChainError as e:
        raise InvalidTransaction(f"signature: {e}") from e
    return transaction_hash(tx).hex()


class Batcher:
    """Queues admitted transactions and commits them in blocks from one thread."""

    def __init__(self, ledger, max_transactions: int = 1000, max_wait_ms: float = 50.0) -> None:
        self.ledger, self.max_transactions, self.max_wait = ledger, max_transactions, max_wait_ms / 1000.0
        self._queue: list[tuple[Transaction, Future]] = []
        self._ready = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="batcher", daemon=True)
        self._thread.start()

    def submit(self, tx: Transaction) -> Future:
        """Admit `tx` and queue it; the future resolves to Included, or raises InvalidTransaction."""
        admit(tx, self.ledger.config.chain_id)
        future: Future = Future()
        with self._ready:
            ensure(not self._closed, InvalidTransaction, "the server is shutting down")
            self._queue.append((tx, future))
            self._ready.notify()
        return future

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join()

    def _next_batch(self) -> list[tuple[Transaction, Future]]:
        with self._ready:
            while not self._queue and not self._closed:
                self._ready.wait()
            deadline = time.monotonic() + self.max_wait
            while len(self._queue) < self.max_transactions and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._ready.wait(left)
            batch, self._queue = self._queue[: self.max_transactions], self._queue[self.max_transactions :]
            return batch

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if not batch:
                if self._closed:
                    return
                continue
            self._commit(batch)

    def _commit(self, batch: Sequence[tuple[Transaction, Future]]) -> None:
        try:
            block = self.ledger.commit([tx for tx, _ in batch])
        except InvalidTransaction as e:
            if len(batch) == 1:
                batch[0][1].set_exception(e)
                return
            for item in batch:  # find the one at fault: each alone
                self._commit([item])
            return
        except Exception as e:  # the store failed (disk, lost connection): nothing was written
            for _, future in batch:
                future.set_exception(e)
            return
        receipts = getattr(block, "receipts", ()) or (None,) * len(batch)
        for position, ((tx, future), receipt) in enumerate(zip(batch, receipts)):
            future.set_result(Included(transaction_hash(tx).hex(), block.header.height, position, receipt))

