#!/usr/bin/env python3
"""Durable signed-transaction throughput, chain verify and replay on SQLite (issue 5, SPEC §7).

Pre-signed Ed25519 record transactions from 1,000 submitters (signing is the
submitters' work, on their machines) are committed through `Ledger.commit`:
every signature checked (both cores, chain.keys.verify_many), every nonce and
state transition applied, the block's trie nodes, history nodes and rows written
in one SQLite transaction with fsync (WAL, synchronous=FULL).  Blocks of 1,000
and blocks of 1.  Then `verify_chain` (every hash, signature and root again) and
`replay_chain` (state roots from a fresh trie) over the whole chain.

Anchors, printed beside our figures: the SPEC §7 target of 3,000 tx/s on 2
cores; Fabric 2.0 measured about 220 tx/s on one 4-core machine, the Fabric
paper 3,500 tx/s on a cluster; the source document quotes 100 tx/s.

    .venv/bin/python bench/bench_ledger.py                    # 100 blocks of 1,000, 2,000 blocks of 1
    .venv/bin/python bench/bench_ledger.py --blocks 100 --single 2000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import rss_mib  # noqa: E402

from coopchain.chain.keys import PrivateKey  # noqa: E402
from coopchain.chain.ledger import Ledger  # noqa: E402
from coopchain.chain.transaction import sign_transaction  # noqa: E402

TARGET, FABRIC_ONE_MACHINE = 3000.0, 220.0
CHAIN = "bench"


def signed_batches(submitters: list, blocks: int, per_block: int, start_nonce: int) -> Iterator[list]:
    """blocks × per_block record transactions, nonces in order per submitter, one block at a time."""
    nonces = {i: start_nonce for i in range(len(submitters))}
    k = 0
    for b in range(blocks):
        batch = []
        for _ in range(per_block):
            i = k % len(submitters)
            batch.append(sign_transaction(submitters[i], CHAIN, nonces[i], "record.put", {"key": f"lot/{k % 5000}", "value": {"tonnes": str(k), "block": b}}))
            nonces[i] += 1
            k += 1
        yield batch


def commit_all(ledger: Ledger, batches: Iterable[list]) -> tuple[float, int]:
    """Seconds spent in `commit` alone (signing the next batch is the submitters' work), transactions."""
    seconds, count = 0.0, 0
    for batch in batches:
        start = time.perf_counter()
        ledger.commit(batch)
        seconds += time.perf_counter() - start
        count += len(batch)
    return seconds, count


PASS = """
import json, sys, time
sys.path.insert(0, {root!r}); sys.path.insert(0, {bench!r})
from coopchain.chain.store import open_store
from coopchain.chain.verify import replay_chain, verify_chain
store = open_store({url!r})
start = time.perf_counter()
report = ({name}_chain)(store)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the parent, VmHWM is this process's own.
rss = int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1]) / 1024
print(json.dumps({{"seconds": time.perf_counter() - start, "rss": rss, "blocks": report.blocks, "transactions": report.transactions}}))
"""


def _pass(name: str, url: str) -> dict:
    """Run chain verify or replay over `url` in a fresh process: its time and its own peak RSS."""
    code = PASS.format(root=str(Path(__file__).resolve().parents[1]), bench=str(Path(__file__).resolve().parent), url=url, name=name)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=100, help="blocks of 1,000 transactions")
    parser.add_argument("--single", type=int, default=2000, help="blocks of 1 transaction")
    parser.add_argument("--submitters", type=int, default=1000)
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="coopchain-bench-")
    url = f"sqlite:///{folder}/ledger.db"
    node = PrivateKey.generate("ed25519")
    submitters = [PrivateKey.generate("ed25519") for _ in range(args.submitters)]
    ledger = Ledger.create(url, node, CHAIN)

    seconds_big, n_big = commit_all(ledger, signed_batches(submitters, args.blocks, 1000, 0))
    # Blocks of 1: one submitter after another, nonces continuing.
    singles = []
    nonces = {}
    for k in range(args.single):
        i = k % args.submitters
        nonce = nonces.get(i, ledger.next_nonce(submitters[i].public_key.to_text()))
        singles.append([sign_transaction(submitters[i], CHAIN, nonce, "record.put", {"key": f"single/{k}", "value": k})])
        nonces[i] = nonce + 1
    seconds_single, n_single = commit_all(ledger, singles)
    commit_rss = rss_mib()

    ledger.close()
    # Each pass in a process of its own, so that its peak RSS is its own (SPEC §7: flat, < 500 MiB).
    passes = {name: _pass(name, url) for name in ("verify", "replay")}
    report = passes["verify"]
    seconds_verify, seconds_replay = passes["verify"]["seconds"], passes["replay"]["seconds"]
    size_mib = sum(p.stat().st_size for p in Path(folder).iterdir()) / 2**20

    rate_big, rate_single = n_big / seconds_big, n_single / seconds_single
    print(f"\nledger on SQLite (WAL, fsync at each commit), {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"{report['blocks']:,} blocks, {report['transactions']:,} transactions, {size_mib:.0f} MiB on disk\n")
    print("| measure | ours | SPEC target | ours / target | Fabric 2.0, one 4-core machine |")
    print("|---|---:|---:|---:|---:|")
    print(f"| commit, blocks of 1,000 (tx/s) | {rate_big:,.0f} | {TARGET:,.0f} | {rate_big / TARGET:.2f} | {FABRIC_ONE_MACHINE:,.0f} |")
    print(f"| commit, blocks of 1 (tx/s = blocks/s) | {rate_single:,.0f} | – | – | – |")
    print(f"| chain verify (tx/s) | {report['transactions'] / seconds_verify:,.0f} | – | – | – |")
    replay_100k = seconds_replay * 100_000 / report["transactions"]
    print(f"| chain replay (tx/s); 100,000 tx would take | {report['transactions'] / seconds_replay:,.0f}; {replay_100k:.1f} s | 100,000 tx < 60 s | {replay_100k / 60:.2f} | – |")
    for name, p in passes.items():
        print(f"| peak RSS of chain {name} (own process), MiB | {p['rss']:.0f} | 500 | {p['rss'] / 500:.2f} | – |")
    print(f"\npeak RSS of the committing process: {commit_rss:.0f} MiB")


if __name__ == "__main__":
    main()
