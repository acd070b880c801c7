#!/usr/bin/env python3
"""The source's table 5 with measured numbers (issue 6, SPEC §3): each seal on a real SQLite ledger.

Per seal kind, on one chain built here:

- hash or check rate: tries per second of the seal's search (pow, rpca16: nonces
  tried / seconds in `finish`), and seal verifications per second (`verify` alone,
  on the chain's own headers);
- block time and CPU seconds per block at a set difficulty: the work seals at one
  target for both (2^256 / `--tries`, so pow and rpca16 pay for the same expected
  number of tries), clocks on schedule so that retargeting holds it; proof of stake
  at a target one staker meets within a few of its one-per-second tries; endorsement
  2 of 3 members;
- throughput with 1,000-transaction blocks (signed records, committed with fsync).

The anchor is SHA-256d: RPCA16's cost in CPU terms is its hash rate against
SHA-256d's (the ASIC-resistance price an honest node pays).  The source's table 5
compares PoW, PoS, DPoS and PBFT in adjectives; these are the figures.

    .venv/bin/python bench/bench_seals.py                  # about a minute
    .venv/bin/python bench/bench_seals.py --tries 65536 --blocks 10
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import rss_mib  # noqa: E402

from coopchain.chain.keys import PrivateKey  # noqa: E402
from coopchain.chain.ledger import Ledger, now_micros, seal_context  # noqa: E402
from coopchain.chain.seals import seal_for  # noqa: E402
from coopchain.chain.transaction import sign_transaction  # noqa: E402

CHAIN = "bench-seals"
INTERVAL_MS = 1000


def params_for(kind: str, tries: int, extra: list) -> dict:
    if kind in ("pow", "rpca16"):
        return {"target": f"{2**256 // tries:064x}", "interval_ms": INTERVAL_MS, "window": 10}
    if kind == "pos":
        # One kernel try per second: a drift of two minutes lets the bench stake its blocks without waiting.
        return {"stakes": {extra[0].public_key.to_text(): 1000}, "target": f"{2**256 // 5000:064x}", "drift": 120}
    if kind == "endorsement":
        return {"members": [k.public_key.to_text() for k in extra], "k": 2}
    return {}


def build(kind: str, tries: int, blocks: int, big_blocks: int) -> dict:
    folder = tempfile.mkdtemp(prefix=f"coopchain-{kind}-")
    node = PrivateKey.generate("ed25519")
    extra = [PrivateKey.generate("ed25519") for _ in range(3 if kind == "endorsement" else 1 if kind == "pos" else 0)]
    ledger = Ledger.create(f"sqlite:///{folder}/l.db", node, CHAIN, kind, params_for(kind, tries, extra), extra)
    user = PrivateKey.generate("ed25519")
    nonce = 0
    on_schedule = kind in ("pow", "rpca16")  # clocks on schedule keep the retargeted target where it started
    clock = ledger.head().timestamp

    def commit(count: int):
        nonlocal nonce, clock
        txs = [sign_transaction(user, CHAIN, nonce + i, "record.put", {"key": f"lot/{(nonce + i) % 997}", "value": str(nonce + i)}) for i in range(count)]
        nonce += count
        clock += INTERVAL_MS * 1000
        wall, cpu = time.perf_counter(), time.process_time()
        block = ledger.commit(txs, timestamp=clock if on_schedule else None)
        return time.perf_counter() - wall, time.process_time() - cpu, block

    small = [commit(1) for _ in range(blocks)]
    tries_done = sum(b.header.seal.get("nonce", -1) + 1 for _, _, b in small)
    seconds = sum(w for w, _, _ in small)
    big = [commit(1000) for _ in range(big_blocks)]

    store = ledger.store
    headers = [ledger.header(h) for h in range(1, ledger.height() + 1)]
    contexts = [seal_context(store, store, ledger.config, ledger.header(h.height - 1)) for h in headers]
    seal = seal_for(kind)
    start = time.perf_counter()
    for header, ctx in zip(headers, contexts):
        seal.verify(header, ctx)
    verify_rate = len(headers) / (time.perf_counter() - start)
    ledger.close()
    return {
        "kind": kind,
        "search_rate": tries_done / seconds if tries_done else None,
        "verify_rate": verify_rate,
        "block_s": seconds / blocks,
        "cpu_s": sum(c for _, c, _ in small) / blocks,
        "big_tx_s": 1000 * big_blocks / sum(w for w, _, _ in big),
    }


def sha256d_rate(seconds: float = 1.0) -> float:
    data, n, start = b"\x00" * 300, 0, time.perf_counter()
    state = hashlib.sha256(data)
    while time.perf_counter() - start < seconds:
        for i in range(10_000):
            h = state.copy()
            h.update(i.to_bytes(8, "big"))
            hashlib.sha256(h.digest()).digest()
        n += 10_000
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=16384, help="expected hashes per block of the work seals")
    parser.add_argument("--blocks", type=int, default=8, help="one-transaction blocks per seal")
    parser.add_argument("--big-blocks", type=int, default=3, help="1,000-transaction blocks per seal")
    args = parser.parse_args()
    anchor = sha256d_rate()
    rows = [build(kind, args.tries, args.blocks, args.big_blocks) for kind in ("signed", "pow", "rpca16", "pos", "endorsement")]
    print(f"\nseals on SQLite, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; work seals at target 2^256 / {args.tries:,}; "
          f"SHA-256d anchor (hashlib, 300-byte header, state copied per try): {anchor:,.0f} hashes/s\n")
    print("| seal | search hashes/s | vs SHA-256d | seal checks/s | block time s | CPU s / block | tx/s, 1,000-tx blocks |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        rate = f"{r['search_rate']:,.0f}" if r["search_rate"] else "–"
        ratio = f"{r['search_rate'] / anchor:.3f}" if r["search_rate"] else "–"
        print(f"| {r['kind']} | {rate} | {ratio} | {r['verify_rate']:,.0f} | {r['block_s']:.3f} | {r['cpu_s']:.3f} | {r['big_tx_s']:,.0f} |")
    print(f"\npeak RSS {rss_mib():.0f} MiB.  pos: the block time is CPU only; its real interval is set by the target, one kernel try per second.")


if __name__ == "__main__":
    main()
