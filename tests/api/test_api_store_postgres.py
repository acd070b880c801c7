"""The side tables on PostgreSQL: a key made, found in constant time, revoked; a connection the
server terminated is opened again on next use."""

from __future__ import annotations

import psycopg

from coopchain.service.api_store import ApiStore


def test_keys_on_postgresql_survive_a_dropped_connection(postgres_db):
    store = ApiStore(postgres_db)
    made = store.create_key("manager", ("green-valley", "hill-top"), "pg")
    assert store.authenticate(made.token).cooperatives == ("green-valley", "hill-top")
    assert store.authenticate(made.token[:-1] + ("A" if made.token[-1] != "A" else "B")) is None
    # The server ends this store's session, as a restart or an idle timeout would.
    with psycopg.connect(postgres_db, autocommit=True) as admin:
        backend = store._conn.info.backend_pid
        admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
    assert store.authenticate(made.token) is not None  # the first use after it reconnects
    assert store._conn.info.backend_pid != backend
    assert store.revoke_key(made.key.id).revoked is not None
    assert store.authenticate(made.token) is None
    store.close()


def test_queued_rows_and_settled_blocks_wake_the_other_workers(postgres_db):
    """LISTEN/NOTIFY (service.pending.Wakeups): one process's enqueue and settle wake another's listeners
    once each commits, and nothing else does."""
    import threading

    from coopchain.service.pending import PENDING_CHANNEL, SETTLED_CHANNEL, PendingQueue, Wakeups

    queued, settled = threading.Event(), threading.Event()
    writer = PendingQueue(postgres_db)
    wakeups = Wakeups(writer.url, {PENDING_CHANNEL: queued.set, SETTLED_CHANNEL: settled.set})
    try:
        for _ in range(100):  # the listener is connected once a notification reaches it
            writer.enqueue([(b"\x01" * 32, b"{}", None)])  # the same row again changes nothing, and notifies
            if queued.wait(0.1):
                break
        assert queued.is_set() and not settled.is_set()
        queued.clear()
        writer.settle([1], ())  # the first row's seq: as after a block
        assert settled.wait(10) and not queued.is_set()
    finally:
        wakeups.close()
        writer.close()
