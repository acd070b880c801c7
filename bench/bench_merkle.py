#!/usr/bin/env python3
"""RFC 9162 Merkle proofs at 10^6 leaves against the SPEC §7 target (< 1 ms each to build and to verify).

Appends ``--leaves`` leaf hashes (SHA-256 of the leaf number, made in chunks outside
the timed region) to a ``chain.merkle.MemoryTree`` and to a ``Frontier`` and reports
the append rates; then, over ``--samples`` random pairs, times one call each of

- inclusion: ``tree.inclusion_proof(index, size)`` (build) and ``verify_inclusion`` (verify)
  for index uniform in [0, size), size uniform in [1, leaves];
- consistency: ``tree.consistency_proof(first, second)`` and ``verify_consistency``
  for 1 <= first < second <= leaves;
- ``tree.root_at(size)``, the root of a past size, for comparison;

and prints median and p99 in µs beside the target, with p99 / target (below 1 meets
it), and the peak RSS of the process (tree and samples included).

    .venv/bin/python bench/bench_merkle.py                  # 10^6 leaves, 2,000 pairs
    .venv/bin/python bench/bench_merkle.py --leaves 100000 --samples 5000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

from common import ROOT  # bench/ is on sys.path when a bench runs
from common import markdown_table
from common import rss_mib

sys.path.insert(0, str(ROOT))

from coopchain.chain.merkle import Frontier, MemoryTree, verify_consistency, verify_inclusion  # noqa: E402

TARGET_US = 1000.0  # SPEC §7: each proof < 1 ms to build and to verify at 10^6 leaves
CHUNK = 1 << 16


def leaf_chunks(n: int):
    """Leaf hashes in chunks, so that making them is not timed and memory stays flat."""
    for start in range(0, n, CHUNK):
        yield [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(start, min(n, start + CHUNK))]


def timed_appends(append, n: int) -> float:
    total = 0.0
    for chunk in leaf_chunks(n):
        t0 = time.perf_counter()
        for leaf in chunk:
            append(leaf)
        total += time.perf_counter() - t0
    return total


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def time_calls(calls) -> list[float]:
    """µs of each call, one perf_counter pair per call."""
    out = []
    for call, args in calls:
        t0 = time.perf_counter_ns()
        call(*args)
        out.append((time.perf_counter_ns() - t0) / 1000.0)
    return out


def measure(leaves: int, samples: int, seed: int) -> dict:
    tree = MemoryTree()
    append_s = timed_appends(tree.append, leaves)
    rss_tree = rss_mib()
    frontier = Frontier()
    frontier_s = timed_appends(frontier.append, leaves)
    assert frontier.root() == tree.root_at(leaves)

    rng = random.Random(seed)
    incl = []
    for _ in range(samples):
        size = rng.randint(1, leaves)
        incl.append((rng.randrange(size), size))
    cons = []
    for _ in range(samples):
        first, second = sorted(rng.sample(range(1, leaves + 1), 2))
        cons.append((first, second))

    roots = {n: tree.root_at(n) for pair in incl + cons for n in pair if n}  # not timed
    for i, n in incl[:50]:  # warm-up
        tree.inclusion_proof(i, n)
    timings = {
        "build inclusion": time_calls([(tree.inclusion_proof, pair) for pair in incl]),
        "build consistency": time_calls([(tree.consistency_proof, pair) for pair in cons]),
        "root at past size": time_calls([(tree.root_at, (n,)) for _, n in incl]),
    }
    incl_paths = [tree.inclusion_proof(i, n) for i, n in incl]
    cons_paths = [tree.consistency_proof(m, n) for m, n in cons]
    timings["verify inclusion"] = time_calls(
        [(verify_inclusion, (tree.node(0, i), i, n, p, roots[n])) for (i, n), p in zip(incl, incl_paths)])
    timings["verify consistency"] = time_calls(
        [(verify_consistency, (m, n, roots[m], roots[n], p)) for (m, n), p in zip(cons, cons_paths)])
    return {
        "leaves": leaves,
        "samples": samples,
        "append_per_s": leaves / append_s,
        "frontier_append_per_s": leaves / frontier_s,
        "rss_tree_mib": rss_tree,
        "rss_peak_mib": rss_mib(),
        "mean_path": statistics.fmean(len(p) for p in incl_paths),
        "mean_consistency_path": statistics.fmean(len(p) for p in cons_paths),
        "ops": {name: {"median_us": statistics.median(v), "p99_us": percentile(v, 0.99), "max_us": max(v)}
                for name, v in timings.items()},
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leaves", type=int, default=1_000_000)
    ap.add_argument("--samples", type=int, default=2000, help="random pairs per operation")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the raw results here")
    args = ap.parse_args(argv)
    if args.leaves < 2:
        ap.error("--leaves must be at least 2")

    print(f"# bench_merkle: {args.leaves:,} leaves, {args.samples:,} random pairs, seed {args.seed}, "
          f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}", flush=True)
    r = measure(args.leaves, args.samples, args.seed)
    print(f"\nMemoryTree.append {r['append_per_s']:,.0f} leaves/s; Frontier.append {r['frontier_append_per_s']:,.0f} "
          f"leaves/s; peak RSS {r['rss_tree_mib']:.0f} MiB after the tree, {r['rss_peak_mib']:.0f} MiB at the end; "
          f"mean path {r['mean_path']:.1f} hashes (inclusion), {r['mean_consistency_path']:.1f} (consistency)\n")
    header = ["operation", "median µs", "p99 µs", "max µs", "target µs", "p99 / target"]
    rows = []
    for name, op in r["ops"].items():
        target = name != "root at past size"
        rows.append([name, f"{op['median_us']:.1f}", f"{op['p99_us']:.1f}", f"{op['max_us']:.0f}",
                     f"< {TARGET_US:.0f}" if target else "–", f"{op['p99_us'] / TARGET_US:.3f}" if target else "–"])
    print(markdown_table(header, rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": r}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
