"""`coopchain serve --workers 2`: a worker per SO_REUSEPORT socket, a killed worker replaced."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import httpx

from tests.api.conftest import start_server, stop_server


def _cmdline(pid: str) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError):  # ended between pgrep and this read
        return b""


def _workers(pid: int) -> set[int]:
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return {int(p) for p in children if b"spawn_main" in _cmdline(p)}


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


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended; only its parent's wait is missing
    except FileNotFoundError:
        return False


def test_workers_end_when_their_supervisor_is_killed(server):
    process, url = start_server(server.db, workers=2)
    try:
        workers = _workers(process.pid)
        assert len(workers) == 2
        process.kill()  # SIGKILL: the supervisor cannot stop them itself
        process.wait()
        for _ in range(300):
            if not any(_running(pid) for pid in workers):
                break
            time.sleep(0.1)
        assert not any(_running(pid) for pid in workers), "orphaned workers still serve on the port"
    finally:
        stop_server(process)
        for pid in workers:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
