"""The committer (service.committer): one at a time holds the lock and cuts blocks; a standby commits only
what nobody else does, and gives the lock back once the queue is empty."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest

from coopchain.chain.keys import PrivateKey
from coopchain.chain.store import open_store
from coopchain.chain.transaction import encode_transaction, sign_transaction, transaction_hash
from coopchain.service import wiring
from coopchain.service.committer import Committer
from coopchain.service.pending import CommitterLock, PendingQueue, admission_key, row_tag

CHAIN_ID = "committer-test"


@pytest.fixture
def world(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    node = PrivateKey.generate("ed25519")
    ledger = wiring.create_ledger(url, node, CHAIN_ID)
    queue, reads = PendingQueue(url), open_store(url)
    yield url, node, ledger, queue, reads
    ledger.close()
    queue.close()
    reads.close()


def enqueue(queue: PendingQueue, node: PrivateKey, count: int) -> list[bytes]:
    key = admission_key(node)
    txs = [sign_transaction(PrivateKey.generate("ed25519"), CHAIN_ID, 0, "record.put", {"key": f"c/{i}", "value": i}) for i in range(count)]
    queue.enqueue([(transaction_hash(tx), encode_transaction(tx), row_tag(key, encode_transaction(tx))) for tx in txs])
    return [transaction_hash(tx) for tx in txs]


def committed_within(reads, hashes: list[bytes], seconds: float) -> float | None:
    """Seconds until every hash is in the ledger, or None if they are not within `seconds`."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if all(reads.transaction_location(h) is not None for h in hashes):
            return time.monotonic() - start
        time.sleep(0.01)
    return None


def test_a_standby_leaves_the_queue_to_the_committer_holding_the_lock(world):
    url, node, ledger, queue, reads = world
    other = CommitterLock(url)
    assert other.acquire()  # the committer process, alive but (for this test) committing nothing
    standby = Committer(ledger, url, max_transactions=10, max_wait_ms=10, standby_after_s=0.2)
    try:
        hashes = enqueue(queue, node, 3)
        assert committed_within(reads, hashes, 1.5) is None  # overdue, but the lock is held: nothing committed twice
        assert not standby.holding
    finally:
        standby.close()
        other.release()
    assert queue.waiting_summary()[0] == 3  # still queued, for whoever commits next


def test_a_standby_commits_what_has_waited_past_its_deadline_and_gives_the_lock_back(world):
    url, node, ledger, queue, reads = world
    standby = Committer(ledger, url, max_transactions=10, max_wait_ms=50, standby_after_s=0.4)
    try:
        hashes = enqueue(queue, node, 3)
        waited = committed_within(reads, hashes, 10)
        assert waited is not None and waited >= 0.45 - 0.05  # not before the deadline and the standby's wait
        lock = CommitterLock(url)
        deadline = time.monotonic() + 5
        while not lock.acquire() and time.monotonic() < deadline:  # the queue is empty: the standby lets go
            time.sleep(0.05)
        assert lock.held() and not standby.holding
        lock.release()
    finally:
        standby.close()


def test_a_committer_takes_the_lock_at_once_and_cuts_at_the_deadline(world):
    url, node, ledger, queue, reads = world
    committer = Committer(ledger, url, max_transactions=1000, max_wait_ms=50)
    try:
        hashes = enqueue(queue, node, 3)
        waited = committed_within(reads, hashes, 10)
        assert waited is not None and waited < 1.0
        assert committer.holding
        assert reads.height() == 1  # one block for the three (cut at the deadline, not per row)
    finally:
        committer.close()


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="doorbells are Linux abstract sockets (elsewhere: polls)")


@linux_only
def test_a_queued_row_rings_the_doorbell_of_its_own_database_only(tmp_path):
    """SQLite's stand-in for NOTIFY: the committer listening on the queue's doorbell hears each enqueue,
    from any process of the machine; another database's queue does not ring it."""
    import threading

    from coopchain.service.pending import PENDING_CHANNEL, Doorbell, doorbell_address

    url, other_url = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    rung = threading.Event()
    queue, other = PendingQueue(url), PendingQueue(other_url)
    bell = Doorbell([doorbell_address(url, PENDING_CHANNEL)], rung.set)
    try:
        with pytest.raises(OSError):
            Doorbell([doorbell_address(url, PENDING_CHANNEL)], lambda: None)  # one listener: the committer holding the lock
        other.enqueue([(bytes(32), b"{}", None)])
        assert not rung.wait(0.5)
        queue.enqueue([(bytes(32), b"{}", None)])
        assert rung.wait(5)
    finally:
        bell.close()
        queue.close()
        other.close()
    again = Doorbell([doorbell_address(url, PENDING_CHANNEL)], lambda: None)  # closed: the name is free for the next holder
    again.close()


@linux_only
def test_a_settled_block_rings_every_watcher(tmp_path):
    """Each worker's watcher listens on a slot of its own; settling a block's rows rings them all (and settling
    nothing rings none)."""
    import threading

    from coopchain.service.pending import SETTLED_CHANNEL, Doorbell, doorbell_address

    url = f"sqlite:///{tmp_path / 'a.db'}"
    slots = [doorbell_address(url, SETTLED_CHANNEL, slot) for slot in range(3)]
    rung = [threading.Event() for _ in range(3)]
    bells = [Doorbell(slots, event.set) for event in rung]  # three watchers: the three slots
    queue = PendingQueue(url)
    try:
        with pytest.raises(OSError):
            Doorbell(slots, lambda: None)  # every slot of the list taken
        queue.enqueue([(bytes(32), b"{}", None)])
        queue.settle((), ())
        assert not any(event.wait(0.3) for event in rung)
        (seq,) = [int(row[0]) for row in queue._query("SELECT seq FROM api_pending")]
        queue.settle([seq], ())
        assert all(event.wait(5) for event in rung)
    finally:
        for bell in bells:
            bell.close()
        queue.close()


def test_a_database_error_does_not_end_a_standby(world):
    """The standby is the fallback when the committer process is down: a failed look at the queue (the
    database restarting) is retried, never the end of its thread."""
    import sqlite3

    url, node, ledger, queue, reads = world
    standby = Committer(ledger, url, max_transactions=10, max_wait_ms=10, standby_after_s=0.2)
    real, failures = standby._queue.waiting_summary, []

    def failing_once():
        if not failures:
            failures.append(1)
            raise sqlite3.OperationalError("disk I/O error")
        return real()

    standby._queue.waiting_summary = failing_once
    try:
        hashes = enqueue(queue, node, 2)
        assert committed_within(reads, hashes, 15) is not None
        assert failures and standby.alive()
    finally:
        standby.close()


@linux_only
def test_doorbells_wake_the_committer_and_the_waiting_request_long_before_their_polls(world, monkeypatch):
    """With the polls behind the doorbells made 30 s long, an idle committer still commits a submitted
    transaction, and the request waiting for its receipt (another Submitter's, as in another worker) still
    gets it, within seconds: only the doorbells can have woken them."""
    from coopchain.service import committer as committer_module, submission
    from coopchain.service.submission import Submitter

    url, node, ledger, queue, reads = world
    monkeypatch.setattr(committer_module, "NOTIFIED_POLL_S", 30.0)
    monkeypatch.setattr(submission, "NOTIFIED_POLL_S", 30.0)
    committer = Committer(ledger, url, max_transactions=1000, max_wait_ms=10)
    worker = Submitter(ledger, url, max_transactions=1000, max_wait_ms=10, standby=True)
    try:
        time.sleep(1.0)  # both idle, waiting on their (now 30 s) polls
        tx = sign_transaction(PrivateKey.generate("ed25519"), CHAIN_ID, 0, "record.put", {"key": "bell", "value": 1})

        async def submit_and_wait():
            _, acknowledged, included = worker.submit(tx, wait=True)
            await acknowledged
            return await asyncio.wait_for(included, 10)

        start = time.monotonic()
        found = asyncio.run(submit_and_wait())
        assert found.hash == transaction_hash(tx).hex() and time.monotonic() - start < 5
        assert committer.holding and not worker._committer.holding  # the committer committed it, not the standby
    finally:
        worker.close()
        committer.close()
