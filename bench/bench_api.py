"""API read throughput and latency (SPEC §7: 2 workers on loopback; block, proof and receipt reads
≥ 1,000 req/s with p99 < 25 ms, floor 500 req/s and 50 ms; an idle worker under 300 MiB).

A ledger of BLOCKS blocks (one signed record each) is served by `coopchain serve --workers 2`; the load
generator runs on the same 2-core machine.  It is Debian's `wrk` (C, epoll; its latency
percentiles with --latency) when installed, else an httpx script (asyncio, one process), and
the table names which.  Reads: a block header by height, a transaction's RFC 9162 inclusion
proof, a block's inclusion in the history tree, and a transaction by hash (the receipt route
comes with the contracts issue).  Each read carries an API key (authenticated per request).

    .venv/bin/python bench/bench_api.py [--seconds 10] [--connections 16] [--blocks 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import markdown_table  # noqa: E402

ANCHOR_RATE, ANCHOR_P99, FLOOR_RATE, FLOOR_P99, RSS_LIMIT = 1000.0, 25.0, 500.0, 50.0, 300.0


def build_ledger(folder: Path, blocks: int) -> tuple[str, list[str], str]:
    from coopchain.chain.keys import PrivateKey
    from coopchain.chain.ledger import Ledger
    from coopchain.chain.transaction import sign_transaction, transaction_hash
    from coopchain.service.api_store import ApiStore

    url = f"sqlite:///{folder / 'bench.db'}"
    node, sender = PrivateKey.generate("ed25519"), PrivateKey.generate("ed25519")
    ledger = Ledger.create(url, node, "bench-api")
    hashes = []
    for i in range(blocks):
        tx = sign_transaction(sender, "bench-api", i, "record.put", {"key": f"bench/{i}", "value": {"i": i}})
        ledger.commit([tx])
        hashes.append(transaction_hash(tx).hex())
    ledger.close()
    node.save(str(folder / "node.key"))  # the server commits submitted transactions with it
    store = ApiStore(url)
    token = store.create_key("auditor", (), "bench").token
    store.close()
    return url, hashes, token


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", text).group(1)) / 1024.0


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (/proc/PID/stat fields 14 and 15)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


def worker_pids(parent: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True).stdout.split()
    # `coopchain serve` spawns one process per worker (a multiprocessing resource tracker may sit beside them).
    return [int(p) for p in out if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]


def serve(url: str, workers: int) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    env = {**os.environ, "COOPCHAIN_DB": url, "COOPCHAIN_NODE_KEY": str(Path(urlparse(url).path[1:]).parent / "node.key")}
    proc = subprocess.Popen([sys.executable, "-m", "coopchain.app.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", str(workers), "--db", url], env=env, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                time.sleep(1.0)  # every worker up
                return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")


def wrk_run(base: str, path_lua: Path, seconds: int, connections: int) -> tuple[float, float, int]:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(path_lua), base], capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rate, float(p99.group(1)) * scale, int(errors.group(1)) if errors else 0


def lua_script(folder: Path, name: str, paths: list[str], token: str) -> Path:
    """A wrk script that picks a random path of the list for every request."""
    body = "paths = {" + ",".join(f'"{p}"' for p in paths) + "}\n"
    body += f'wrk.headers["X-API-Key"] = "{token}"\n'
    body += "request = function()\n  return wrk.format(nil, paths[math.random(#paths)])\nend\n"
    path = folder / f"{name}.lua"
    path.write_text(body)
    return path


async def httpx_run(base: str, paths: list[str], token: str, seconds: int, connections: int) -> tuple[float, float, int]:
    import httpx

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(client):
        nonlocal errors
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            r = await client.get(random.choice(paths))
            latencies.append(time.perf_counter() - t)
            errors += r.status_code >= 300

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": token}, limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(connections)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return len(latencies) / elapsed, latencies[int(0.99 * (len(latencies) - 1))] * 1e3, errors


async def submit_run(base: str, token: str, count: int, connections: int) -> tuple[float, float, int, int]:
    """`count` transactions, each signed in advance by a key of its own, posted with ?wait=true by
    `connections` clients: (tx/s, p99 s from request to committed receipt, refused, blocks)."""
    import httpx

    from coopchain.chain.keys import PrivateKey
    from coopchain.chain.transaction import sign_transaction, transaction_json

    bodies = [transaction_json(sign_transaction(PrivateKey.generate("ed25519"), "bench-api", 0, "record.put", {"key": f"load/{i}", "value": i}))
              for i in range(count)]
    latencies, heights, refused = [], set(), 0
    queue = list(reversed(bodies))
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)

    async def client(c):
        nonlocal refused
        while queue:
            body = queue.pop()
            t = time.perf_counter()
            try:
                r = await c.post("/transactions", params={"wait": "true"}, json=body)
            except httpx.TransportError:  # counted, not fatal: the figure says how many
                refused += 1
                continue
            latencies.append(time.perf_counter() - t)
            if r.status_code == 200:
                heights.add(r.json()["height"])
            else:
                refused += 1

    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": token}, limits=limits, timeout=60) as c:
        start = time.perf_counter()
        await asyncio.gather(*(client(c) for _ in range(connections)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return count / elapsed, latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan"), refused, len(heights)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--blocks", type=int, default=1000)
    ap.add_argument("--generator", choices=["auto", "wrk", "httpx"], default="auto")
    ap.add_argument("--transactions", type=int, default=1000, help="signed transactions submitted through HTTP (0: none)")
    ap.add_argument("--clients", type=int, default=16, help="concurrent submitters, each waiting for its receipt")
    args = ap.parse_args()
    use_wrk = args.generator == "wrk" or (args.generator == "auto" and shutil.which("wrk"))
    generator = f"wrk (1 thread), {args.connections} connections" if use_wrk else f"httpx script (asyncio), {args.connections} connections"

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url, hashes, token = build_ledger(folder, args.blocks)
        from coopchain.service.api_store import ApiStore

        store = ApiStore(url)
        submit_token = store.create_key("participant", (), "bench submit").token
        store.close()
        proc, base = serve(url, 2)
        try:
            workers = worker_pids(proc.pid)
            idle_start = max(rss_mib(p) for p in workers)
            sample = random.Random(1).sample(range(args.blocks), min(200, args.blocks))
            reads = {
                "block header by height": [f"/blocks/{h + 1}" for h in sample],
                "transaction inclusion proof": [f"/proofs/transactions/{hashes[h]}" for h in sample],
                "block inclusion in history": [f"/proofs/blocks/{h}" for h in sample],
                "transaction by hash": [f"/transactions/{hashes[h]}" for h in sample],
            }
            rows = []
            for name, paths in reads.items():
                cpu_before = cpu_seconds(workers)
                if use_wrk:
                    rate, p99, errors = wrk_run(base, lua_script(folder, name.replace(" ", "_"), paths, token), args.seconds, args.connections)
                else:
                    rate, p99, errors = asyncio.run(httpx_run(base, paths, token, args.seconds, args.connections))
                # The server's own CPU per request: independent of what else runs on the machine.
                cpu_per_request = (cpu_seconds(workers) - cpu_before) / max(1.0, rate * args.seconds)
                verdict = "meets" if rate >= ANCHOR_RATE and p99 < ANCHOR_P99 else ("floor" if rate >= FLOOR_RATE and p99 < FLOOR_P99 else "BELOW")
                rows.append([name, f"{rate:,.0f}", f"{rate / ANCHOR_RATE:.2f}", f"{p99:.1f}", f"{p99 / ANCHOR_P99:.2f}", f"{cpu_per_request * 1e6:,.0f}", str(errors), verdict])
            time.sleep(2)
            idle_after = max(rss_mib(p) for p in workers)
            submitted = asyncio.run(submit_run(base, submit_token, args.transactions, args.clients)) if args.transactions else None
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    print(f"API reads, 2 workers (coopchain serve, uvicorn with a SO_REUSEPORT socket each) on loopback, SQLite ledger of {args.blocks:,} blocks; load generator: {generator}, {args.seconds} s per read\n")
    print(markdown_table(["read", "req/s", "÷ 1,000 target", "p99 ms", "÷ 25 ms target", "server CPU µs/req", "non-2xx", "verdict"], rows))
    load = os.getloadavg()[0]
    print(f"\nload average at the end: {load:.1f} on {os.cpu_count()} cores (the machine is shared: a load above 2 means other work took cores from this run)")
    print(f"\nidle worker RSS: {idle_start:.0f} MiB after start, {idle_after:.0f} MiB after the load (target < {RSS_LIMIT:.0f} MiB)")
    if submitted:
        rate, p99, refused, blocks = submitted
        print(f"\nsigned transactions through HTTP (httpx script, {args.clients} clients, ?wait=true, {args.transactions:,} transactions, pre-signed Ed25519): "
              f"{rate:,.0f} tx/s (÷ 1,000 target: {rate / 1000:.2f}), p99 request to committed receipt {p99 * 1e3:,.0f} ms (÷ 1 s target: {p99:.2f}), "
              f"{blocks:,} blocks, {refused} refused")


if __name__ == "__main__":
    main()
