"""The front-job limit holds over all workers together (COOPCHAIN_MAX_ACTIVE_JOBS, docs/api.md): many
clients asking two workers for fronts at the same moment get exactly `limit` jobs and 429 for the rest,
on SQLite and on a real PostgreSQL.  The jobs are long (2,000 grid points), so none ends during the burst."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from coopchain.chain.keys import PrivateKey
from coopchain.chain.ledger import Ledger
from coopchain.service.api_store import ApiStore
from tests.api.conftest import CHAIN_ID, SAMPLES, start_server, stop_server

LIMIT, REQUESTS = 3, 16


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("postgres_db")


def test_the_job_limit_holds_across_two_workers(database):
    Ledger.create(database, PrivateKey.generate("ed25519"), CHAIN_ID).close()
    store = ApiStore(database)
    token = store.create_key("manager", ("green-valley",), "burst").token
    store.close()
    process, url = start_server(database, workers=2, extra_env={"COOPCHAIN_MAX_ACTIVE_JOBS": str(LIMIT)})
    try:
        with httpx.Client(base_url=url, headers={"X-API-Key": token}, timeout=60) as c:
            digest = c.post("/problems", content=(SAMPLES / "green-valley.json").read_bytes()).json()["hash"]
        start = threading.Barrier(REQUESTS)

        def ask(_):
            # A fresh connection each: the kernel spreads them over both workers.
            with httpx.Client(base_url=url, headers={"X-API-Key": token}, timeout=60) as c:
                start.wait()
                return c.post(f"/problems/{digest}/fronts", json={"method": "augmecon", "points": 2000})

        with ThreadPoolExecutor(REQUESTS) as pool:
            answers = list(pool.map(ask, range(REQUESTS)))
        codes = sorted(a.status_code for a in answers)
        assert codes == [202] * LIMIT + [429] * (REQUESTS - LIMIT), codes
        assert all(a.headers["content-type"].startswith("application/problem+json") for a in answers if a.status_code == 429)
        with httpx.Client(base_url=url, headers={"X-API-Key": token}, timeout=60) as c:
            for a in answers:
                if a.status_code == 202:
                    c.post(a.json()["url"] + "/cancel")
    finally:
        stop_server(process)
