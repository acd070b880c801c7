"""`coopchain serve --workers 2`: a worker per SO_REUSEPORT socket, a killed worker replaced."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import httpx

from tests.api.conftest import start_server, stop_server


def _workers(pid: int) -> set[int]:
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return {int(p) for p in children if b"spawn_main" in open(f"/proc/{p}/cmdline", "rb").read()}


def test_a_killed_worker_is_replaced_and_the_server_answers(server):
    process, url = start_server(server.db, workers=2)
    try:
        first = _workers(process.pid)
        assert len(first) == 2
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        for _ in range(600):
            now = _workers(process.pid)
            if len(now) == 2 and victim not in now:
                break
            time.sleep(0.1)
        assert len(now) == 2 and victim not in now
        answers = []
        for _ in range(300):  # fresh connections, spread over both sockets, until the new worker is up
            try:
                answers.append(httpx.get(url + "/health", timeout=5).status_code)
            except httpx.TransportError:
                answers.append(None)
            if answers[-20:] == [200] * 20:
                break
            time.sleep(0.05)
        assert answers[-20:] == [200] * 20
    finally:
        stop_server(process)
    assert process.returncode is not None and not _workers(process.pid)
