"""With COOPCHAIN_DASK the front jobs run on a Dask cluster (here a LocalCluster of two worker
processes): the same task functions as the local pool (the payoff rows and grid points of
models.augmecon), the front the one computed here, sequentially, without Dask."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.api.conftest import SAMPLES, start_server, stop_server

distributed = pytest.importorskip("distributed")


def test_a_front_job_runs_on_a_dask_cluster(server):
    from coopchain.models.problem import load_problem_json
    from coopchain.service.fronts import FrontRequest, compute_front

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
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
            # The scheduler ran the grid points and the payoff rows.
            ran = {str(key) for key in cluster.scheduler.task_prefixes}
            assert {"solve_grid_point", "payoff_row_task"} <= ran, ran
            # The same front as the sequential walk in this process: same points, same order.
            here = compute_front(load_problem_json((SAMPLES / "green-valley.json").read_text()), FrontRequest("augmecon", 9, ("F1", "F2"))).as_json()
            assert [p["allocation"] for p in state["result"]["points"]] == [p["allocation"] for p in here["points"]]
            assert state["result"]["reported"] == here["reported"]
        finally:
            stop_server(process)
