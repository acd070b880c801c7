"""`coopchain verify` end to end, and the cost of its exact path (issue 10, SPEC §7).

    .venv/bin/python bench/bench_verify.py [--sizes 1000,100000] [--repeat 3]

For each size: a problem from the SPEC's generator is solved in process (max F1, max F2
with uniform and general α), the solve's whole output is written to a file, and
`coopchain verify FILE` runs as a user runs it (a new process: start-up, reading,
strict parsing, canonical check, re-validation, the checks).  The anchor beside it is
the floor any verifier pays: reading the file and parsing its JSON and the embedded
problem with plain `json.loads`.  SPEC §7's target is < 0.5 s at n = 100,000.

The exact path: the same certificate verified in process with the floating-point
filter disabled (every comparison decided in Fraction/decimal arithmetic), which is
what an adversarial certificate sitting on a threshold costs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import generate, markdown_table  # noqa: E402

COOPCHAIN = Path(sys.executable).with_name("coopchain")
TARGET_100K = 0.5


def solve_to_file(n: int, objective: str, alpha: str, folder: Path) -> Path:
    from coopchain.models.problem import parse_problem
    from coopchain.models.solve import solve

    solution = solve(parse_problem(generate(n, alpha, 7)), objective)
    assert solution.success, solution.message
    path = folder / f"solution-{objective}-{alpha}-{n}.json"
    path.write_text(json.dumps(solution.as_json()))
    return path


def best_of(repeat: int, run) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli_verify(path: Path) -> None:
    run = subprocess.run([str(COOPCHAIN), "verify", str(path)], capture_output=True, text=True)
    if run.returncode != 0 or not run.stdout.startswith("valid"):
        raise SystemExit(f"coopchain verify {path.name}: {run.stdout}{run.stderr}")


def bare_certificate(path: Path) -> Path:
    """The solve output's certificate alone, its canonical problem beside it (as `solve --certificate` writes them)."""
    document = json.loads(path.read_bytes())
    bare = path.with_name("C-" + path.name)
    bare.write_text(json.dumps(document["certificate"]))
    bare.with_name(bare.stem + ".problem.json").write_text(document["problem_text"])
    return bare


def start_up() -> None:
    """A new interpreter importing what `coopchain verify` imports (the part of its time that is not the work)."""
    run = subprocess.run([sys.executable, "-c", "import coopchain.app.cli, coopchain.models.certificate, coopchain.models.certificate_verify"])
    if run.returncode:
        raise SystemExit("the verify path does not import")


def parse_floor(path: Path) -> None:
    document = json.loads(path.read_bytes())
    json.loads(document["problem_text"])


def exact_path(path: Path) -> float:
    """In process, with every filter decision sent to exact arithmetic."""
    from coopchain.models import exact
    from coopchain.models.certificate import verify_certificate

    document = json.loads(path.read_bytes())
    cert, problem = document["certificate"], document["problem_text"]
    saved = exact.decide_le

    def undecided(value, error, threshold, threshold_error, compute):
        x, t = compute()
        return x <= t

    exact.decide_le = undecided
    try:
        start = time.perf_counter()
        verify_certificate(cert, problem)
        return time.perf_counter() - start
    finally:
        exact.decide_le = saved


def forget_problems() -> None:
    """Empty the verifier's cache of proven problems (so that a 'first' time is a first time)."""
    from coopchain.models import certificate_verify

    certificate_verify._PROBLEMS.clear()


def filtered(path: Path) -> float:
    from coopchain.models.certificate import verify_certificate

    document = json.loads(path.read_bytes())
    start = time.perf_counter()
    verify_certificate(document["certificate"], document["problem_text"])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--exact-sizes", default="1000,10000")
    parser.add_argument("--cases", default="F1:uniform,F2:uniform,F2:general", help="objective:alpha pairs")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    cases = [tuple(case.split(":")) for case in args.cases.split(",")]
    rows, again = [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for n in sizes:
            for objective, alpha in cases:
                path = solve_to_file(n, objective, alpha, folder)
                cpu = children_cpu()
                ours = best_of(args.repeat, lambda: cli_verify(path))
                cpu = (children_cpu() - cpu) / args.repeat
                floor = best_of(args.repeat, lambda: parse_floor(path))
                target = f"{TARGET_100K:.1f} s" if n == 100_000 else ""
                rows.append([f"n = {n:,}, max {objective} ({alpha} α)", f"{path.stat().st_size / 2**20:.1f} MiB", f"{ours:.3f} s", f"{cpu:.3f} s",
                             f"{floor:.3f} s", f"{ours / floor:.1f}×", target])
                bare = bare_certificate(path)
                cpu = children_cpu()
                ours = best_of(args.repeat, lambda: cli_verify(bare))
                cpu = (children_cpu() - cpu) / args.repeat
                size = (bare.stat().st_size + bare.with_name(bare.stem + ".problem.json").stat().st_size) / 2**20
                rows.append([f"n = {n:,}, max {objective} ({alpha} α): C.json + C.problem.json", f"{size:.1f} MiB", f"{ours:.3f} s",
                             f"{cpu:.3f} s", f"{floor:.3f} s", f"{ours / floor:.1f}×", target])
                forget_problems()
                again.append([f"n = {n:,}, max {objective} ({alpha} α)", f"{filtered(path):.3f} s", f"{filtered(path):.3f} s"])
        cpu = children_cpu()
        started = best_of(args.repeat, start_up)
        cpu = (children_cpu() - cpu) / args.repeat
        rows.append(["start-up: Python and the verify path's imports", "", f"{started:.3f} s", f"{cpu:.3f} s", "", "", ""])
        print(markdown_table(["`coopchain verify`", "file", "ours (wall)", "CPU (mean)", "json.loads floor", "ours / floor", "target"], rows))
        print()
        # A contract checks many allocations of one registered problem: the second certificate of a
        # problem skips its parse and canonical proof (models.certificate_verify keeps a few by hash).
        print(markdown_table(["in process, parsed certificate", "first of its problem", "problem already verified"], again))
        print()
        exact_rows = []
        for n in [int(x) for x in args.exact_sizes.split(",") if x]:
            for objective, alpha in cases:
                path = solve_to_file(n, objective, alpha, folder)
                filtered(path)  # the problem proven once: the rows below time the checks themselves
                fast = min(filtered(path) for _ in range(args.repeat))
                slow = exact_path(path)
                exact_rows.append([f"n = {n:,}, max {objective} ({alpha} α)", f"{fast:.3f} s", f"{slow:.3f} s", f"{slow / fast:.0f}×"])
        print(markdown_table(["checks in process (problem proven)", "filter decides", "every decision exact", "exact / filter"], exact_rows))
        print(f"\n(machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; best of {args.repeat}; the exact path once)")


if __name__ == "__main__":
    main()
