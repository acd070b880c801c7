"""`coopchain serve` (uvicorn) in a subprocess on a free loopback port, for the tests that talk to a
real HTTP server (tests/api, tests/web)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: str, workers: int = 1, extra_env: dict | None = None, cwd: Path | None = None) -> tuple[subprocess.Popen, str]:
    """The server on `db` and its URL, once it answers /health (within 60 s, or RuntimeError with its log's tail)."""
    port = free_port()
    env = {**os.environ, "COOPCHAIN_DB": db, "COOPCHAIN_FRONT_PROCESSES": "1", **(extra_env or {})}
    # The server's log goes to a file, never to a pipe nobody reads (a server that logs more than a pipe
    # buffer would block on the write); process.log names it.
    with tempfile.NamedTemporaryFile(prefix="coopchain-server-", suffix=".log", delete=False) as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "coopchain.app.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--db", db],
            env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=log,
        )
    process.log = Path(log.name)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {process.log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not answer /health within 60 s")


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log = getattr(process, "log", None)
    if log is not None:
        log.unlink(missing_ok=True)
