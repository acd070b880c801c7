"""Submitting to two API workers on one real PostgreSQL ledger (SPEC §8, §9): many clients at once on both
workers give one chain with every acknowledged transaction exactly once; a worker killed with SIGKILL while
it commits loses no acknowledged transaction and leaves a ledger `coopchain chain verify` accepts.

Acknowledged means answered 202 (or 200) with the transaction's hash (docs/api.md): the reference
for "nothing lost" is the set of hashes the clients were given, compared with the hashes the
ledger's blocks hold, read directly from the database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg

from coopchain.chain.keys import PrivateKey
from coopchain.chain.ledger import Ledger
from coopchain.chain.transaction import sign_transaction, transaction_hash, transaction_json
from coopchain.service.api_store import ApiStore
from coopchain.service.pending import CommitterLock
from tests.api.conftest import CHAIN_ID, start_server, stop_server


def make_ledger(url: str, folder: Path) -> tuple[str, dict]:
    node = PrivateKey.generate("ed25519")
    Ledger.create(url, node, CHAIN_ID).close()
    node.save(str(folder / "node.key"))
    store = ApiStore(url)
    token = store.create_key("participant", (), "load").token
    store.close()
    return token, {"COOPCHAIN_NODE_KEY": str(folder / "node.key"), "COOPCHAIN_BATCH_WAIT_MS": "20", "COOPCHAIN_BATCH_TRANSACTIONS": "50"}


def chain_hashes(url: str) -> list[str]:
    """Every transaction hash in the ledger's blocks, in chain order, read from the tables."""
    ledger = Ledger.open(url)
    try:
        return [row[1].hex() for height in range(1, ledger.height() + 1) for row in ledger.store.transaction_rows(height)]
    finally:
        ledger.close()


def signed_bodies(count: int) -> list[dict]:
    # A key of its own for each: nonces never depend on the order the two workers see them in.
    return [transaction_json(sign_transaction(PrivateKey.generate("ed25519"), CHAIN_ID, 0, "record.put", {"key": f"load/{i}", "value": i}))
            for i in range(count)]


def post_all(url: str, token: str, bodies: list[dict], wait: bool, clients: int = 16) -> tuple[list[str], int]:
    """Each body POSTed on a fresh connection (so the kernel spreads them over both workers);
    (acknowledged hashes, requests that got no acknowledgement)."""
    acknowledged, failed = [], 0
    lock = threading.Lock()

    def post(body):
        nonlocal failed
        try:
            with httpx.Client(base_url=url, headers={"X-API-Key": token}, timeout=60) as c:
                r = c.post("/transactions", params={"wait": "true"} if wait else None, json=body)
        except httpx.TransportError:
            r = None
        with lock:
            if r is not None and r.status_code in (200, 202):
                acknowledged.append(r.json()["hash"])
            else:
                failed += 1

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(post, bodies))
    return acknowledged, failed


def chain_verify(url: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coopchain.app.cli", "chain", "verify", "--db", url], capture_output=True, text=True, timeout=300)


def test_many_clients_on_two_workers_give_one_chain_with_each_transaction_once(postgres_db, tmp_path):
    token, env = make_ledger(postgres_db, tmp_path)
    bodies = signed_bodies(200)
    expected = {transaction_hash(sign_transaction_of(b)).hex() for b in bodies}
    process, url = start_server(postgres_db, workers=2, extra_env=env)
    try:
        acknowledged, failed = post_all(url, token, bodies, wait=True)
    finally:
        stop_server(process)
    assert failed == 0
    assert sorted(acknowledged) == sorted(expected)  # every one answered 200, with its own hash
    on_chain = chain_hashes(postgres_db)
    assert sorted(on_chain) == sorted(expected)  # each exactly once, nothing else
    assert chain_verify(postgres_db).returncode == 0
    with psycopg.connect(postgres_db) as conn:  # one chain: heights 0..head, each once
        heights = [r[0] for r in conn.execute("SELECT height FROM blocks ORDER BY height")]
    assert heights == list(range(len(heights)))
    assert len(heights) - 1 < len(expected)  # batched: fewer blocks than transactions


def sign_transaction_of(body: dict):
    from coopchain.chain.transaction import transaction_from_json

    return transaction_from_json(body)


def committer_pid(url: str) -> int | None:
    """The OS process of the API worker holding the committer lock (its lock connection names it)."""
    lock = CommitterLock.KEY
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.classid = %s::oid AND l.objid = %s::oid AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            ((lock >> 32) & 0xFFFF_FFFF, lock & 0xFFFF_FFFF)).fetchone()
    return None if row is None else int(row[0].rsplit(" ", 1)[1])


def test_kill_9_of_the_committing_worker_loses_no_acknowledged_transaction(postgres_db, tmp_path):
    token, env = make_ledger(postgres_db, tmp_path)
    bodies = signed_bodies(400)
    process, url = start_server(postgres_db, workers=2, extra_env=env)
    killed = []
    try:
        def killer():
            # Kill whichever worker commits, twice, while the clients keep submitting.
            for _ in range(2):
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    with psycopg.connect(postgres_db, autocommit=True) as conn:
                        committed = conn.execute("SELECT COUNT(*) FROM transactions").fetchone()[0]
                    pid = committer_pid(postgres_db)
                    if pid is not None and committed >= 40 * (len(killed) + 1):
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                        break
                    time.sleep(0.05)

        thread = threading.Thread(target=killer)
        thread.start()
        acknowledged, failed = post_all(url, token, bodies, wait=False)
        thread.join()
        # The surviving or restarted worker takes the lock and commits what is queued.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not set(acknowledged) <= set(chain_hashes(postgres_db)):
            time.sleep(0.5)
    finally:
        stop_server(process)
    assert len(killed) == 2, "the committer was not found to kill"
    assert len(set(killed)) == 2  # the second kill hit the worker that took over
    assert len(acknowledged) > len(bodies) // 2  # most requests were acknowledged
    on_chain = chain_hashes(postgres_db)
    assert set(acknowledged) <= set(on_chain)  # nothing acknowledged is lost
    assert len(on_chain) == len(set(on_chain))  # nothing twice
    submitted = {transaction_hash(sign_transaction_of(b)).hex() for b in bodies}
    assert set(on_chain) <= submitted  # nothing else
    verdict = chain_verify(postgres_db)
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
