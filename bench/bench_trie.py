#!/usr/bin/env python3
"""The state trie against the `trie` package (ethereum/py-trie) on the same keys (SPEC §7: MPT not slower).

Both get the same random 32-byte keys and 32-byte values (seed ``--seed``), each in
a fresh subprocess so that its peak RSS (``ru_maxrss``) is its own:

- ours:  chain.trie over a dict as the node store; inserts go in batches of
         ``--batch`` keys (one ``trie_update`` per block, new nodes written to the
         dict after each), also all ``--keys`` in one batch;
- trie:  ``trie.HexaryTrie`` over a dict, one ``set`` per key (its only way:
         ``squash_changes`` still rehashes per key and is slower).

Then, on the ``--keys`` state, ``--rounds`` blocks of ``--batch`` changes each (half
updates of present keys, half new keys): the time of one block (median), and the
nodes it adds to the store.  Proofs: ``--proofs`` present keys, build (ours:
``prove``; trie: ``get_proof``) and verify (ours: chain.state_proof, the offline
verifier; trie: ``HexaryTrie.get_from_proof``), mean µs; ``trie_get`` / ``get``
likewise.  ratio: how many times better ours is (above 1: ours faster or smaller).  Both must reach the same root.

    .venv/bin/python bench/bench_trie.py                    # 1e5 keys, blocks of 1,000
    .venv/bin/python bench/bench_trie.py --keys 1000000     # the SPEC's largest state (slow for `trie`)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

from common import ROOT  # bench/ is on sys.path when a bench runs
from common import markdown_table
from common import rss_mib as _rss_mib

MARK = "BENCH-RESULT "


def _data(args) -> tuple[list[bytes], list[bytes], list[dict[bytes, bytes]]]:
    """The keys and values of the state, then the blocks of changes applied on top of it."""
    rng = random.Random(args.seed)
    keys = [rng.randbytes(32) for _ in range(args.keys)]
    values = [rng.randbytes(32) for _ in range(args.keys)]
    blocks = []
    for _ in range(args.rounds):
        block = {key: rng.randbytes(32) for key in rng.sample(keys, args.batch // 2)}
        block.update({rng.randbytes(32): rng.randbytes(32) for _ in range(args.batch - len(block))})
        blocks.append(block)
    return keys, values, blocks


def _mean_us(run, items) -> float:
    t0 = time.perf_counter()
    for item in items:
        run(item)
    return (time.perf_counter() - t0) / len(items) * 1e6


def _ours(args) -> dict:
    from coopchain.chain.state_proof import verify_state_proof
    from coopchain.chain.trie import EMPTY_ROOT, prove, trie_get, trie_update

    keys, values, blocks = _data(args)
    out: dict = {}
    store: dict = {}
    root = EMPTY_ROOT
    t0 = time.perf_counter()
    for i in range(0, len(keys), args.batch):
        root, new_nodes = trie_update(store, root, dict(zip(keys[i : i + args.batch], values[i : i + args.batch])))
        store.update(new_nodes)
    out["insert_per_s"] = len(keys) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    one_root, _ = trie_update({}, EMPTY_ROOT, dict(zip(keys, values)))
    out["insert_one_batch_per_s"] = len(keys) / (time.perf_counter() - t0)
    assert one_root == root, "one batch and many batches disagree"
    out["state_root"] = root.hex()
    out["store_nodes"] = len(store)
    times, added = [], []
    for block in blocks:
        t0 = time.perf_counter()
        root, new_nodes = trie_update(store, root, block)
        times.append(time.perf_counter() - t0)
        store.update(new_nodes)
        added.append(len(new_nodes))
    out["block_s"] = statistics.median(times)
    out["block_nodes"] = statistics.median(added)
    out["final_root"] = root.hex()
    probe = random.Random(args.seed + 1).sample(keys, args.proofs)
    proofs = {key: prove(store, root, key) for key in probe}
    out["prove_us"] = _mean_us(lambda key: prove(store, root, key), probe)
    out["verify_us"] = _mean_us(lambda key: verify_state_proof(root, key, proofs[key]), probe)
    out["get_us"] = _mean_us(lambda key: trie_get(store, root, key), probe)
    out["proof_nodes"] = statistics.mean(len(p) for p in proofs.values())
    return out


def _trie(args) -> dict:
    from trie import HexaryTrie

    keys, values, blocks = _data(args)
    out: dict = {}
    db: dict = {}
    trie = HexaryTrie(db)
    t0 = time.perf_counter()
    for key, value in zip(keys, values):
        trie[key] = value
    out["insert_per_s"] = len(keys) / (time.perf_counter() - t0)
    out["state_root"] = trie.root_hash.hex()
    out["store_nodes"] = len(db)
    times, added = [], []
    for block in blocks:
        before = len(db)
        t0 = time.perf_counter()
        for key, value in block.items():
            trie[key] = value
        times.append(time.perf_counter() - t0)
        added.append(len(db) - before)
    out["block_s"] = statistics.median(times)
    out["block_nodes"] = statistics.median(added)
    out["final_root"] = trie.root_hash.hex()
    root = trie.root_hash
    probe = random.Random(args.seed + 1).sample(keys, args.proofs)
    proofs = {key: trie.get_proof(key) for key in probe}
    out["prove_us"] = _mean_us(trie.get_proof, probe)
    out["verify_us"] = _mean_us(lambda key: HexaryTrie.get_from_proof(root, key, proofs[key]), probe)
    out["get_us"] = _mean_us(trie.get, probe)
    out["proof_nodes"] = statistics.mean(len(p) for p in proofs.values())
    return out


def worker(args) -> None:
    sys.path.insert(0, str(ROOT))
    out = _ours(args) if args.worker == "ours" else _trie(args)
    out["rss_peak_mib"] = _rss_mib()
    print(MARK + json.dumps(out), flush=True)


def measure(kind: str, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--keys", str(args.keys), "--batch",
           str(args.batch), "--rounds", str(args.rounds), "--proofs", str(args.proofs), "--seed", str(args.seed)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=ROOT)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            out = json.loads(line[len(MARK):])
            out["wall_s"] = time.perf_counter() - t0
            return out
    raise SystemExit(f"{kind} worker failed:\n{proc.stderr}")


def rows(ours: dict, theirs: dict, args) -> list[list[str]]:
    def row(label, key, spec, higher_is_better):
        a, b = ours.get(key), theirs.get(key)
        ratio = "–" if a is None or b is None else format(a / b if higher_is_better else b / a, ".1f")
        return [label, "–" if a is None else format(a, spec), "–" if b is None else format(b, spec), ratio]

    n, m = f"{args.keys:,}", f"{args.batch:,}"
    return [
        row(f"insert {n} keys, keys/s (ours: blocks of {m}; trie: one by one)", "insert_per_s", ",.0f", True),
        row(f"insert {n} keys in one batch, keys/s", "insert_one_batch_per_s", ",.0f", True),
        row(f"block of {m} changes on {n} keys, ms (median of {args.rounds})", "block_ms", ".1f", False),
        row(f"nodes added to the store per block of {m}", "block_nodes", ",.0f", False),
        row("proof build, µs", "prove_us", ".1f", False),
        row("proof verify, µs (ours: offline verifier)", "verify_us", ".1f", False),
        row("get, µs", "get_us", ".1f", False),
        row("nodes per proof (mean)", "proof_nodes", ".2f", False),
        row("peak RSS, MiB", "rss_peak_mib", ".0f", False),
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=100_000, help="keys in the state")
    ap.add_argument("--batch", type=int, default=1_000, help="changes per block")
    ap.add_argument("--rounds", type=int, default=10, help="blocks timed on the full state")
    ap.add_argument("--proofs", type=int, default=2_000, help="keys proved, verified and read")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--worker", choices=["ours", "trie"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    print(f"# bench_trie: {args.keys:,} random 32-byte keys and values, blocks of {args.batch:,}, seed {args.seed}, "
          f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}, trie {_version('trie')}, rlp {_version('rlp')}",
          flush=True)
    results = {}
    for kind in ("ours", "trie"):
        results[kind] = measure(kind, args)
        results[kind]["block_ms"] = results[kind]["block_s"] * 1e3
        print(f"  {kind}: worker wall {results[kind]['wall_s']:.1f} s", file=sys.stderr, flush=True)
    ours, theirs = results["ours"], results["trie"]
    agree = ours["state_root"] == theirs["state_root"] and ours["final_root"] == theirs["final_root"]
    print(f"roots agree: {agree} (state 0x{ours['state_root'][:16]}…, after the blocks 0x{ours['final_root'][:16]}…)\n")
    print(markdown_table(["measure", "ours", "trie", "ratio (above 1: ours better)"], rows(ours, theirs, args)))
    return 0 if agree else 1


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    sys.exit(main())
