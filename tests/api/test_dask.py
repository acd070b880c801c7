"""With COOPCHAIN_DASK the front jobs run on a Dask cluster (here a LocalCluster of one worker
process): the same task function, its result and progress reaching the API through the database."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.api.conftest import SAMPLES, start_server, stop_server

distributed = pytest.importorskip("distributed")


def test_a_front_job_runs_on_a_dask_cluster(server):
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        process, url = start_server(server.db, extra_env={"COOPCHAIN_DASK": cluster.scheduler_address})
        try:
            with httpx.Client(base_url=url, headers={"X-API-Key": server.tokens["manager"]}, timeout=60) as c:
                digest = c.post("/problems", content=(SAMPLES / "green-valley.json").read_bytes()).json()["hash"]
                job = c.post(f"/problems/{digest}/fronts", json={"method": "augmecon", "points": 9, "objectives": ["F1", "F2"]}).json()
                for _ in range(1200):
                    state = c.get(job["url"]).json()
                    if state["state"] in ("done", "failed", "cancelled"):
                        break
                    time.sleep(0.1)
            assert state["state"] == "done", state
            assert len(state["result"]["points"]) >= 2
            # The scheduler ran it: the task's key is the job's.
            ran = {str(key) for key in cluster.scheduler.task_prefixes}
            assert "run_front_job" in ran, ran
        finally:
            stop_server(process)
