#!/usr/bin/env python3
"""The allocation contract's cost (issue 11, SPEC §7 "Contracts"): register + commit, and blocks of commits.

1. Register + commit through the contract at n = 1,000 and n = 100,000
   enterprises (the SPEC's random problems, K = 3, R = 3, uniform alpha): the
   manager's two signed transactions (register_problem with the canonical
   document, commit_allocation with the certified max F1 allocation and its
   certificate) committed in one block by `Ledger.commit`, durably (SQLite, WAL,
   fsync).  The block's execution runs every condition: the document's
   validation and canonical form, the allocation's feasibility and the
   certificate's verification (models/certificate.py).  Solving is not timed
   (the manager solved beforehand); signing is timed apart (it is the
   manager's work, on their machine).  Targets: < 50 ms and < 3 s.
2. Throughput of blocks of allocation commits of 50-enterprise problems (each
   a cooperative's own round, problems registered beforehand), in tx/s, beside
   blocks of plain `record.put` transactions of the same count on the same
   machine in the same run.
3. A market day's first posts (the market contract, issue: market v2) at n = 1,000
   and 10,000 participants (consumers, 24 periods), in blocks of 1,000: each
   newcomer joins the day's participants.  Market v1 kept them as one list in the
   day's entry, decoded and encoded again by each first post (O(n) each, O(n²) a
   day); v2 keeps a count and one key per participant.  Both versions on ledgers of
   their own, the same signed transactions, in one run; beside each, the same
   participants' second posts (no newcomer: the offer's cost alone).

    .venv/bin/python bench/bench_contracts.py                       # n = 1,000 and 100,000; 400 commits in blocks of 50; market 1,000 and 10,000
    .venv/bin/python bench/bench_contracts.py --sizes 1000 --commits 200
    .venv/bin/python bench/bench_contracts.py --parts market --market 1000,10000
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

from common import generate, markdown_table, rss_mib  # noqa: E402

from coopchain.chain.contract import ContractSpec  # noqa: E402
from coopchain.chain.keys import PrivateKey  # noqa: E402
from coopchain.chain.ledger import Ledger  # noqa: E402
from coopchain.chain.transaction import sign_transaction  # noqa: E402
from coopchain.models import certificate_verify  # noqa: E402
from coopchain.models.problem_text import problem_identity  # noqa: E402
from coopchain.contracts import genesis_specs  # noqa: E402
from coopchain.service import wiring  # noqa: E402

TARGETS = {1_000: 0.050, 100_000: 3.0}
CHAIN = "bench-contracts"


def certified(n: int, seed: int) -> dict:
    """The solve output (max F1, certified) of a random problem of n enterprises, through JSON text."""
    from coopchain.models.problem import parse_problem
    from coopchain.models.solve import prepare, solve

    solution = solve(prepare(parse_problem(generate(n, "uniform", seed))), "F1")
    assert solution.success, solution.message
    return json.loads(json.dumps(solution.as_json()))


def commit_calls(solution: dict, register: bool) -> list[tuple[str, dict]]:
    """The manager's calls as `coopchain commit` makes them (service.commit)."""
    from coopchain.service.commit import commit_arguments, from_solution

    calls = [("allocation.register_problem", {"problem": solution["problem_text"]})] if register else []
    calls.append(("allocation.commit_allocation", commit_arguments(from_solution(solution))))
    return calls


def new_world(folder: str, cooperatives: list[str]):
    admin, manager = PrivateKey.generate("ed25519"), PrivateKey.generate("ed25519")
    ledger = wiring.create_ledger(f"sqlite:///{folder}/ledger.db", admin, CHAIN)
    txs = [sign_transaction(admin, CHAIN, i, "cooperatives.register", {"cooperative": c, "managers": [manager.public_key.to_text()]})
           for i, c in enumerate(cooperatives)]
    for start in range(0, len(txs), 500):
        ledger.commit(txs[start:start + 500])
    return ledger, manager


def register_and_commit(n: int) -> dict:
    solution = certified(n, seed=n)
    coop = problem_identity(solution["problem_text"])[0]
    with tempfile.TemporaryDirectory() as folder:
        ledger, manager = new_world(folder, [coop])
        start = time.perf_counter()
        txs = [sign_transaction(manager, CHAIN, i, kind, args) for i, (kind, args) in enumerate(commit_calls(solution, register=True))]
        signed = time.perf_counter() - start
        size = sum(len(json.dumps(tx.payload)) for tx in txs)
        commit_size = len(json.dumps(txs[-1].payload))
        certificate_verify._PROBLEMS.clear()  # the contract proves the problem itself, as on a fresh node
        start, cpu = time.perf_counter(), time.process_time()
        block = ledger.commit(txs)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        statuses = [r.status for r in block.receipts]
        assert statuses == ["applied", "applied"], block.receipts
        ledger.close()
    return {"n": n, "seconds": seconds, "cpu": cpu, "sign_seconds": signed, "bytes": size, "commit_bytes": commit_size, "target": TARGETS.get(n)}


def throughput(commits: int, per_block: int) -> dict:
    solutions = [certified(50, seed=10_000 + i) for i in range(commits)]
    coops = [problem_identity(s["problem_text"])[0] for s in solutions]
    out = {}
    with tempfile.TemporaryDirectory() as folder:
        ledger, manager = new_world(folder, coops)
        nonce = 0
        registers = []
        for s in solutions:
            registers.append(sign_transaction(manager, CHAIN, nonce, *commit_calls(s, register=True)[0]))
            nonce += 1
        for start in range(0, len(registers), per_block):
            ledger.commit(registers[start:start + per_block])
        commit_txs = []
        for s in solutions:
            commit_txs.append(sign_transaction(manager, CHAIN, nonce, *commit_calls(s, register=False)[0]))
            nonce += 1
        start = time.perf_counter()
        for i in range(0, len(commit_txs), per_block):
            block = ledger.commit(commit_txs[i:i + per_block])
            assert all(r.status == "applied" for r in block.receipts)
        out["allocation"] = len(commit_txs) / (time.perf_counter() - start)
        # Plain records: the same count, in blocks of the same size, on the same ledger.
        users = [PrivateKey.generate("ed25519") for _ in range(per_block)]
        records = [sign_transaction(users[i % per_block], CHAIN, i // per_block, "record.put", {"key": f"lot/{i}", "value": {"tonnes": str(i)}})
                   for i in range(len(commit_txs))]
        start = time.perf_counter()
        for i in range(0, len(records), per_block):
            ledger.commit(records[i:i + per_block])
        out["record"] = len(records) / (time.perf_counter() - start)
        ledger.close()
    return out


def market_transactions(n: int, periods: int = 24) -> tuple[PrivateKey, list, list, list, list]:
    """(manager, [cooperative + open_day], registrations, first posts, second posts) for n consumers, signed once for both versions."""
    manager = PrivateKey.from_private_bytes("ed25519", bytes([7]) * 32)
    text = manager.public_key.to_text()
    setup = [sign_transaction(manager, CHAIN, 0, "cooperatives.register", {"cooperative": "bench-coop", "managers": [text]}),
             sign_transaction(manager, CHAIN, 1, "market.open_day", {"cooperative": "bench-coop", "market": "bench-day", "periods": periods,
                                                                     "period_minutes": 60, "price_floor": "-0.5", "gate": 2**40})]
    keys = [PrivateKey.from_private_bytes("ed25519", (i + 1).to_bytes(32, "big")) for i in range(n)]
    registrations = [sign_transaction(k, CHAIN, 0, "market.register_participant",
                                      {"participant": json.dumps({"id": f"consumer-{i}", "type": "consumer", "value_of_lost_load": 4})})
                     for i, k in enumerate(keys)]

    def posts(nonce: int) -> list:
        return [sign_transaction(k, CHAIN, nonce, "market.post_offer", {"market": "bench-day", "participant": f"consumer-{i}", "offer": json.dumps(
            {"bids": [[{"price": (i + nonce) % 97 / 100 + 0.01, "quantity": 2}]] * periods, "inflexible_load": [1] * periods})})
            for i, k in enumerate(keys)]

    return manager, setup, registrations, posts(1), posts(2)


def market_first_posts(version: int, signed: tuple, per_block: int = 1000) -> dict:
    """First posts and second posts of every participant on a new ledger running market `version`: wall and CPU seconds."""
    manager, setup, registrations, first, second = signed
    out = {}
    with tempfile.TemporaryDirectory() as folder:
        specs = [ContractSpec("market", version) if s.name == "market" else s for s in genesis_specs(manager.public_key.to_text())]
        ledger = Ledger.create(f"sqlite:///{folder}/ledger.db", manager, CHAIN, "signed", None, (), wiring.contracts(), specs)
        ledger.commit(setup)
        for i in range(0, len(registrations), per_block):
            ledger.commit(registrations[i:i + per_block])
        for name, txs in (("first", first), ("second", second)):
            start, cpu = time.perf_counter(), time.process_time()
            for i in range(0, len(txs), per_block):
                block = ledger.commit(txs[i:i + per_block])
                assert all(r.status == "applied" for r in block.receipts), next(r for r in block.receipts if r.status != "applied")
            out[name] = (time.perf_counter() - start, time.process_time() - cpu)
        ledger.close()
    return out


def market_section(sizes: list[int]) -> None:
    rows = []
    for n in sizes:
        signed = market_transactions(n)
        v1, v2 = market_first_posts(1, signed), market_first_posts(2, signed)
        for name, what in (("first", "first posts (each a newcomer)"), ("second", "second posts (no newcomer)")):
            (w1, c1), (w2, c2) = v1[name], v2[name]
            rows.append([f"n = {n:,}: {what}", f"{w1:,.2f} s", f"{c1:,.2f} s", f"{w2:,.2f} s", f"{c2:,.2f} s", f"{w1 / w2:.2f}", f"{c1 / c2:.2f}"])
    print(f"\nA market day's posts through the market contract, blocks of 1,000, SQLite with fsync; v1 (one list per day) against v2 (a count and a key each):\n")
    print(markdown_table(["", "v1 wall", "v1 CPU", "v2 wall", "v2 CPU", "v1 / v2 (wall)", "v1 / v2 (CPU)"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000", help="enterprise counts of the register + commit figure")
    parser.add_argument("--commits", type=int, default=400, help="allocation commits in the throughput figure")
    parser.add_argument("--per-block", type=int, default=50)
    parser.add_argument("--market", default="1000,10000", help="participant counts of the market's first-posts figure")
    parser.add_argument("--parts", default="allocation,market", help="allocation, market (comma-separated)")
    args = parser.parse_args()
    if "allocation" in args.parts.split(","):
        allocation(args)
    if "market" in args.parts.split(","):
        market_section([int(x) for x in args.market.split(",")])
    print(f"\npeak RSS {rss_mib():,.0f} MiB; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def allocation(args) -> None:
    rows = []
    for n in (int(x) for x in args.sizes.split(",")):
        r = register_and_commit(n)
        target = r["target"]
        rows.append([f"register + commit, n = {n:,}", f"{r['seconds'] * 1000:,.0f} ms", f"{r['cpu'] * 1000:,.0f} ms", f"< {target * 1000:,.0f} ms" if target else "–",
                     f"{r['seconds'] / target:.2f}" if target else "–", f"{r['sign_seconds'] * 1000:,.0f} ms", f"{r['bytes'] / 2**20:,.1f} MiB",
                     f"{r['commit_bytes'] / 2**20:,.2f} MiB"])
    print("Register + commit through the allocation contract (one block, SQLite with fsync); signing apart:\n")
    print(markdown_table(["", "ours (wall)", "CPU", "target", "ours / target", "signing (manager)", "transactions", "of which the commit"], rows))
    t = throughput(args.commits, args.per_block)
    print(f"\nBlocks of {args.per_block} commits, 50-enterprise problems, {args.commits} commits:\n")
    print(markdown_table(["", "tx/s", "ratio to plain records"],
                         [["allocation commits (every condition, certificate verified)", f"{t['allocation']:,.0f}", f"{t['allocation'] / t['record']:.3f}"],
                          ["plain record.put (same blocks, same run)", f"{t['record']:,.0f}", "1"]]))


if __name__ == "__main__":
    main()
