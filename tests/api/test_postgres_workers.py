"""Two API workers on one real PostgreSQL ledger (SPEC §9): both answer from the same head, the
side tables (keys, problems, jobs) are shared, so a job started through one worker is reported,
followed and cancelled through either.  Requests spread over the workers by the kernel; many
connections make sure both take part."""

from __future__ import annotations

import json
import time

import httpx

from coopchain.chain.keys import PrivateKey
from coopchain.chain.ledger import Ledger
from coopchain.chain.transaction import sign_transaction, transaction_hash
from coopchain.service.api_store import ApiStore
from tests.api.conftest import CHAIN_ID, SAMPLES, allocation_value, start_server, stop_server


def test_two_workers_share_one_postgresql_ledger(postgres_db):
    node, manager = PrivateKey.generate("ed25519"), PrivateKey.generate("ed25519")
    ledger = Ledger.create(postgres_db, node, CHAIN_ID)
    value = allocation_value((SAMPLES / "green-valley.json").read_text(), "green-valley")
    tx = sign_transaction(manager, CHAIN_ID, 0, "record.put", {"key": "allocation/green-valley/2026-Q4", "value": value})
    block = ledger.commit([tx])
    ledger.close()
    store = ApiStore(postgres_db)
    token = store.create_key("manager", ("green-valley",), "pg").token
    store.close()

    process, url = start_server(postgres_db, workers=2)
    try:
        heads, heights = set(), set()
        # Fresh connections (no keep-alive): each request may land on either worker.
        for _ in range(40):
            with httpx.Client(base_url=url, headers={"X-API-Key": token}, timeout=60) as c:
                head = c.get("/blocks/head").json()
                heads.add((head["height"], head["hash"]))
                heights.add(c.get("/transactions/" + transaction_hash(tx).hex()).json()["height"])
        assert heads == {(1, block.hash.hex())}
        assert heights == {1}

        def fresh():
            return httpx.Client(base_url=url, headers={"X-API-Key": token}, timeout=60)

        with fresh() as c:
            digest = c.post("/problems", content=(SAMPLES / "green-valley.json").read_bytes()).json()["hash"]
        # Every later request on a new connection: any worker must know the problem and the job.
        for _ in range(10):
            with fresh() as c:
                assert c.get(f"/problems/{digest}").status_code == 200
        with fresh() as c:
            job = c.post(f"/problems/{digest}/fronts", json={"method": "augmecon", "points": 9, "objectives": ["F1", "F3"]}).json()
        states = []
        for _ in range(600):
            with fresh() as c:
                state = c.get(job["url"]).json()
            states.append(state["state"])
            if state["state"] in ("done", "failed", "cancelled"):
                break
            time.sleep(0.1)
        assert states[-1] == "done", state
        assert len(state["result"]["points"]) >= 2
        with fresh() as c, c.stream("GET", job["events"]) as events:
            lines = [line for line in events.iter_lines() if line.startswith("data:")]
        assert json.loads(lines[-1][5:])["state"] == "done"
    finally:
        stop_server(process)
