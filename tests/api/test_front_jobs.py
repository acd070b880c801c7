"""Exact front jobs over HTTP on a pool of two processes (issue 12): two jobs at once share the
pool (never more worker processes than COOPCHAIN_FRONT_PROCESSES), each gives the front computed
here sequentially, and a cancelled job ends before its grid is through."""

from __future__ import annotations

import subprocess
import time

import httpx

from tests.api.conftest import SAMPLES, start_server, stop_server

FINAL = ("done", "failed", "cancelled")


def _pool_processes(pid: int) -> set[int]:
    """The server's multiprocessing children (spawn_main in their command line)."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    out = set()
    for child in children:
        try:
            if b"spawn_main" in open(f"/proc/{child}/cmdline", "rb").read():
                out.add(int(child))
        except FileNotFoundError:
            pass
    return out


def test_two_jobs_share_a_pool_of_two_and_give_the_sequential_fronts(server):
    from coopchain.models.problem import load_problem_json
    from coopchain.service.fronts import FrontRequest, compute_front

    process, url = start_server(server.db, extra_env={"COOPCHAIN_FRONT_PROCESSES": "2"})
    try:
        with httpx.Client(base_url=url, headers={"X-API-Key": server.tokens["manager"]}, timeout=60) as c:
            digest = c.post("/problems", content=(SAMPLES / "green-valley.json").read_bytes()).json()["hash"]
            asked = [{"method": "augmecon", "points": 25, "objectives": ["F1", "F3", "T"]},
                     {"method": "augmecon", "points": 9, "objectives": ["F1", "F2"]}]
            jobs = [c.post(f"/problems/{digest}/fronts", json=body).json() for body in asked]
            seen = set()
            for _ in range(3000):
                seen |= _pool_processes(process.pid)
                states = [c.get(job["url"]).json() for job in jobs]
                if all(s["state"] in FINAL for s in states):
                    break
                time.sleep(0.1)
        assert [s["state"] for s in states] == ["done", "done"], states
        assert 1 <= len(seen) <= 2  # one pool of two for both jobs
        problem = load_problem_json((SAMPLES / "green-valley.json").read_text())
        for body, state in zip(asked, states):
            here = compute_front(problem, FrontRequest(body["method"], body["points"], tuple(body["objectives"]))).as_json()
            assert [p["allocation"] for p in state["result"]["points"]] == [p["allocation"] for p in here["points"]]
            assert state["result"]["reported"] == here["reported"]
    finally:
        stop_server(process)


def test_a_running_exact_front_job_is_cancelled_before_its_grid_is_through(server):
    with server.client("manager") as c:
        digest = c.post("/problems", content=(SAMPLES / "green-valley.json").read_bytes()).json()["hash"]
        # 900 grid points of (F2, F1, F3) on the sample: minutes of work if it ran to the end.
        job = c.post(f"/problems/{digest}/fronts", json={"method": "augmecon", "points": 900, "objectives": ["F1", "F2", "F3"]}).json()
        for _ in range(3000):
            state = c.get(job["url"]).json()
            if state["state"] == "running" and state["progress"] > 0:
                break
            time.sleep(0.1)
        assert state["state"] == "running", state
        assert c.post(f"{job['url']}/cancel").status_code == 202
        for _ in range(3000):
            state = c.get(job["url"]).json()
            if state["state"] in FINAL:
                break
            time.sleep(0.1)
    assert state["state"] == "cancelled", state
    assert state["progress"] < 1.0 and state["result"] is None
