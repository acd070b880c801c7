"""Review of the hot routes' lane (app.api.fast), the key cache and the admitted-row tag (branch h3-api-ingest).

Each test here states a property the API must hold (issue 12, SPEC §6, §8, docs/api.md) and checks it
against a real server on loopback (uvicorn in a subprocess, SQLite or a throwaway PostgreSQL), or the
application in process where the failure needs a database to go away under it.  A failing test is a
finding of the review (/work/notes/reports3/review-api-fast-lane.md); the passing ones record what held.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from coopchain.chain.keys import PrivateKey
from coopchain.chain.ledger import Ledger
from coopchain.chain.transaction import sign_transaction, transaction_hash, transaction_json
from coopchain.service.api_store import ApiStore
from tests.api.conftest import CHAIN_ID, start_server, stop_server
from tests.postgres import postgres_db, postgres_url  # noqa: F401  (fixtures)

PROBLEM_JSON = "application/problem+json"


def _is_problem(response: httpx.Response) -> bool:
    if not response.headers.get("content-type", "").startswith(PROBLEM_JSON):
        return False
    body = response.json()
    return {"type", "title", "status", "detail"} <= set(body) and body["status"] == response.status_code


# -- a PostgreSQL connection dropped under a running worker (server restart, idle timeout, failover) -----------

def _drop_server_connections(url: str) -> int:
    """Terminate every other backend on the server's database, as a PostgreSQL restart does to a worker."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchall()
    return len(rows)


@pytest.fixture
def postgres_server(postgres_db, tmp_path):
    node = PrivateKey.generate("ed25519")
    Ledger.create(postgres_db, node, CHAIN_ID).close()
    node.save(str(tmp_path / "node.key"))
    store = ApiStore(postgres_db)
    tokens = {role: store.create_key(role, ("green-valley",) if role == "manager" else (), role).token for role in ("auditor", "participant")}
    store.close()
    process, url = start_server(postgres_db, extra_env={"COOPCHAIN_NODE_KEY": str(tmp_path / "node.key"), "COOPCHAIN_BATCH_WAIT_MS": "20"})
    yield postgres_db, url, tokens
    stop_server(process)


def test_lane_reads_answer_problem_json_when_the_database_connection_drops(postgres_server):
    """The lane asks the ledger for the history size (GET /proofs/blocks/{h} without tree_size) before the
    role check and outside its error handler: a database failure there escapes to uvicorn, whose answer is
    text/plain "Internal Server Error" with an "Exception in ASGI application" traceback, where FastAPI's own
    route answers problem+json.  Reproducer: kill the worker's backends (pg_terminate_backend), then
    `curl -i -H "X-API-Key: $AUDITOR" $URL/proofs/blocks/0`."""
    db, url, tokens = postgres_server
    headers = {"X-API-Key": tokens["auditor"]}
    assert httpx.get(url + "/proofs/blocks/0", headers=headers).status_code == 200
    assert _drop_server_connections(db) > 0
    answers = {path: httpx.get(url + path, headers=headers, timeout=30) for path in ("/proofs/blocks/0", "/proofs/blocks/0?tree_size=1", "/blocks/0", "/blocks/head")}
    wrong = {path: (r.status_code, r.headers.get("content-type"), r.text[:80]) for path, r in answers.items() if r.status_code >= 400 and not _is_problem(r)}
    assert not wrong, wrong


def test_reads_recover_after_the_database_connection_drops(postgres_server):
    """The side tables (service.api_store) and the pending queue open a dropped PostgreSQL connection again;
    the worker's read-only Ledger does not, so after a PostgreSQL restart every ledger read of that worker
    (the lane's and FastAPI's) is a 500 until the worker is restarted.  Never a 5xx on a request that is
    fine: reads must come back once the database is back.  Reproducer as above, then any GET /blocks/0."""
    db, url, tokens = postgres_server
    headers = {"X-API-Key": tokens["auditor"]}
    assert httpx.get(url + "/blocks/0", headers=headers).status_code == 200
    _drop_server_connections(db)
    statuses = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # a bound, not a speed: ten seconds for one reconnection
        statuses = [httpx.get(url + p, headers=headers, timeout=30).status_code for p in ("/blocks/0", "/blocks/head", "/proofs/blocks/0?tree_size=1")]
        if all(s == 200 for s in statuses):
            break
        time.sleep(0.5)
    assert statuses == [200, 200, 200], statuses


def test_transactions_acknowledged_after_a_dropped_connection_are_committed(postgres_server):
    """An acknowledged transaction must reach a block (docs/api.md: acknowledged = it will be committed).  The
    committer's Ledger (a connection of its own) does not reconnect either: after the drop, the queue takes
    and acknowledges transactions (it reconnects) while the commit thread fails on every attempt, so
    `wait=true` answers 202 after 30 s and nothing is committed until the worker restarts."""
    db, url, tokens = postgres_server
    _drop_server_connections(db)
    time.sleep(1.5)  # the committer's lock check (once a second) sees its lock connection gone and takes it again
    tx = sign_transaction(PrivateKey.generate("ed25519"), CHAIN_ID, 0, "record.put", {"key": "review/after-drop", "value": 1})
    answer = httpx.post(url + "/transactions", params={"wait": "true"}, json=transaction_json(tx), headers={"X-API-Key": tokens["participant"]}, timeout=60)
    assert answer.status_code in (200, 202), answer.text
    assert answer.json()["hash"] == transaction_hash(tx).hex()
    deadline = time.monotonic() + 20
    committed = False
    while time.monotonic() < deadline and not committed:
        with psycopg.connect(db, autocommit=True) as conn:
            committed = conn.execute("SELECT 1 FROM transactions WHERE hash = %s", (transaction_hash(tx),)).fetchone() is not None
        time.sleep(0.5)
    assert committed, "acknowledged, but not committed 20 s later"
