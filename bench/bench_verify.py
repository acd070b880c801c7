"""`coopchain verify` end to end, and the cost of its exact path (issue 10, SPEC §7).

    .venv/bin/python bench/bench_verify.py [--sizes 1000,100000] [--repeat 3]

For each size: a problem from the SPEC's generator is solved in process (max F1, max F2
with uniform and general α), the solve's whole output is written to a file, and
`coopchain verify FILE` runs as a user runs it (a new process: start-up, reading,
strict parsing, canonical check, re-validation, the checks): the whole output, the bare
v3 certificate with the problem's columns form beside it (what `solve --certificate`
writes), and the bare v2 certificate with the canonical text beside it.  The anchor
beside it is the floor any verifier pays: reading the files and parsing their JSON with
plain `json.loads` (the form needs no parsing).  The target is < 0.5 s at n = 100,000.

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


def bare_certificates(path: Path) -> tuple[Path, Path]:
    """The solve output's certificate alone, twice: v3 with the problem's columns form beside it (C.json and
    C.problem.bin, as `solve --certificate` writes them) and v2 with the canonical text beside it (C2.json and
    C2.problem.json, as versions before v3 wrote them)."""
    from coopchain.models.certificate import columns_certificate
    from coopchain.models.problem_form import encode
    from coopchain.models.problem_text import read_canonical_text

    document = json.loads(path.read_bytes())
    form = encode(read_canonical_text(document["problem_text"]))
    v3 = path.with_name("C-" + path.name)
    v3.write_text(json.dumps(columns_certificate(document["certificate"], form)))
    v3.with_name(v3.stem + ".problem.bin").write_bytes(form)
    v2 = path.with_name("C2-" + path.name)
    v2.write_text(json.dumps(document["certificate"]))
    v2.with_name(v2.stem + ".problem.json").write_text(document["problem_text"])
    return v3, v2


def beside(certificate: Path) -> Path:
    return next(certificate.with_name(certificate.stem + suffix) for suffix in (".problem.bin", ".problem.json")
                if certificate.with_name(certificate.stem + suffix).exists())


def form_floor(certificate: Path) -> None:
    """The floor of a v3 certificate: its JSON parsed, its problem's form read."""
    json.loads(certificate.read_bytes())
    beside(certificate).read_bytes()


def start_up() -> None:
    """`coopchain verify` of a file that is not there: the interpreter, the command line's parser and the verifier's
    imports, then a usage error (the part of its time that is not the work)."""
    run = subprocess.run([str(COOPCHAIN), "verify", "/nonexistent/C.json"], capture_output=True, text=True)
    if run.returncode != 2 or "cannot read it" not in run.stderr:
        raise SystemExit(f"the verify path does not start: {run.stderr}")


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

    def undecided(value, error, threshold, threshold_error, compute, refined=None):
        x, t = compute()
        return x <= t

    exact.decide_le = undecided
    try:
        start = time.perf_counter()
        verify_certificate(cert, problem)
        return time.perf_counter() - start
    finally:
        exact.decide_le = saved


def on_threshold(path: Path, second_filter: bool) -> tuple[str, float, float]:
    """The solve's certificate with its bound moved onto the agreement threshold (bound + 1e-9·value): verified
    in process, the problem proven beforehand; with or without the double-double filter (without it, the
    exact path decides, as before it existed).  The verdict (or code), CPU and wall seconds."""
    from coopchain.models import certificate_verify as cv
    from coopchain.models.certificate import CertificateError

    document = json.loads(path.read_bytes())
    cert, problem = document["certificate"], document["problem_text"]
    handle = cv.proven_problem(cert["problem_hash"], problem)
    cert["bound"] = cert["bound"] + 1e-9 * abs(cert["values"][cert["objective"]])
    saved = cv._interval
    if not second_filter:
        cv._interval = lambda est: None
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            cv.verify(cert, handle)
            verdict = "valid"
        except CertificateError as e:
            verdict = e.code
        return verdict, time.process_time() - cpu, time.perf_counter() - wall
    finally:
        cv._interval = saved


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
    parser.add_argument("--threshold-sizes", default="100000", help="sizes of the certificates on a threshold (max F2, uniform and general α)")
    parser.add_argument("--only-threshold", action="store_true")
    parser.add_argument("--cases", default="F1:uniform,F2:uniform,F2:general", help="objective:alpha pairs")
    args = parser.parse_args()
    if args.only_threshold:
        args.sizes, args.exact_sizes = "", ""
    sizes = [int(x) for x in args.sizes.split(",") if x]
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
                for bare, label in zip(bare_certificates(path), ("C.json (v3) + C.problem.bin", "C2.json (v2) + C2.problem.json")):
                    cpu = children_cpu()
                    ours = best_of(args.repeat, lambda: cli_verify(bare))
                    cpu = (children_cpu() - cpu) / args.repeat
                    bare_floor = best_of(args.repeat, lambda: form_floor(bare)) if bare.name.startswith("C-") else floor
                    size = (bare.stat().st_size + beside(bare).stat().st_size) / 2**20
                    rows.append([f"n = {n:,}, max {objective} ({alpha} α): {label}", f"{size:.1f} MiB", f"{ours:.3f} s",
                                 f"{cpu:.3f} s", f"{bare_floor:.3f} s", f"{ours / bare_floor:.1f}×", target])
                forget_problems()
                again.append([f"n = {n:,}, max {objective} ({alpha} α)", f"{filtered(path):.3f} s", f"{filtered(path):.3f} s"])
        if rows:
            cpu = children_cpu()
            started = best_of(args.repeat, start_up)
            cpu = (children_cpu() - cpu) / args.repeat
            rows.append(["start-up: Python, the parser and the verify path's imports", "", f"{started:.3f} s", f"{cpu:.3f} s", "", "", ""])
            print(markdown_table(["`coopchain verify`", "file", "ours (wall)", "CPU (mean)", "json.loads floor", "ours / floor", "target"], rows))
            print()
        # A contract checks many allocations of one registered problem: the second certificate of a
        # problem skips its parse and canonical proof (models.certificate_verify keeps a few by hash).
        if again:
            print(markdown_table(["in process, parsed certificate", "first of its problem", "problem already verified"], again))
            print()
        threshold_rows = []
        for n in [int(x) for x in args.threshold_sizes.split(",") if x]:
            for alpha in ("uniform", "general"):
                path = solve_to_file(n, "F2", alpha, folder)
                for second in (True, False):
                    verdict, cpu, wall = on_threshold(path, second)
                    how = "float filter, double-double filter, exact" if second else "float filter, exact (before)"
                    threshold_rows.append([f"n = {n:,}, max F2 ({alpha} α), bound + 1e-9·F2", how, verdict, f"{cpu:.2f} s", f"{wall:.2f} s"])
        if threshold_rows:
            print(markdown_table(["certificate on a threshold (problem proven)", "deciders", "verdict", "CPU", "wall"], threshold_rows))
            print()
        exact_rows = []
        for n in [int(x) for x in args.exact_sizes.split(",") if x]:
            for objective, alpha in cases:
                path = solve_to_file(n, objective, alpha, folder)
                filtered(path)  # the problem proven once: the rows below time the checks themselves
                fast = min(filtered(path) for _ in range(args.repeat))
                slow = exact_path(path)
                exact_rows.append([f"n = {n:,}, max {objective} ({alpha} α)", f"{fast:.3f} s", f"{slow:.3f} s", f"{slow / fast:.0f}×"])
        if exact_rows:
            print(markdown_table(["checks in process (problem proven)", "filter decides", "every decision exact", "exact / filter"], exact_rows))
        print(f"\n(machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; best of {args.repeat}; the exact path once)")


if __name__ == "__main__":
    main()
