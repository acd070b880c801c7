#!/usr/bin/env python3
"""Single-objective solve times against the cvxpy reference (issue 3, SPEC §7).

For each size n (K = 3 indicators, R = 3 resources, seed 0) the generator of
../shared/tools/gen_problem.py writes one problem document; then, for each
objective F1 (max), F2 (max, certified) and F3 (min):

- ours:      ``models.solve.solve(problem, objective)`` (arrays passed to highspy),
- pyomo:     the same with ``backend="pyomo"`` (``--pyomo``, for n <= ``--pyomo-max-n``),
- reference: tests/reference.py — cvxpy with HiGHS (F1, F3) or Clarabel (F2),
             the anchor the SPEC's figures are quoted against,

each in a fresh subprocess, so that its peak RSS (``ru_maxrss``) is its own and
no cache or import is shared.  Each worker reads the document text, parses it
(models.problem, not timed as solve), optionally warms up on a 20-enterprise
instance (so one-time costs such as the first HiGHS call are not charged to the
figure; ``--no-warmup`` to include them), then times the solve ``--repeat``
times and reports the fastest.  The reference has a wall-clock limit
(``--ref-timeout``, 120 s): past it, or on a solver failure, its column says
"timeout" or "failed" instead of a number.

Columns: ours prepare (canonical form and arrays, once per problem, not in total)
/ build / solve (the solver's own timings: model, solver) and total (wall time of
the solve call for a prepared problem, certificate included); pyomo total (F1, F3 only: max F2 has no Pyomo path); reference total
(cvxpy expressions + its compilation + the solver; it gets the parsed arrays,
so unlike ours it pays no canonicalisation); ratio = reference total / ours total; our certified
relative gap; |ours − reference| / |reference| of the objective value; peak RSS
of each worker in MiB.

    .venv/bin/python bench/bench_solve.py                         # n = 1e3, 1e4, 1e5, uniform alpha
    .venv/bin/python bench/bench_solve.py --sizes 1000 10000 --pyomo
    .venv/bin/python bench/bench_solve.py --alpha general
    .venv/bin/python bench/bench_solve.py --reference-only        # before models.solve exists
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT  # bench/ is on sys.path when a bench runs
from common import generate as _generate
from common import rss_mib as _rss_mib

OBJECTIVES = ("F1", "F2", "F3")
MARK = "BENCH-RESULT "








# --- worker side (one measurement in a fresh process) ---------------------------------------


def _parse(text: str, need_problem: bool):
    """(problem or None, instance): through models.problem when it exists, else straight from the dict."""
    try:
        from coopchain.models.problem import load_problem_json, to_instance
    except ImportError:
        if need_problem:
            raise
        from coopchain.models.certificate import instance_from_document

        return None, instance_from_document(json.loads(text))
    problem = load_problem_json(text)
    return problem, to_instance(problem)


def _ours(problem, objective: str, backend: str | None):
    from coopchain.models.solve import prepare, solve

    kwargs = {} if backend is None else {"backend": backend}

    def run():
        # The canonical form and arrays are made once per problem (the demo and the API
        # solve several objectives from one); cvxpy pays nothing like it, so it is
        # timed apart and left out of "total".
        t0 = time.perf_counter()
        prepared = prepare(problem)
        prepared_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        sol = solve(prepared, objective, **kwargs)
        total = time.perf_counter() - t0
        if not sol.success:
            raise RuntimeError(f"{sol.status}: {sol.message}")
        return {
            "value": float(getattr(sol.values, objective)),
            "gap": float(sol.gap),
            "prepare_s": prepared_s,
            "build_s": float(sol.timings.get("build", math.nan)),
            "solve_s": float(sol.timings.get("solve", math.nan)),
            "total_s": total,
        }

    return run


def _reference(inst, objective: str, grid: int, refine: int):
    import numpy as np

    from tests.reference import (
        max_violation,
        reference_f1,
        reference_f2_general,
        reference_f2_uniform,
        reference_f3,
    )

    def run():
        info: dict = {}
        t0 = time.perf_counter()
        if objective == "F1":
            value, W = reference_f1(inst, info=info)
        elif objective == "F3":
            value, W = reference_f3(inst, info=info)
        elif inst.uniform_alpha:
            value, W = reference_f2_uniform(inst, info=info)
        else:
            value, W = reference_f2_general(inst, grid=grid, refine=refine, info=info)
        total = time.perf_counter() - t0
        return {
            "value": float(value),
            "build_s": info.get("build_s", 0.0) + info.get("compile_s", 0.0),
            "solve_s": info.get("solve_s", 0.0),
            "total_s": total,
            "cvxpy_build_s": info.get("build_s", 0.0),
            "cvxpy_compile_s": info.get("compile_s", 0.0),
            "solves": info.get("solves", 0),
            "status": info.get("status"),
            "violation": max_violation(inst, np.asarray(W)),
        }

    return run


def worker(args) -> None:
    sys.path.insert(0, str(ROOT))
    text = Path(args.input).read_text()
    t0 = time.perf_counter()
    problem, inst = _parse(text, need_problem=args.worker != "reference")
    parse_s = time.perf_counter() - t0
    rss_parsed = _rss_mib()
    backend = "pyomo" if args.worker == "pyomo" else None

    def make(problem, inst):
        if args.worker == "reference":
            return _reference(inst, args.objective, args.grid, args.refine)
        return _ours(problem, args.objective, backend)

    if args.warmup:
        small = json.dumps(_generate(20, "uniform" if inst.uniform_alpha else "general", 1))
        make(*_parse(small, need_problem=args.worker != "reference"))()
    run = make(problem, inst)
    runs = [run() for _ in range(max(1, args.repeat))]
    best = min(runs, key=lambda r: r["total_s"])
    best.update(parse_s=parse_s, rss_parsed_mib=rss_parsed, rss_peak_mib=_rss_mib(), repeats=len(runs))
    print(MARK + json.dumps(best), flush=True)


# --- driver side --------------------------------------------------------------------------------


def measure(kind: str, path: str, objective: str, args, timeout: float) -> dict:
    """Run one worker in a fresh interpreter; a dict with the figures, or {"error": "timeout"/"failed: ..."}."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        kind,
        "--input",
        path,
        "--objective",
        objective,
        "--repeat",
        str(args.repeat),
        "--grid",
        str(args.grid),
        "--refine",
        str(args.refine),
    ]
    if not args.warmup:
        cmd.append("--no-warmup")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": "timeout", "wall_s": time.perf_counter() - t0}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            out = json.loads(line[len(MARK) :])
            out["wall_s"] = time.perf_counter() - t0
            return out
    reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"failed: {reason}", "wall_s": time.perf_counter() - t0}


def _fmt(x, spec: str = ".3f") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return format(x, spec)


def _cell(result: dict | None, key: str, spec: str = ".3f") -> str:
    if result is None:
        return "–"
    if "error" in result:
        return "timeout" if result["error"] == "timeout" else "failed"
    return _fmt(result.get(key), spec)


def _relative_difference(ours: dict | None, ref: dict | None):
    if not ours or not ref or "error" in ours or "error" in ref:
        return None
    return abs(ours["value"] - ref["value"]) / max(abs(ref["value"]), 1e-300)


def _ratio(ours: dict | None, ref: dict | None):
    if not ours or not ref or "error" in ours or "error" in ref or ours["total_s"] <= 0:
        return None
    return ref["total_s"] / ours["total_s"]


def comparison_rows(results: list[dict], pyomo: bool) -> tuple[list[str], list[list[str]]]:
    header = ["n", "objective", "ours prepare s", "ours build s", "ours solve s", "ours total s", "cvxpy total s",
              "ratio cvxpy/ours", "ours gap", "|Δ value| rel", "ours RSS MiB", "cvxpy RSS MiB"]
    if pyomo:
        header[6:6] = ["pyomo total s"]
    rows = []
    for r in results:
        o, ref, p = r.get("ours"), r.get("reference"), r.get("pyomo")
        row = [f"{r['n']:,}", r["objective"], _cell(o, "prepare_s"), _cell(o, "build_s"), _cell(o, "solve_s"), _cell(o, "total_s"),
               _cell(ref, "total_s"), _fmt(_ratio(o, ref), ".1f"), _cell(o, "gap", ".1e"),
               _fmt(_relative_difference(o, ref), ".1e"), _cell(o, "rss_peak_mib", ".0f"), _cell(ref, "rss_peak_mib", ".0f")]
        if pyomo:
            row[6:6] = [_cell(p, "total_s") if p is not None else "–"]
        rows.append(row)
    return header, rows


def reference_rows(results: list[dict]) -> tuple[list[str], list[list[str]]]:
    header = ["n", "objective", "solver", "cvxpy build s", "cvxpy compile s", "solver s", "cvxpy total s", "solves",
              "value", "max violation", "RSS MiB"]
    rows = []
    for r in results:
        ref = r.get("reference")
        solver = "Clarabel" if r["objective"] == "F2" else "HiGHS"
        rows.append([f"{r['n']:,}", r["objective"], solver, _cell(ref, "cvxpy_build_s"), _cell(ref, "cvxpy_compile_s"),
                     _cell(ref, "solve_s"), _cell(ref, "total_s"), _cell(ref, "solves", "d"), _cell(ref, "value", ".10g"),
                     _cell(ref, "violation", ".1e"), _cell(ref, "rss_peak_mib", ".0f")])
    return header, rows


def plain_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def scaling_note(results: list[dict], key: str = "ours") -> list[str]:
    """How total time grows with n, per objective: t(n2)/t(n1) against n2/n1."""
    notes = []
    for objective in OBJECTIVES:
        pts = [(r["n"], r[key]["total_s"]) for r in results
               if r["objective"] == objective and r.get(key) and "error" not in r[key]]
        if len(pts) >= 2:
            steps = ", ".join(f"×{t2 / t1:.1f} for n ×{n2 / n1:g}" for (n1, t1), (n2, t2) in itertools.pairwise(pts))
            notes.append(f"{objective}: {steps}")
    return notes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--objectives", nargs="+", choices=OBJECTIVES, default=list(OBJECTIVES))
    ap.add_argument("--alpha", choices=["uniform", "general"], default="uniform")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reference-only", action="store_true", help="time only the cvxpy reference")
    ap.add_argument("--no-reference", action="store_true", help="time only ours")
    ap.add_argument("--pyomo", action="store_true", help="also time ours with backend='pyomo'")
    ap.add_argument("--pyomo-max-n", type=int, default=10000)
    ap.add_argument("--ref-timeout", type=float, default=120.0, help="wall-clock limit of one reference run, s")
    ap.add_argument("--timeout", type=float, default=600.0, help="wall-clock limit of one run of ours, s")
    ap.add_argument("--repeat", type=int, default=1, help="solves per worker; the fastest is reported")
    ap.add_argument("--no-warmup", dest="warmup", action="store_false", help="charge one-time costs to the figure")
    ap.add_argument("--grid", type=int, default=40, help="reference grid over s = ΣU for general alpha")
    ap.add_argument("--refine", type=int, default=10, help="reference golden-section steps for general alpha")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--worker", choices=["ours", "pyomo", "reference"], help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--objective", choices=OBJECTIVES, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args)
        return 0

    print(f"# bench_solve: K = 3, R = 3, seed {args.seed}, alpha {args.alpha}, {os.cpu_count()} CPUs, "
          f"python {sys.version.split()[0]}, warm-up {'on' if args.warmup else 'off'}, repeat {args.repeat}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_solve_") as tmp:
        for n in args.sizes:
            t0 = time.perf_counter()
            path = os.path.join(tmp, f"problem-{n}.json")
            Path(path).write_text(json.dumps(_generate(n, args.alpha, args.seed)))
            print(f"n = {n:,}: document generated in {time.perf_counter() - t0:.2f} s "
                  f"({os.path.getsize(path) / 2**20:.1f} MiB)", file=sys.stderr, flush=True)
            for objective in args.objectives:
                r = {"n": n, "objective": objective, "alpha": args.alpha}
                kinds = []
                if not args.reference_only:
                    kinds.append(("ours", args.timeout))
                    if args.pyomo and n <= args.pyomo_max_n and objective != "F2":  # F2 has no Pyomo path
                        kinds.append(("pyomo", args.timeout))
                if not args.no_reference:
                    kinds.append(("reference", args.ref_timeout))
                for kind, timeout in kinds:
                    r[kind] = measure(kind, path, objective, args, timeout)
                    res = r[kind]
                    shown = res.get("error") or f"{res['total_s']:.3f} s, peak RSS {res['rss_peak_mib']:.0f} MiB"
                    print(f"  {objective} {kind:9s} {shown}   (worker wall {res['wall_s']:.1f} s)", file=sys.stderr, flush=True)
                results.append(r)

    if args.reference_only:
        header, rows = reference_rows(results)
    else:
        header, rows = comparison_rows(results, args.pyomo)
    print()
    print(plain_table(header, rows))
    notes = scaling_note(results, "reference" if args.reference_only else "ours")
    if notes:
        print("\ngrowth of total time with n — " + "; ".join(notes))
    print("\n" + markdown_table(header, rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
