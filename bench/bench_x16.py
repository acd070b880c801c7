#!/usr/bin/env python3
"""Hashes per second of the 16 pool functions and of RPCA16, against SHA-256d (SPEC §3).

Rows, each on one core, each the best of ``--repeat`` timed loops of at least
``--seconds`` (the loop length is calibrated first, so each figure is a rate over
thousands of calls, Python call overhead included, as the seal code will pay it):

- the 16 functions of pool A (``chain.x16.POOL``: sphlib in the ``x16r_hash`` sdist's
  shared object, through ctypes) on one 80-byte input;
- ``chain.x16.x16r`` (all 16 chained, 80 bytes) and the package's own C ``x16r_hash``
  on the same header: their ratio is the cost of the ctypes route over 16 steps;
- ``chain.x16.rpca16`` on a ``--header-size`` (300) byte header, the previous hash
  drawn so the order is the worked example's (groestl, simd, echo, shabal), and the
  mean over 16 random previous hashes (the order changes the cost);
- SHA-256d with hashlib on the same 80 bytes, the anchor (Bitcoin's proof-of-work hash).

The last column is SHA-256d's rate over the row's: how many times slower than the anchor.

    .venv/bin/python bench/bench_x16.py
    .venv/bin/python bench/bench_x16.py --seconds 0.5 --repeat 5 --header-size 600
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import os
import random
import sys
import time

from common import ROOT  # bench/ is on sys.path when a bench runs
from common import markdown_table

sys.path.insert(0, str(ROOT))  # chain.x16

INPUT_SIZE = 80  # a Bitcoin/Ravencoin-style header
EXAMPLE_PREV = bytes(30) + bytes.fromhex("9d2a")  # SPEC §3's worked example: order 2, 9, A, D


def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def calibrate(fn, seconds: float) -> int:
    """Calls per timed loop so that one loop lasts about `seconds`."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds / 10:
            return max(1, int(n * seconds / elapsed))
        n *= 4


def best_rate(fn, seconds: float, repeat: int) -> float:
    n = calibrate(fn, seconds)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def measure(args) -> list[tuple[str, str, float]]:
    """(name, input, hashes/s) rows, anchor first."""
    from coopchain.chain import x16

    rng = random.Random(args.seed)
    data = rng.randbytes(INPUT_SIZE)
    header = rng.randbytes(args.header_size)
    prev = data[4:36][::-1]
    rows = [("SHA-256d (hashlib)", f"{INPUT_SIZE} B", best_rate(lambda: sha256d(data), args.seconds, args.repeat))]
    for index, (name, f) in enumerate(zip(x16.POOL_NAMES, x16.POOL)):
        rows.append((f"{index:X} {name}", f"{INPUT_SIZE} B", best_rate(lambda f=f: f(data), args.seconds, args.repeat)))
        print(f"  {name:12s} {rows[-1][2]:12,.0f} /s", file=sys.stderr, flush=True)
    if x16.x16r(data, prev) != x16.c_x16r(data):
        raise SystemExit("chain.x16.x16r differs from the package's C x16r_hash")
    rows.append(("x16r, our chain of wrappers", f"{INPUT_SIZE} B", best_rate(lambda: x16.x16r(data, prev), args.seconds, args.repeat)))
    rows.append(("x16r, package C x16r_hash", f"{INPUT_SIZE} B", best_rate(lambda: x16.c_x16r(data), args.seconds, args.repeat)))
    order = "".join(f"{i:X}" for i in x16.rpca16_order(EXAMPLE_PREV))
    rows.append((f"rpca16, order {order}", f"{args.header_size} B",
                 best_rate(lambda: x16.rpca16(header, EXAMPLE_PREV), args.seconds, args.repeat)))
    prevs = [rng.randbytes(32) for _ in range(16)]
    rates = [best_rate(lambda p=p: x16.rpca16(header, p), args.seconds / 4, args.repeat) for p in prevs]
    rows.append(("rpca16, mean of 16 random orders", f"{args.header_size} B", len(rates) / sum(1 / r for r in rates)))
    return rows


def table(rows: list[tuple[str, str, float]]) -> tuple[list[str], list[list[str]]]:
    anchor = rows[0][2]
    header = ["function", "input", "hashes/s", "µs/hash", "SHA-256d / this"]
    return header, [[name, size, f"{rate:,.0f}", f"{1e6 / rate:.2f}", f"{anchor / rate:.1f}"] for name, size, rate in rows]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=0.2, help="length of one timed loop, s")
    ap.add_argument("--repeat", type=int, default=3, help="timed loops per row; the fastest is reported")
    ap.add_argument("--header-size", type=int, default=300, help="bytes of the header RPCA16 hashes")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    print(f"# bench_x16: {os.cpu_count()} CPUs, python {sys.version.split()[0]}, "
          f"x16r_hash {importlib.metadata.version('x16r_hash')}, one core, best of {args.repeat} "
          f"loops of ≥ {args.seconds} s", flush=True)
    header, rows = table(measure(args))
    print("\n" + markdown_table(header, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
