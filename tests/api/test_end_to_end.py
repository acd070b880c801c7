"""End to end over real HTTP (uvicorn on loopback): a manager uploads a CSV, follows a front job's
progress events to its end; an auditor fetches a bundle that `coopchain verify` accepts offline."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np

from tests.api.conftest import SAMPLES


def _events(client, url: str) -> list[tuple[str, dict]]:
    """Read a text/event-stream to its end: (event name, JSON data) pairs."""
    out, name = [], None
    with client.stream("GET", url) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                out.append((name, json.loads(line.split(":", 1)[1])))
    return out


def test_csv_upload_has_the_json_documents_hash(server):
    # The sample ships the same cooperative as JSON and as CSV + header: one identity.
    with server.client("manager") as c:
        by_json = c.post("/problems", content=(SAMPLES / "green-valley.json").read_bytes())
        by_csv = c.post("/problems/csv", files={"table": ("green-valley.csv", (SAMPLES / "green-valley.csv").read_bytes(), "text/csv")},
                        data={"header": (SAMPLES / "green-valley.header.json").read_text()})
    assert by_json.status_code == 201 and by_csv.status_code == 201
    assert by_csv.json()["hash"] == by_json.json()["hash"]


def test_the_hash_is_sha256_of_the_stored_canonical_document(server):
    with server.client("manager") as c:
        digest = c.post("/problems", content=(SAMPLES / "green-valley.json").read_bytes()).json()["hash"]
        document = c.get(f"/problems/{digest}").json()["document"]
    # RFC 8785 for this document: sorted keys, no spaces (the canonical form is JCS).
    import rfc8785

    assert hashlib.sha256(rfc8785.dumps(document)).hexdigest() == digest


def test_front_job_progress_events_then_a_nondominated_front(server):
    with server.client("manager") as c:
        digest = c.post("/problems", content=(SAMPLES / "green-valley.json").read_bytes()).json()["hash"]
        started = c.post(f"/problems/{digest}/fronts", json={"method": "augmecon", "points": 16, "objectives": ["F1", "F2", "F3"]})
        assert started.status_code == 202
        job = started.json()
        assert started.headers["location"] == job["url"]
        events = _events(c, job["events"])
        final = c.get(job["url"]).json()
    progress = [data["progress"] for name, data in events if name == "progress"]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert events[-1][0] == "end" and events[-1][1]["state"] == "done"
    assert final["state"] == "done"
    points = final["result"]["points"]
    assert len(points) >= 2
    # Brute force: no point dominates another (F1, F2 up, F3 down).
    values = np.array([[p["values"]["F1"], p["values"]["F2"], -p["values"]["F3"]] for p in points])
    for i in range(len(values)):
        for j in range(len(values)):
            if i != j:
                assert not (np.all(values[j] >= values[i]) and np.any(values[j] > values[i]))
    # Every point meets the demand window of the sample document.
    document = json.loads((SAMPLES / "green-valley.json").read_text())
    for p in points:
        total = sum(p["allocation"].values())
        assert document["demand"]["min"] - 1e-6 <= total <= document["demand"]["max"] + 1e-6


def test_a_cancelled_front_job_ends_cancelled(server):
    with server.client("manager") as c:
        digest = c.post("/problems", content=(SAMPLES / "green-valley.json").read_bytes()).json()["hash"]
        job = c.post(f"/problems/{digest}/fronts", json={"method": "nsga2", "points": 40}).json()
        cancelled = c.post(f"{job['url']}/cancel")
        assert cancelled.status_code == 202
        events = _events(c, job["events"])
    assert events[-1] == ("end", {"state": "cancelled", "message": events[-1][1]["message"], "url": job["url"]})
    assert events[-1][1]["state"] == "cancelled"


def test_auditor_bundle_verifies_offline(server, tmp_path):
    with server.client("auditor") as c:
        response = c.get(f"/bundles/{server.records['green-valley']}")
    assert response.status_code == 200
    path = tmp_path / "bundle.json"
    path.write_text(response.text)
    run = subprocess.run([sys.executable, "-m", "coopchain.app.cli", "verify", str(path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("valid")


def test_a_manager_solves_and_the_certificate_verifies_offline(server, tmp_path):
    with server.client("manager") as c:
        digest = c.post("/problems", content=(SAMPLES / "green-valley.json").read_bytes()).json()["hash"]
        solved = c.post(f"/problems/{digest}/solutions", json={"objective": "F1"})
    assert solved.status_code == 200
    body = solved.json()
    assert body["status"] == "optimal" and body["problem"] == digest
    path = tmp_path / "solution.json"
    path.write_text(json.dumps(body))
    run = subprocess.run([sys.executable, "-m", "coopchain.app.cli", "verify", str(path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.startswith("valid"), run.stdout + run.stderr


def _child_processes(pid: int) -> set[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return {int(p) for p in out}


def test_a_killed_job_process_fails_its_job_and_the_next_job_runs(server):
    import os
    import signal
    import time

    with server.client("manager") as c:
        digest = c.post("/problems", content=(SAMPLES / "green-valley.json").read_bytes()).json()["hash"]
        before = _child_processes(server.process.pid)
        job = c.post(f"/problems/{digest}/fronts", json={"method": "nsga2", "points": 200}).json()
        for _ in range(300):  # until it runs
            if c.get(job["url"]).json()["state"] == "running":
                break
            time.sleep(0.1)
        # The pool's process: a child of the server that runs multiprocessing's spawn_main.
        pool = [p for p in _child_processes(server.process.pid) if b"spawn_main" in open(f"/proc/{p}/cmdline", "rb").read()]
        assert pool, (before, _child_processes(server.process.pid))
        for p in pool:
            os.kill(p, signal.SIGKILL)
        for _ in range(300):
            state = c.get(job["url"]).json()
            if state["state"] != "running":
                break
            time.sleep(0.1)
        assert state["state"] == "failed" and "process" in state["message"]
        again = c.post(f"/problems/{digest}/fronts", json={"method": "augmecon", "points": 4, "objectives": ["F1", "F3"]}).json()
        events = _events(c, again["events"])
    assert events[-1][1]["state"] == "done"


def test_a_running_job_without_heartbeat_is_reported_lost(server):
    import sqlite3
    from urllib.parse import urlparse

    from coopchain.service.api_store import ApiStore

    with server.client("manager") as c:
        digest = c.post("/problems", content=(SAMPLES / "green-valley.json").read_bytes()).json()["hash"]
    store = ApiStore(server.db)
    job = store.create_job("green-valley", digest, {"method": "augmecon", "points": 4, "objectives": ["F1", "F3"], "seed": 0}, limit=100)
    store.job_progress(job.id, "running", 0.5, "half way")
    store.close()
    # As if its API worker had been killed two minutes ago: the row stopped changing then.
    with sqlite3.connect(urlparse(server.db).path[1:]) as db:
        db.execute("UPDATE api_jobs SET updated = updated - 120 WHERE id = ?", (job.id,))
    with server.client("manager") as c:
        state = c.get(f"/fronts/{job.id}").json()
    assert state["state"] == "failed" and state["message"].startswith("lost")


def test_uploads_read_by_columns_have_the_reference_writers_hash(server):
    """An upload goes the columnar way `coopchain solve` reads a file; its identity is still SHA-256 of rfc8785.dumps of
    the pydantic reader's canonical document (names in any script, caps given for some enterprises only, JSON and CSV)."""
    import rfc8785

    from coopchain.models.problem import _canonical_document, load_problem_json
    from tests.data.gen_problem import generate

    doc = generate(300, 3, 2, 12, "general")
    doc["cooperative"] = "green-valley"
    for j, e in enumerate(doc["enterprises"]):
        e["name"] = f"Ferme « {j} » 农场"
        if j % 4 == 0:
            e["cap"].pop("r1")
    body = json.dumps(doc, ensure_ascii=False).encode()
    expected = hashlib.sha256(rfc8785.dumps(_canonical_document(load_problem_json(body)))).hexdigest()
    ind, res = list(doc["indicators"]), list(doc["resources"])
    rows = [",".join(["id", "name", "min", "max", "u0", "g", "alpha"] + [f"benefit.{k}" for k in ind] + [f"use.{r}" for r in res]
                     + [f"cap.{r}" for r in res])]
    for e in doc["enterprises"]:
        rows.append(",".join([e["id"], e["name"]] + [repr(e[k]) for k in ("min", "max", "u0", "g", "alpha")] + [repr(e["benefit"][k]) for k in ind]
                             + [repr(e["use"][r]) for r in res] + [repr(e["cap"][r]) if r in e["cap"] else "" for r in res]))
    header = json.dumps({k: v for k, v in doc.items() if k != "enterprises"})
    with server.client("manager") as c:
        by_json = c.post("/problems", content=body)
        by_csv = c.post("/problems/csv", files={"table": ("t.csv", "\n".join(rows).encode(), "text/csv")}, data={"header": header})
        dense = [row for j, row in enumerate(rows) if j == 0 or j % 4 != 1]  # every cap given: the dense CSV reader
        assert by_json.status_code == 201 and by_csv.status_code == 201, (by_json.text, by_csv.text)
        assert by_json.json()["hash"] == by_csv.json()["hash"] == expected
        document = c.get(f"/problems/{expected}").json()["document"]
        assert hashlib.sha256(rfc8785.dumps(document)).hexdigest() == expected
        doc["enterprises"] = [e for j, e in enumerate(doc["enterprises"]) if j % 4 != 0]
        by_dense = c.post("/problems/csv", files={"table": ("t.csv", "\n".join(dense).encode(), "text/csv")}, data={"header": header})
        assert by_dense.status_code == 201, by_dense.text
        reference = hashlib.sha256(rfc8785.dumps(_canonical_document(load_problem_json(json.dumps(doc))))).hexdigest()
        assert by_dense.json()["hash"] == reference
