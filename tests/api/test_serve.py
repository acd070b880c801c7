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


def _lock_holder(pids: set[int], lock_file: str) -> int | None:
    """The process holding the committer lock's file open (only the holder keeps it open; SQLite)."""
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == lock_file:
                    return pid
        except (FileNotFoundError, ProcessLookupError):
            pass
    return None


def _listens_on(pid: int, port: int) -> bool:
    """Whether the process holds a TCP socket listening on `port` (an API worker; the committer process holds none)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in list(f)[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # 0A: LISTEN
                    inodes.add(fields[9])
    try:
        links = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    except (FileNotFoundError, ProcessLookupError):
        return False
    return any(f"socket:[{inode}]" in links for inode in inodes)


def _wait_for(condition, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    return condition()


def test_with_a_node_key_a_committer_process_commits_and_is_replaced_when_killed(tmp_path):
    """Two workers and a committer process beside them; SIGKILL of the committer loses nothing acknowledged,
    and the supervisor starts another (or a worker's standby commits meanwhile)."""
    from tests.api.test_postgres_commit import chain_hashes, chain_verify, make_ledger, post_all, signed_bodies

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    token, env = make_ledger(url, tmp_path)
    lock_file = str(tmp_path / "ledger.db.committer")
    process, base = start_server(url, workers=2, extra_env=env)
    try:
        children = _wait_for(lambda: len(_workers(process.pid)) == 3 and _workers(process.pid), 30)
        assert children and len(children) == 3  # two workers and the committer
        port = int(base.rsplit(":", 1)[1])
        assert sum(_listens_on(pid, port) for pid in children) == 2
        first = _wait_for(lambda: _lock_holder(children, lock_file), 30)
        assert first is not None and not _listens_on(first, port)  # the committer process holds the lock, no worker
        acknowledged, failed = post_all(base, token, signed_bodies(20), wait=True)
        assert failed == 0 and len(acknowledged) == 20  # committed: wait=true answered with receipts
        os.kill(first, signal.SIGKILL)
        more, failed = post_all(base, token, signed_bodies(20), wait=False)
        assert failed == 0
        assert _wait_for(lambda: set(more) <= set(chain_hashes(url)), 60), "acknowledged transactions were not committed after the kill"
        replaced = _wait_for(lambda: len(_workers(process.pid)) == 3 and first not in _workers(process.pid) and _workers(process.pid), 30)
        assert replaced, "the committer process was not replaced"
        latest, _ = post_all(base, token, signed_bodies(5), wait=True)
        assert len(latest) == 5
        # The new committer process holds the lock (a worker's standby, if it committed meanwhile, gave it back).
        holder = _wait_for(lambda: (h := _lock_holder(replaced, lock_file)) is not None and not _listens_on(h, port) and h, 30)
        assert holder and holder != first
    finally:
        stop_server(process)
    on_chain = chain_hashes(url)
    assert set(acknowledged) | set(more) | set(latest) <= set(on_chain) and len(on_chain) == len(set(on_chain))
    verdict = chain_verify(url)
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr


def test_on_sigterm_the_committer_process_commits_what_is_queued(tmp_path):
    """SIGTERM to `coopchain serve`: the workers end, then the committer process commits the queue before it does."""
    from coopchain.service.pending import PendingQueue
    from tests.api.test_postgres_commit import chain_hashes, make_ledger, post_all, signed_bodies

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    token, env = make_ledger(url, tmp_path)
    # A block only every 30 s: whatever is committed was committed by the shutdown's drain.
    process, base = start_server(url, workers=2, extra_env={**env, "COOPCHAIN_BATCH_WAIT_MS": "30000"})
    try:
        acknowledged, failed = post_all(base, token, signed_bodies(30), wait=False)
        assert failed == 0 and len(acknowledged) == 30
        assert not set(acknowledged) & set(chain_hashes(url))  # still queued
    finally:
        stop_server(process)
    assert process.returncode == 0
    assert set(acknowledged) <= set(chain_hashes(url))
    queue = PendingQueue(url)
    try:
        assert queue.waiting_summary()[0] == 0
    finally:
        queue.close()


def test_every_setting_is_in_the_client_guide():
    """docs/api.md's settings table names each COOPCHAIN_* variable the server reads (a new setting without a row fails)."""
    from pathlib import Path

    from coopchain.app.api.config import Settings

    guide = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    missing = [name for name in Settings.model_fields if f"`COOPCHAIN_{name.upper()}`" not in guide]
    assert not missing, f"settings without a row in docs/api.md: {missing}"
