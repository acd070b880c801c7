"""A cooperative's history on a long chain: what the history and round routes cost (service.history over
service.events, in process, no HTTP).

The ledger holds BLOCKS blocks of PER_BLOCK signed record transactions (other traffic the history
must skip) and one round of the sample cooperative committed once and amended COMMITS − 1 times.
Measured, wall and CPU time (time.process_time) side by side, from one run:

- the first history page in a fresh process: the event index is built, every block read once;
- the same page again: the index is current, only the page's commits are read from the state;
- after one more block: the index reads that block only;
- the rounds list, and one round with all its commits and their allocations.

There is no anchor in the SPEC for these reads; the figure to watch is the first build, which a
worker pays once per process (the ledger's figure for reading every block is `chain verify`'s).

    .venv/bin/python bench/bench_history.py [--blocks 100] [--per-block 1000] [--commits 200]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import markdown_table, rss_mib  # noqa: E402


def build(url: str, blocks: int, per_block: int, commits: int):
    from coopchain.chain.keys import PrivateKey
    from coopchain.chain.transaction import sign_transaction
    from coopchain.models.problem import load_problem_json
    from coopchain.models.solve import solve
    from coopchain.service.commit import commit, from_solution
    from coopchain.service.cooperatives import create_cooperative
    from coopchain.service.wiring import create_ledger

    node, writer = PrivateKey.generate("ed25519"), PrivateKey.generate("ed25519")
    ledger = create_ledger(url, node, "bench-history")
    create_cooperative(ledger, node, "green-valley", [node.public_key.to_text()])
    problem = load_problem_json((Path(__file__).resolve().parents[1] / "models" / "samples" / "green-valley.json").read_text())
    chosen = from_solution(json.loads(json.dumps(solve(problem, "F2").as_json())))
    nonce, current = 0, None
    spread = max(1, blocks // max(1, commits))
    for b in range(blocks):
        txs = [sign_transaction(writer, "bench-history", nonce + i, "record.put", {"key": f"filler/{b}/{i}", "value": i}) for i in range(per_block)]
        nonce += per_block
        ledger.commit(txs)
        if b % spread == 0 and (current is None or commits > 1):
            done = commit(ledger, node, chosen, supersedes=current, reason=None if current is None else f"amendment after block {b}").commit
            assert done.receipt.applied, done.receipt.message
            current, commits = done.transaction, commits - 1
    while commits > 0:
        current = commit(ledger, node, chosen, supersedes=current, reason="amendment").commit.transaction
        commits -= 1
    ledger.close()
    return node, writer, nonce


def timed(work):
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=100)
    parser.add_argument("--per-block", type=int, default=1000)
    parser.add_argument("--commits", type=int, default=200)
    args = parser.parse_args()
    from coopchain.chain.transaction import sign_transaction
    from coopchain.service import history
    from coopchain.service.wiring import open_ledger

    folder = Path(tempfile.mkdtemp(prefix="bench-history-"))
    url = f"sqlite:///{folder / 'ledger.db'}"
    (node, writer, nonce), build_wall, _ = timed(lambda: build(url, args.blocks, args.per_block, args.commits))
    ledger = open_ledger(url, node)
    height = ledger.height()
    rows = []
    page, wall, cpu = timed(lambda: history.history_page(ledger, "green-valley", 0, 50))
    assert page.count == args.commits, page.count
    rows.append(["first page, fresh process (index built)", f"{wall * 1e3:,.0f}", f"{cpu * 1e3:,.0f}"])
    _, wall, cpu = timed(lambda: history.history_page(ledger, "green-valley", 0, 50))
    rows.append(["the same page again (index current)", f"{wall * 1e3:,.1f}", f"{cpu * 1e3:,.1f}"])
    ledger.commit([sign_transaction(writer, "bench-history", nonce, "record.put", {"key": "one more", "value": 0})])
    _, wall, cpu = timed(lambda: history.history_page(ledger, "green-valley", 0, 50))
    rows.append(["first page after one more block", f"{wall * 1e3:,.1f}", f"{cpu * 1e3:,.1f}"])
    _, wall, cpu = timed(lambda: history.rounds(ledger, "green-valley"))
    rows.append(["the rounds list", f"{wall * 1e3:,.1f}", f"{cpu * 1e3:,.1f}"])
    shown, wall, cpu = timed(lambda: history.show_round(ledger, "green-valley", "2026-Q4"))
    assert len(shown.commits) == args.commits
    rows.append([f"one round, all {args.commits} commits with allocations", f"{wall * 1e3:,.0f}", f"{cpu * 1e3:,.0f}"])
    ledger.close()
    transactions = args.blocks * args.per_block + args.commits + 2
    print(f"chain: {height + 1:,} blocks, about {transactions:,} transactions ({args.commits} commits of one round), SQLite; built in {build_wall:.0f} s")
    print(f"load average: {os.getloadavg()[0]:.2f} (2 cores shared); peak RSS {rss_mib():.0f} MiB")
    print(markdown_table(["read", "wall ms", "CPU ms"], rows))


if __name__ == "__main__":
    main()
