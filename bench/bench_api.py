"""API throughput and latency (SPEC §7: 2 workers on loopback; block, proof and receipt reads
≥ 1,000 req/s with p99 < 25 ms, floor 500 req/s and 50 ms; signed transactions through HTTP
≥ 1,000 tx/s sustained with p99 from request to committed receipt < 1 s; an idle worker under 300 MiB).

Reads: a ledger of BLOCKS blocks (one signed record each) served by `coopchain serve --workers 2`,
the load generator on the same 2-core machine: Debian's `wrk` (C, epoll; its latency percentiles
with --latency) when installed, else an httpx script; the table names which.  A block header by
height, a transaction's RFC 9162 inclusion proof, a block's inclusion in the history tree, a
transaction by hash, a receipt; each request with an API key (authenticated per request).

Transactions: an open loop (a constant arrival rate; latency from each request's due time to its
committed receipt, so queueing is not hidden), pre-signed `record.put` and `market.post_offer`
transactions, one a request (POST /transactions) or many (POST /transactions/batch), on SQLite and
on a throwaway PostgreSQL (tests/postgres.py); beside each, the ledger alone committing the same
transactions in blocks of 1,000 in this process, on the same kind of database.

    .venv/bin/python bench/bench_api.py [--seconds 10] [--connections 16] [--blocks 1000]
    .venv/bin/python bench/bench_api.py --no-reads --transactions 3000 --rate 1000 [--kinds record,offer]
        [--backends sqlite,postgresql] [--batches 1,100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
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
    # `coopchain serve` spawns one process per worker, and with a node key a committer process beside them (a
    # multiprocessing resource tracker may sit there too, not counted): the server's CPU is all of theirs.
    return [int(p) for p in out if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]


def serve(url: str, workers: int, extra_env: dict | None = None) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    env = {**os.environ, "COOPCHAIN_DB": url, **(extra_env or {})}
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


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM, then time to finish: a worker that commits drains the pending queue first (docs/api.md)."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


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


async def paced_reads(host: str, port: int, token: str, paths: list[str], rate: float, seconds: float, connections: int = 64) -> tuple[float, float, int]:
    """GET a random path of the list at a constant arrival rate (request i due at start + i / rate) for
    `seconds`, on at most `connections` keep-alive connections: (req/s answered, p99 ms from each
    request's due time to its answer, answers not 200).  The target's own terms: at 1,000 req/s, how
    long the slowest 1 % wait, queueing included (wrk measures the tail at its own, saturating, rate)."""
    rng = random.Random(3)
    idle: asyncio.Queue = asyncio.Queue()
    opened, latencies, errors = 0, [], 0

    async def one(path: str, due: float) -> None:
        nonlocal opened, errors
        if idle.empty() and opened < connections:
            opened += 1
            reader, writer = await asyncio.open_connection(host, port)
        else:
            reader, writer = await idle.get()
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {token}\r\n\r\n".encode())
        status_line = await reader.readuntil(b"\r\n")
        headers = await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(int(re.search(rb"(?i)content-length:\s*(\d+)", headers).group(1)))
        latencies.append(time.perf_counter() - due)
        errors += int(status_line.split()[1]) != 200
        idle.put_nowait((reader, writer))

    tasks, count = [], int(rate * seconds)
    start = time.perf_counter()
    for i in range(count):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(rng.choice(paths), due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    while not idle.empty():
        idle.get_nowait()[1].close()
    latencies.sort()
    # Every request is answered (gather waits for all): the rate served is the rate offered, unless the
    # last answers came long after the last request was due, which the p99 then shows.
    return count / max(elapsed, count / rate), latencies[int(0.99 * (len(latencies) - 1))] * 1e3, errors


# -- signed transactions through HTTP, open loop ------------------------------------------------

CHAIN = "bench-api"
MARKET = "bench-day"


def participant_template() -> tuple[dict, dict]:
    """A solar participant of the sample village day: its static data and its day's offer."""
    from coopchain.service.market import sample_day

    day = sample_day()
    solar = next(p for p in day["participants"] if p["type"] == "solar")
    return {k: v for k, v in solar.items() if k != "availability"}, {"availability": solar["availability"]}, day


def workload(kind: str, count: int, seed: int = 7):
    """(node key, a function that prepares a fresh ledger at a URL, the pre-signed transactions).

    `record`: each transaction a `record.put` from a key of its own (nonce 0).  `offer`: each a
    `market.post_offer` (nonce 1) for a participant its sender registered (nonce 0) on a day
    whose gate stays open, so every offer runs the contract's full check of the day's rules."""
    from coopchain.chain.keys import PrivateKey
    from coopchain.chain.transaction import sign_transaction
    from coopchain.service import wiring
    from coopchain.service.cooperatives import create_cooperative

    node = PrivateKey.generate("ed25519")
    keys = [PrivateKey.generate("ed25519") for _ in range(count)]
    if kind == "record":
        txs = [sign_transaction(k, CHAIN, 0, "record.put", {"key": f"load/{i}", "value": {"i": i, "note": "bench"}}) for i, k in enumerate(keys)]
        prepare_txs = []
    else:
        static, offer, day = participant_template()
        prepare_txs = [sign_transaction(k, CHAIN, 0, "market.register_participant",
                                        {"participant": json.dumps({**static, "id": f"p{i}"}, separators=(",", ":"))}) for i, k in enumerate(keys)]
        txs = [sign_transaction(k, CHAIN, 1, "market.post_offer", {"market": MARKET, "participant": f"p{i}", "offer": json.dumps(offer, separators=(",", ":"))})
               for i, k in enumerate(keys)]

    def prepare(url: str):
        ledger = wiring.create_ledger(url, node, CHAIN)
        if kind == "offer":
            from coopchain.service.market import DayTerms, decimal_text, open_day

            assert create_cooperative(ledger, node, "bench-coop", [node.public_key.to_text()]).receipt.applied
            for i in range(0, len(prepare_txs), 1000):
                ledger.commit(prepare_txs[i:i + 1000])
            terms = DayTerms(MARKET, day["periods"], day["period_minutes"], decimal_text(day["price_floor"]))
            assert open_day(ledger, node, "bench-coop", terms, gate=10**9).receipt.applied
        return ledger

    return node, prepare, txs


def ledger_ceiling(prepare, url: str, txs, block: int = 1000) -> tuple[float, float]:
    """The same transactions committed by the ledger alone in blocks of `block`: (tx/s wall, tx/s CPU)."""
    ledger = prepare(url)
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(txs), block):
            ledger.commit(txs[i:i + block])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        ledger.close()
    return len(txs) / wall, len(txs) / cpu


async def open_loop(host: str, port: int, token: str, bodies: list[bytes], rate: float, connections: int, batch: int = 1) -> dict:
    """POST each body to /transactions?wait=true at a constant arrival rate (request i is due at
    start + i / rate, whatever the earlier ones are doing), each on a free keep-alive connection,
    at most `connections` at once.  Latency runs from the due time to the committed receipt, so a
    server that falls behind shows its queue in the figures (no coordinated omission).

    A minimal HTTP/1.1 client on asyncio streams: httpx costs ~0.5 ms of CPU per request, which on
    this 2-core machine the server would lose.

    `batch` > 1: each request carries that many transactions (POST /transactions/batch), requests
    arrive at rate / batch per second, and each transaction's latency is its request's."""
    path = "/transactions?wait=true"
    if batch > 1:
        bodies = [b"[" + b",".join(bodies[i:i + batch]) + b"]" for i in range(0, len(bodies), batch)]
        rate, path = rate / batch, "/transactions/batch?wait=true"
    committed = 0
    idle: asyncio.Queue = asyncio.Queue()
    opened = 0
    latencies, heights, statuses = [], {}, {}
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {token}\r\n"
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n")

    async def connection():
        nonlocal opened
        if idle.empty() and opened < connections:
            opened += 1
            return await asyncio.open_connection(host, port)
        return await idle.get()

    async def one(body: bytes, due: float) -> None:
        reader, writer = await connection()
        try:
            writer.write(head.format(len(body)).encode() + body)
            status_line = await reader.readuntil(b"\r\n")
            headers = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", headers).group(1))
            reply = await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError) as e:
            statuses[type(e).__name__] = statuses.get(type(e).__name__, 0) + 1
            writer.close()
            nonlocal opened
            opened -= 1
            return
        nonlocal committed
        status = int(status_line.split()[1])
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200:
            found = [int(h) for h in re.findall(rb'"height":(\d+),"position"', reply)]
            latencies.extend([time.perf_counter() - due] * len(found))
            committed += len(found)
            for height in found:
                heights[height] = heights.get(height, 0) + 1
        idle.put_nowait((reader, writer))

    tasks = []
    start = time.perf_counter()
    for i, body in enumerate(bodies):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(body, due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    while not idle.empty():
        idle.get_nowait()[1].close()
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")  # noqa: E731
    sizes = sorted(heights.values())
    return {"rate": committed / elapsed, "committed": committed, "p50": pick(0.50), "p99": pick(0.99), "max": latencies[-1] if latencies else float("nan"),
            "statuses": statuses, "blocks": len(heights), "block_median": sizes[len(sizes) // 2] if sizes else 0, "elapsed": elapsed}


def submission_case(kind: str, backend: str, pg_url: str | None, count: int, rate: float, connections: int, workers: int, folder: Path, batch: int = 1) -> list[str]:
    """One row: the open-loop run against `coopchain serve --workers N`, and the ledger alone on the same transactions."""
    from coopchain.chain.transaction import encode_transaction
    from coopchain.service.api_store import ApiStore

    node, prepare, txs = workload(kind, count)
    bodies = [encode_transaction(tx) for tx in txs]

    def fresh_url(name: str):
        if backend == "sqlite":
            return contextlib.nullcontext(f"sqlite:///{folder / (name + '.db')}")
        from tests.postgres import fresh_database

        return fresh_database(pg_url, "bench")

    with fresh_url(f"{kind}-{batch}-served") as url:
        prepare(url).close()
        key_file = folder / f"{kind}-{backend}-{batch}-node.key"
        node.save(str(key_file))
        store = ApiStore(url)
        token = store.create_key("participant", (), "bench submit").token
        store.close()
        proc, base = serve(url, workers, {"COOPCHAIN_NODE_KEY": str(key_file)})
        try:
            workers_pids = worker_pids(proc.pid)
            cpu_before, load_cpu = cpu_seconds(workers_pids), time.process_time()
            port = int(base.rsplit(":", 1)[1])
            result = asyncio.run(open_loop("127.0.0.1", port, token, bodies, rate, connections, batch))
            server_cpu, load_cpu = cpu_seconds(workers_pids) - cpu_before, time.process_time() - load_cpu
        finally:
            stop(proc)
    with fresh_url(f"{kind}-{batch}-ceiling") as url:
        ceiling, ceiling_cpu = ledger_ceiling(prepare, url, txs)
    r = result
    refused = sum(v for k, v in r["statuses"].items() if k != 200)
    return [f"{kind}, {backend}, {'1 per request' if batch == 1 else f'{batch} per batch request'}", f"{rate:,.0f}", f"{r['rate']:,.0f}", f"{r['rate'] / 1000:.2f}", f"{r['p50'] * 1e3:,.0f}", f"{r['p99'] * 1e3:,.0f}",
            f"{r['p99']:.2f}", f"{r['blocks']:,} (median {r['block_median']:,})", str(refused),
            f"{server_cpu / max(1, count) * 1e6:,.0f}", f"{load_cpu / max(1, count) * 1e6:,.0f}", f"{ceiling:,.0f} ({ceiling_cpu:,.0f} per CPU s)"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--blocks", type=int, default=1000)
    ap.add_argument("--generator", choices=["auto", "wrk", "httpx"], default="auto")
    ap.add_argument("--read-rate", type=float, default=1000.0, help="arrival rate of the paced (open-loop) reads, requests per second")
    ap.add_argument("--no-reads", action="store_true", help="only the submission runs")
    ap.add_argument("--transactions", type=int, default=5000, help="signed transactions per submission run (0: none)")
    ap.add_argument("--rate", type=float, default=1000.0, help="arrival rate of the open loop, transactions per second")
    ap.add_argument("--submit-connections", type=int, default=512, help="most connections the open loop holds")
    ap.add_argument("--kinds", default="record,offer", help="record, offer (market.post_offer), comma-separated")
    ap.add_argument("--backends", default="sqlite,postgresql", help="sqlite, postgresql (a throwaway cluster, tests/postgres.py)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batches", default="1,100", help="transactions per request: 1 (POST /transactions), more (POST /transactions/batch), comma-separated")
    args = ap.parse_args()
    use_wrk = args.generator == "wrk" or (args.generator == "auto" and shutil.which("wrk"))
    generator = f"wrk (1 thread), {args.connections} connections" if use_wrk else f"httpx script (asyncio), {args.connections} connections"

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if not args.no_reads:
            read_section(folder, args, use_wrk, generator)
        if args.transactions:
            rows = []
            with contextlib.ExitStack() as stack:
                pg_url = None
                for backend in args.backends.split(","):
                    if backend == "postgresql" and pg_url is None:
                        from tests.postgres import start_postgres

                        pg_url = stack.enter_context(start_postgres({"max_connections": 100}))
                    for kind, batch in itertools.product(args.kinds.split(","), (int(b) for b in args.batches.split(","))):
                        rows.append(submission_case(kind, backend, pg_url, args.transactions, args.rate, args.submit_connections, args.workers, folder, batch))
                        print(" | ".join(rows[-1]), f"(load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
            print(f"\nsigned transactions through HTTP, {args.workers} workers (coopchain serve) on loopback: {args.transactions:,} pre-signed Ed25519 transactions "
                  f"per run, POST /transactions?wait=true at a constant arrival rate (open loop, bench/bench_api.py's asyncio client, latency from each "
                  f"request's due time to its committed receipt); beside it the ledger alone committing the same transactions in blocks of 1,000 "
                  f"(Ledger.commit in this process, same database kind)\n")
            print(markdown_table(["transactions, database, requests", "offered tx/s", "committed tx/s", "÷ 1,000 target", "p50 ms", "p99 ms", "p99 ÷ 1 s target",
                                  "blocks (median size)", "not 200", "server CPU µs/tx", "load generator CPU µs/tx", "ledger alone tx/s"], rows))
            print(f"\nload average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def read_section(folder: Path, args, use_wrk: bool, generator: str) -> None:
    url, hashes, token = build_ledger(folder, args.blocks)
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
            "receipt": [f"/transactions/{hashes[h]}/receipt" for h in sample],
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
            paced_rate, paced_p99, paced_errors = asyncio.run(paced_reads("127.0.0.1", int(base.rsplit(":", 1)[1]), token, paths, args.read_rate, args.seconds))
            met = lambda r, p: "meets" if r >= ANCHOR_RATE * 0.99 and p < ANCHOR_P99 else ("floor" if r >= FLOOR_RATE and p < FLOOR_P99 else "BELOW")  # noqa: E731
            rows.append([name, f"{rate:,.0f}", f"{p99:.1f}", f"{cpu_per_request * 1e6:,.0f}", str(errors), met(rate, p99),
                         f"{paced_rate:,.0f}", f"{paced_p99:.1f}", f"{paced_p99 / ANCHOR_P99:.2f}", str(paced_errors), met(paced_rate, paced_p99)])
        time.sleep(2)
        idle_after = max(rss_mib(p) for p in workers)
    finally:
        stop(proc)
    print(f"API reads, 2 workers (coopchain serve, uvicorn with a SO_REUSEPORT socket each) on loopback, SQLite ledger of {args.blocks:,} blocks; "
          f"load generators: {generator}, {args.seconds} s per read, as fast as it goes (closed loop); then bench_api.py's asyncio client "
          f"at a constant {args.read_rate:,.0f} req/s (open loop, latency from each request's due time), {args.seconds} s per read\n")
    print(markdown_table(["read", "wrk req/s", "wrk p99 ms", "server CPU µs/req", "non-2xx", "verdict", "paced req/s", "paced p99 ms", "÷ 25 ms target", "non-200", "verdict"], rows))
    load = os.getloadavg()[0]
    print(f"\nload average at the end: {load:.1f} on {os.cpu_count()} cores (the machine is shared: a load above 2 means other work took cores from this run)")
    print(f"\nidle worker RSS: {idle_start:.0f} MiB after start, {idle_after:.0f} MiB after the load (target < {RSS_LIMIT:.0f} MiB)")


if __name__ == "__main__":
    main()
