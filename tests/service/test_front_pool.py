"""The front pool's processes end with the process that owns the pool, even one killed by SIGKILL."""

from __future__ import annotations

import subprocess
import sys
import time

OWNER = """
import os, signal, sys
from coopchain.service.front_pool import FrontPool

pool = FrontPool(processes=2)
pids = {pool.submit(os.getpid).result(timeout=120) for _ in range(20)}
with open(sys.argv[1], "w") as f:  # a file, not a pipe: pool processes left behind would hold a pipe open
    f.write(" ".join(map(str, sorted(pids))))
os.kill(os.getpid(), signal.SIGKILL)  # no shutdown of the pool: only the watch can end its processes
"""


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_pool_processes_end_when_their_owner_is_killed(tmp_path):
    out = tmp_path / "pids"
    run = subprocess.run([sys.executable, "-c", OWNER, str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=180)
    assert run.returncode == -9
    pids = [int(p) for p in out.read_text().split()]
    assert pids  # at least one pool process ran a task
    for _ in range(300):
        if not any(map(_running, pids)):
            break
        time.sleep(0.1)
    left = [pid for pid in pids if _running(pid)]
    for pid in left:
        subprocess.run(["kill", "-9", str(pid)])
    assert not left, "pool processes outlived their owner"
