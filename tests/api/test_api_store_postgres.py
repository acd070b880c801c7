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
