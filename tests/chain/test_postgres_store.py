"""The ledger on a real PostgreSQL server (chain.store_postgres; SPEC §2, §8, §9).

The same ledger as on SQLite (commits, verify, replay, proofs); the schema refuses
UPDATE, DELETE and TRUNCATE on every table; a reader sees blocks other
connections commit; and several OS processes committing at once, each with its
own connection, leave one chain with no gap or fork and every acknowledged
transaction in it.
"""

import multiprocessing
import os
import queue
import time

import pytest

from coopchain.chain import merkle
from coopchain.chain.errors import InvalidTransaction, StorageError
from coopchain.chain.keys import PrivateKey
from coopchain.chain.ledger import Ledger
from coopchain.chain.store import TABLES, open_store
from coopchain.chain.store_postgres import WRITE_LOCK_KEY, PostgresStore
from coopchain.chain.transaction import decode_transaction, encode_transaction, sign_transaction, transaction_hash
from coopchain.chain.verify import replay_chain, verify_chain
from tests.postgres import fresh_database, postgres_db, postgres_url, with_database  # noqa: F401  (fixtures)

CHAIN = "pg-chain"
WORKERS = 4
BLOCKS_PER_WORKER = 20
TXS_PER_BLOCK = 2


def connect(url):
    import psycopg  # late: without it the fixtures skip or fail with the reason

    return psycopg.connect(url, autocommit=True)


def record(key, nonce, name="k", value=1):
    return sign_transaction(key, CHAIN, nonce, "record.put", {"key": name, "value": value})


@pytest.fixture
def node():
    return PrivateKey.generate("ed25519")


@pytest.fixture
def ledger(postgres_db, node):  # noqa: F811
    led = Ledger.create(postgres_db, node, CHAIN)
    yield led
    led.close()


# -- the ledger works the same -------------------------------------------------------


def test_open_store_picks_postgres_for_postgresql_urls(ledger, postgres_db):  # noqa: F811
    store = open_store(postgres_db)
    assert isinstance(store, PostgresStore) and store.height() == 0
    store.close()


def test_commits_verify_and_replay(ledger, postgres_db):  # noqa: F811
    users = [PrivateKey.generate("ed25519"), PrivateKey.generate("p256")]
    for i in range(5):
        ledger.commit([record(users[0], i, f"a{i}", i), record(users[1], i, f"b{i}", {"x": str(i)})])
    verified, replayed = verify_chain(ledger.store), replay_chain(ledger.store)
    assert verified == replayed
    assert (verified.blocks, verified.transactions) == (6, 10)
    assert verified.state_root == ledger.head().state_root


def test_proofs_from_postgres_verify(ledger):
    user = PrivateKey.generate("ed25519")
    txs = [record(user, i, f"k{i}", i) for i in range(7)]
    for tx in txs:
        ledger.commit([tx])
    height, proof = ledger.transaction_proof(transaction_hash(txs[3]))
    parsed = merkle.parse_inclusion_proof_json(proof)
    merkle.verify_inclusion(merkle.leaf_hash(encode_transaction(txs[3])), parsed.leaf_index, parsed.tree_size,
                            parsed.path, ledger.header(height).transactions_root)
    head = ledger.head()
    c = merkle.parse_consistency_proof_json(ledger.consistency_proof(3, head.height))
    merkle.verify_consistency(3, head.height, ledger.header(3).history_root, head.history_root, c.path)


def test_reopened_ledger_keeps_its_chain_and_nonces(ledger, postgres_db, node):  # noqa: F811
    user = PrivateKey.generate("ed25519")
    ledger.commit([record(user, 0)])
    again = Ledger.open(postgres_db, node)
    assert again.head() == ledger.head()
    assert again.next_nonce(user.public_key.to_text()) == 1
    again.commit([record(user, 1)])
    again.close()
    assert ledger.height() == 2


def test_creating_the_schema_twice_is_harmless_and_a_second_genesis_is_refused(ledger, postgres_db, node):  # noqa: F811
    PostgresStore(postgres_db, create=True).close()
    with pytest.raises(StorageError, match="already holds a chain"):
        Ledger.create(postgres_db, node, CHAIN)
    assert ledger.height() == 0


def test_a_refused_block_rolls_back_and_frees_the_write_lock(ledger, postgres_db):  # noqa: F811
    user = PrivateKey.generate("ed25519")
    with pytest.raises(InvalidTransaction, match="transaction 1"):
        ledger.commit([record(user, 0), record(user, 5)])
    assert ledger.height() == 0
    with connect(postgres_db) as conn:
        assert conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,)).fetchone()[0] is True
    ledger.commit([record(user, 0)])
    assert ledger.height() == 1


def test_a_long_lived_reader_sees_blocks_other_connections_commit(ledger, postgres_db):  # noqa: F811
    reader = Ledger.open(postgres_db)
    assert reader.height() == 0
    user = PrivateKey.generate("ed25519")
    block = ledger.commit([record(user, 0)])
    assert reader.height() == 1 and reader.head() == block.header
    reader.close()


def test_the_writer_waits_for_the_lock_then_says_who_holds_it(ledger, postgres_db):  # noqa: F811
    store = PostgresStore(postgres_db, lock_timeout_s=0.2)
    with connect(postgres_db) as holder:
        holder.execute("SET application_name = 'stuck-worker'")
        holder.execute("SELECT pg_advisory_lock(%s)", (WRITE_LOCK_KEY,))  # another writer, stuck
        pid = holder.info.backend_pid
        t0 = time.perf_counter()
        with pytest.raises(StorageError, match=rf"write lock .* stayed taken for 0.2 s by server process {pid} \('stuck-worker'\)"):
            with store.writer():
                pass
        assert time.perf_counter() - t0 < 5
    with store.writer() as w:  # the holder's session ended: the lock is free again
        assert w.height() == 0
    store.close()


def test_connections_the_server_drops_roll_back_the_block_and_are_reopened(ledger, postgres_db):  # noqa: F811
    user = PrivateKey.generate("ed25519")
    store = ledger.store
    with pytest.raises(StorageError, match="lost the connection .* not acknowledged"):
        with store.writer() as w:
            w.cur.execute("SELECT pg_backend_pid()")
            pid = w.cur.fetchone()[0]
            with connect(postgres_db) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))  # the server drops the writer mid-block
            w.cur.execute("SELECT MAX(height) FROM blocks")
    with connect(postgres_db) as admin:  # the reader too, as a server restart would
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    assert ledger.height() == 0  # the read the server dropped ran again on a new connection
    ledger.commit([record(user, 0)])
    assert verify_chain(store).blocks == 2


def test_the_writer_reads_committed_and_flushes_whatever_the_server_defaults(ledger, postgres_db):  # noqa: F811
    name = postgres_db.rsplit("/", 1)[1]
    with connect(postgres_db) as conn:
        conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_isolation = \'serializable\'')
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    store = PostgresStore(postgres_db)
    with store.writer() as w:
        w.cur.execute("SHOW transaction_isolation")
        assert w.cur.fetchone()[0] == "read committed"
        w.cur.execute("SHOW synchronous_commit")
        assert w.cur.fetchone()[0] == "on"
    store.close()


# -- clear refusals when opening -----------------------------------------------------


def test_an_empty_database_is_not_a_ledger_and_the_message_names_the_tables(postgres_db):  # noqa: F811
    with pytest.raises(StorageError, match=r"not a coopchain ledger \(tables \['blocks', 'transactions', "
                                           r"'trie_nodes', 'history_nodes'\] are missing\): create one first"):
        Ledger.open(postgres_db)


def test_a_foreign_database_names_the_missing_tables(postgres_db):  # noqa: F811
    with connect(postgres_db) as conn:
        conn.execute("CREATE TABLE blocks (x int)")
        conn.execute("CREATE TABLE trie_nodes (x int)")
    with pytest.raises(StorageError, match=r"not a coopchain ledger \(tables \['transactions', 'history_nodes'\] are missing\)$"):
        Ledger.open(postgres_db)


def test_no_server_says_host_and_port_and_not_the_password():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens here once the socket is closed
    with pytest.raises(StorageError, match=rf"cannot connect to PostgreSQL database 'ledger' at 127\.0\.0\.1:{port} "
                                           r"as user 'clerk': .*(refused|failed)") as caught:
        open_store(f"postgresql://clerk:Sup3r-s3cret@127.0.0.1:{port}/ledger")
    assert "Sup3r-s3cret" not in str(caught.value) and "Sup3r-s3cret" not in str(caught.value.__cause__)


def test_a_wrong_password_says_so_without_echoing_it(postgres_url):  # noqa: F811
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(postgres_url)
    wrong = urlunsplit(parts._replace(netloc=f"{parts.username}:Wr0ng-pw@{parts.hostname}:{parts.port}"))
    with pytest.raises(StorageError, match=rf"at 127\.0\.0\.1:{parts.port} as user 'coopchain': .*password authentication failed") as caught:
        open_store(wrong)
    assert "Wr0ng-pw" not in str(caught.value)


# -- append-only in the schema -------------------------------------------------------


@pytest.fixture(scope="module")
def stored_ledger(postgres_url):  # noqa: F811
    """One ledger with a block in every table, shared by the refusal tests (refused statements change nothing)."""
    with fresh_database(postgres_url, "refuse") as url:
        led = Ledger.create(url, PrivateKey.generate("ed25519"), CHAIN)
        led.commit([record(PrivateKey.generate("ed25519"), 0)])
        led.close()
        yield url


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("statement", ["UPDATE {t} SET hash = hash", "DELETE FROM {t}", "TRUNCATE {t} CASCADE"])
def test_postgres_refuses_update_delete_and_truncate(stored_ledger, table, statement):
    import psycopg

    with connect(stored_ledger) as conn:  # the superuser that owns the tables: triggers bind it too
        before = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        with pytest.raises(psycopg.IntegrityError, match=f"the ledger is append-only: {statement.split()[0]} on {table}"):
            conn.execute(statement.format(t=table))
        assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == before > 0


def test_plain_truncate_of_blocks_is_refused_too(stored_ledger):
    import psycopg

    with connect(stored_ledger) as conn, pytest.raises(psycopg.Error):
        conn.execute("TRUNCATE blocks")  # refused by the foreign key before the trigger; refused all the same


def test_update_delete_truncate_are_revoked_from_public(stored_ledger):
    with connect(stored_ledger) as conn:
        rows = conn.execute(
            "SELECT c.relname, a.privilege_type FROM pg_class c, aclexplode(c.relacl) a "
            "WHERE c.relname = ANY(%s) AND a.grantee = 0", (list(TABLES),)).fetchall()
        assert rows == []  # PUBLIC (grantee 0) holds nothing on the ledger tables
        acls = conn.execute("SELECT relacl IS NOT NULL FROM pg_class WHERE relname = ANY(%s)", (list(TABLES),)).fetchall()
        assert acls == [(True,)] * len(TABLES)  # the REVOKE ran: the ACLs are explicit, not the default


# -- real concurrent writers ---------------------------------------------------------


def _writer_process(url: str, key_path: str, worker: int, barrier, results) -> None:
    """One API worker: its own process, connection and Ledger; commits its user's blocks as fast as it can."""
    acked: list[str] = []
    try:
        ledger = Ledger.open(url, PrivateKey.load(key_path))
        user = PrivateKey.generate("ed25519")
        blocks = [[record(user, b * TXS_PER_BLOCK + i, f"w{worker}-{b}-{i}", b) for i in range(TXS_PER_BLOCK)]
                  for b in range(BLOCKS_PER_WORKER)]
        barrier.wait(timeout=60)
        for txs in blocks:
            ledger.commit(txs)
            acked += [transaction_hash(tx).hex() for tx in txs]  # acknowledged: commit returned
        ledger.close()
        results.put((worker, acked, None))
    except BaseException as e:  # reported to the parent, which fails the test with it
        results.put((worker, acked, f"{type(e).__name__}: {e}"))


def test_concurrent_writer_processes_make_one_chain_with_every_acknowledged_transaction(tmp_path, postgres_db, node):  # noqa: F811
    Ledger.create(postgres_db, node, CHAIN).close()
    key_path = tmp_path / "node.pem"
    node.save(key_path)
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(WORKERS), ctx.Queue()
    procs = [ctx.Process(target=_writer_process, args=(postgres_db, str(key_path), w, barrier, results))
             for w in range(WORKERS)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    reports = {}
    try:
        for _ in procs:
            worker, acked, error = results.get(timeout=90)
            reports[worker] = (acked, error)
    except queue.Empty:
        pytest.fail(f"writers did not report in time: {sorted(reports)} of {WORKERS} did")
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    elapsed = time.perf_counter() - t0
    assert {w: error for w, (_, error) in reports.items() if error} == {}
    acked = [h for hashes, _ in reports.values() for h in hashes]
    assert len(acked) == WORKERS * BLOCKS_PER_WORKER * TXS_PER_BLOCK

    store = open_store(postgres_db)
    try:
        total = WORKERS * BLOCKS_PER_WORKER
        assert store.height() == total and store.row_count("blocks") == total + 1  # heights 0..N, one row each
        assert [h for h, _, _ in store.block_rows()] == list(range(total + 1))
        missing = [h for h in acked if store.transaction_location(bytes.fromhex(h)) is None]
        assert missing == []
        report = verify_chain(store)  # links, signatures, nonces, roots: one chain, no fork
        assert (report.blocks, report.transactions) == (total + 1, len(acked))
        # The writers really raced: a serial run would change sender WORKERS - 1 times along the chain.
        senders = [decode_transaction(store.transaction_rows(h)[0][2]).sender for h in range(1, total + 1)]
        switches = sum(a != b for a, b in zip(senders, senders[1:]))
        assert switches >= WORKERS, f"only {switches} sender changes in {total} blocks: the writers did not overlap"
    finally:
        store.close()
    print(f"\n{WORKERS} processes x {BLOCKS_PER_WORKER} blocks: {elapsed:.2f} s wall (spawn included), "
          f"{switches} sender changes, pid {os.getpid()}")


def test_an_app_role_with_select_and_insert_only_runs_the_ledger_but_cannot_create_it(ledger, postgres_db, node):  # noqa: F811
    import uuid
    from urllib.parse import urlsplit, urlunsplit

    role = f"clerk_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(postgres_db)
    clerk_url = urlunsplit(parts._replace(netloc=f"{role}:clerk-pw@{parts.hostname}:{parts.port}"))
    with connect(postgres_db) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'clerk-pw'")
        try:
            admin.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")  # the default since PostgreSQL 15
            with pytest.raises(StorageError, match=r"cannot create the ledger's tables in .*permission denied"):
                open_store(clerk_url, create=True)
            admin.execute(f"GRANT SELECT, INSERT ON {', '.join(TABLES)} TO {role}")
            clerk = Ledger.open(clerk_url, node)
            clerk.commit([record(PrivateKey.generate("ed25519"), 0)])
            clerk.close()
            assert ledger.height() == 1
        finally:
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")
