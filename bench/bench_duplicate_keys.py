"""The cost of refusing a key given twice in `coopchain solve FILE`'s fast reader (review R-8 for solve).

    .venv/bin/python bench/bench_duplicate_keys.py [--n 100000] [--repeat 5]

A problem of n enterprises (the SPEC's generator, written with json.dumps as a manager's tool
would) is read by models.problem_columns (`load_prepared`: read, parse, validate, canonical,
arrays); its "parse" phase now also counts the members decoded against the colons of the text.
Beside it: that check alone, and the anchor it avoids, a strict parse of the whole text
(models.strict_json.loads, which names a repeated key but builds every object through a hook).
CPU seconds (time.process_time), median of the repeats, and the load average of the run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import generate, markdown_table  # noqa: E402


def cpu_median(repeat: int, run) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from coopchain.models.problem_columns import load_prepared
    from coopchain.models.strict_json import count_members, loads, repeated_key_issue

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"problem-{args.n}.json"
        doc = generate(args.n, "uniform", 7)
        path.write_text(json.dumps(doc))
        data = path.read_bytes()
        members = count_members(doc)
        phases: list[dict] = []

        def read():
            phases.append({})
            load_prepared(path, None, phases[-1])

        whole = cpu_median(args.repeat, read)
        parse = statistics.median(p["parse"][1] for p in phases)
        check = cpu_median(args.repeat, lambda: repeated_key_issue(data, members))
        strict = cpu_median(max(1, args.repeat // 2), lambda: loads(data.decode("utf-8")))
        rows = [
            [f"`load_prepared`, n = {args.n:,} ({len(data) / 2**20:.1f} MiB)", f"{whole:.3f} s"],
            ["its parse phase (msgspec, with the repeated-key check)", f"{parse:.3f} s"],
            ["the check alone (colon count against members)", f"{check:.3f} s"],
            ["anchor: strict parse of the text (strict_json.loads)", f"{strict:.3f} s"],
        ]
        print(markdown_table(["reading a problem document", "CPU (median)"], rows))
        print(f"\n(check / strict parse: {check / strict:.3f}; machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
