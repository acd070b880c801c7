#!/usr/bin/env python3
"""Exact Pareto fronts: our AUGMECON2 against the `pyaugmecon` package and pymoo NSGA-II/III (issue 4, SPEC §7).

For each size n (generator ../shared/tools/gen_problem.py, K = 3, R = 3, seed 0,
uniform alpha), two measurements, each in a fresh process (so that its peak RSS
is its own and nothing is cached between them):

1. **Speed against pyaugmecon.**  A 100-point exact front (grid 10 × 10 on the
   two constrained objectives) of F1 (max, primary), F3 (min) and
   T = Σ α_j U_j (max; linear: (α∘g)·W + α·u0) — the objectives pyaugmecon can
   take, F2 not being linear.

   - ours: ``models.augmecon.augmecon(inst, ("F1", "F3", "T"), points=100)``;
   - pyaugmecon 1.0.8 in its own venv (bench/.pyaugmecon-venv, created on first
     use), driven by bench/pyaugmecon_runner.py, which builds the same LP in
     Pyomo from arrays and runs ``PyAugmecon(model, opts).solve()`` with
     grid_points = 10, early exit and bypass (AUGMECON2) on, HiGHS through
     Pyomo's ``appsi_highs``, its default of one worker process per CPU, and the
     same augmentation as ours (see "augmentation" below).  Three workarounds
     for Pyomo 6.10 + HiGHS are applied in that runner only (``spawn``, a plain
     solver factory, ``load_solutions=False``); ``--demonstrate-failures`` runs
     it without each of them in turn and prints what happens.

   Wall time of each, ratio pyaugmecon / ours from one run; then the fronts
   point by point: the points of each, how many of pyaugmecon's distinct points
   one of ours matches (relative 1e-6 in every objective), the largest mismatch
   either way, and our Front.reported lines (ours never drops a grid point
   silently).  Both grids come from each method's own payoff table; the
   tables are printed side by side.

2. **Hypervolume against NSGA-II / NSGA-III.**  Our exact front of F1, F2, F3
   (``augmecon(inst, ("F1", "F2", "F3"), points=100)``, F2 the primary through
   the certified method), then ``models.evolutionary.evolutionary_front`` with
   NSGA-II and NSGA-III, population 100, seed 0, ``time_limit`` = our exact
   front's seconds.  One reference point for all three:
   ``front_metrics.default_reference`` over the three fronts.

Augmentation.  Ours adds eps · r_1 · (s_2 / r_2 + 10⁻¹ s_3 / r_3) with
eps = 1e-3 and r_k the payoff ranges; pyaugmecon adds
penalty_weight · (s_2 / r_2 + 10⁻¹ s_3 / r_3).  The harness passes
penalty_weight = 1e-3 · r_1 (our payoff table's F1 range), so the two
scalarised problems are the same.

    .venv/bin/python bench/bench_front.py                        # n = 100 and 1,000
    .venv/bin/python bench/bench_front.py --sizes 100 --skip-hv
    .venv/bin/python bench/bench_front.py --demonstrate-failures --sizes 100
    .venv/bin/python bench/bench_front.py --exact-slack           # also pyaugmecon with its bypass on the unrounded slack
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from common import ROOT  # bench/ is on sys.path when a bench runs
from common import generate as _generate
from common import rss_mib as _rss_mib

VENV = ROOT / "bench" / ".pyaugmecon-venv"
VENV_PYTHON = VENV / "bin" / "python"
RUNNER = ROOT / "bench" / "pyaugmecon_runner.py"
PYAUGMECON_PACKAGES = ["pyaugmecon==1.0.8", "highspy"]
LINEAR = ("F1", "F3", "T")
ALL3 = ("F1", "F2", "F3")
MATCH_TOL = 1e-6
MARK = "BENCH-RESULT "
WORKAROUNDS = ("spawn", "factory", "load")
WORKAROUND_TEXT = {
    "spawn": "multiprocessing start method 'spawn'",
    "factory": "SolverFactory(name) without solver_io/manage_env",
    "load": "solve(load_solutions=False), load only optimal solutions",
}








def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


# --- worker side (one measurement in a fresh process) ---------------------------------------


def _instance(path: str):
    from coopchain.models.problem import load_problem_json
    from coopchain.models.solve import prepare

    return prepare(load_problem_json(Path(path).read_text()))


def _linear_model_class():
    """The persistent HiGHS model class AUGMECON2 re-solves (models.scalarise.LinearModel, formerly in models.augmecon)."""
    try:
        from coopchain.models.scalarise import LinearModel
    except ImportError:
        from coopchain.models.augmecon import _LinearModel as LinearModel
    return LinearModel


def _payoff_table(inst):
    """Our lexicographic payoff table of (F1, F3, T), max sense, as augmecon computes it."""
    import coopchain.models.augmecon as am

    if hasattr(am, "payoff_row_task"):  # rows as the front's tasks compute them, each on a model of its own
        import numpy as np

        spec = am.grid_spec(inst, LINEAR)
        return np.array([am.payoff_row_task(spec, i).values for i in range(len(LINEAR))])
    try:
        from coopchain.models.scalarise import ScalarisedProblem
    except ImportError:
        ScalarisedProblem = am._Scalarised
    return am.payoff_table(ScalarisedProblem(inst, LINEAR))


def _count_lp_solves():
    """Count the LP solves of the exact front (a wrapper around the persistent model's solve; no change to it)."""
    cls = _linear_model_class()
    counter = {"lp": 0}
    original = cls.solve

    def counted(self, *a, **k):
        counter["lp"] += 1
        return original(self, *a, **k)

    cls.solve = counted
    return counter


def _warm_up(kind: str, alpha: str) -> None:
    """One small run first, so that one-time costs (HiGHS's first model, lazy imports) are not charged."""
    from coopchain.models.problem import parse_problem
    from coopchain.models.solve import prepare

    small = prepare(parse_problem(_generate(20, alpha, 1)))
    if kind in ("ours-linear", "ours-f2"):
        from coopchain.models.augmecon import augmecon

        augmecon(small.instance, LINEAR if kind == "ours-linear" else ALL3, points=4)
    else:
        from coopchain.models.evolutionary import evolutionary_front

        evolutionary_front(small, ALL3, method=kind, points=8, seed=0, generations=2)


def worker(args) -> None:
    sys.path.insert(0, str(ROOT))
    from threadpoolctl import threadpool_limits

    prepared = _instance(args.input)
    inst = prepared.instance
    alpha = "uniform" if inst.uniform_alpha else "general"
    out: dict = {}
    if args.warmup:
        try:
            _warm_up(args.worker, alpha)
        except Exception as e:  # noqa: BLE001 — reported by the driver; the measurement itself still runs
            out["warmup_error"] = f"{type(e).__module__}.{type(e).__name__}: {e}"
    if args.worker in ("ours-linear", "ours-f2"):
        from coopchain.models.augmecon import augmecon

        objectives = LINEAR if args.worker == "ours-linear" else ALL3
        counter = _count_lp_solves()
        # As models.solve does: one BLAS thread (the F2 method multiplies small matrices thousands of times).
        with threadpool_limits(limits=1, user_api="blas"):
            t0 = time.perf_counter()
            front = augmecon(inst, objectives, points=args.points)
            seconds = time.perf_counter() - t0
        out.update(lp_solves=counter["lp"], grid_lp_solves=counter["lp"], reported=list(front.reported), message=front.message)
        if args.worker == "ours-linear":
            from coopchain.models.augmecon import EPS

            before = counter["lp"]
            table = _payoff_table(inst)  # not timed: for the comparison of grids
            payoff_solves = counter["lp"] - before
            out.update(payoff_max_sense=table.tolist(), eps=EPS, payoff_lp_solves=payoff_solves,
                       grid_lp_solves=out["lp_solves"] - payoff_solves)
    else:
        from coopchain.models.evolutionary import evolutionary_front

        t0 = time.perf_counter()
        front = evolutionary_front(prepared, ALL3, method=args.worker, points=args.points, seed=0, time_limit=args.time_limit)
        seconds = time.perf_counter() - t0
        found = re.search(r"ran (\d+) generations", front.message)
        out.update(reported=list(front.reported), message=front.message, generations=int(found.group(1)) if found else None)
    out.update(
        seconds=seconds,
        front_seconds=front.seconds,
        objectives=list(front.objectives),
        matrix=front.matrix().tolist(),
        rss_peak_mib=_rss_mib(),
    )
    print(MARK + json.dumps(out), flush=True)


# --- driver side --------------------------------------------------------------------------------


def run_worker(kind: str, path: str, args, time_limit: float | None = None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--input", path, "--points", str(args.points)]
    if time_limit is not None:
        cmd += ["--time-limit", repr(time_limit)]
    if not args.warmup:
        cmd.append("--no-warmup")
    load = _load()
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, cwd=ROOT, check=False)
    except subprocess.TimeoutExpired:
        return {"error": "timeout", "wall_s": time.perf_counter() - t0, "load": load}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            out = json.loads(line[len(MARK) :])
            out.update(wall_s=time.perf_counter() - t0, load=load)
            if "warmup_error" in out:
                print(f"  note: the warm-up run of {kind} (gen_problem n = 20, seed 1) failed: {out['warmup_error']}", flush=True)
            return out
    reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"failed: {reason}", "wall_s": time.perf_counter() - t0, "load": load}


def ensure_venv() -> None:
    """Create bench/.pyaugmecon-venv with pyaugmecon 1.0.8 and highspy when it is missing, saying so."""
    if VENV_PYTHON.exists():
        return
    base = shutil.which("python3") or sys.executable
    steps = [
        [base, "-m", "venv", str(VENV)],
        [str(VENV_PYTHON), "-m", "pip", "install", "--quiet", *PYAUGMECON_PACKAGES],
    ]
    print(f"# {VENV.relative_to(ROOT)} is missing: creating it (pyaugmecon 1.0.8 pins numpy 1.x, so it gets its own venv)",
          file=sys.stderr, flush=True)
    for cmd in steps:
        print("#   $ " + " ".join(cmd), file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True)


def venv_versions() -> str:
    code = ("import importlib.metadata as m, sys; print('python ' + sys.version.split()[0] + ', ' + ', '.join("
            "p + ' ' + m.version(p) for p in ('pyaugmecon', 'pyomo', 'highspy', 'numpy')))")
    proc = subprocess.run([str(VENV_PYTHON), "-c", code], capture_output=True, text=True, check=False)
    return proc.stdout.strip() or proc.stderr.strip()


def pyaugmecon_input(path: str, f1_range: float, eps: float, args) -> dict:
    """The instance as the arrays bench/pyaugmecon_runner.py builds its Pyomo model from.

    Objectives are scaled by 1 / their largest coefficient (models.formulation.objective_scale's
    rule; --unscaled: not), so penalty_weight = eps · (F1's range) in those units.
    """
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from coopchain.models.formulation import column_bounds, formulate

    inst = _instance(path).instance
    lo, hi = column_bounds(formulate(inst))
    coefs = (inst.unit_benefit, inst.unit_footprint, inst.alpha * inst.g)
    scale = [1.0 if args.unscaled else 1.0 / float(np.abs(c).max()) for c in coefs]
    return {
        "kind": "allocation",
        "lo": lo.tolist(),
        "hi": [x if math.isfinite(x) else None for x in hi.tolist()],
        "use": inst.use.tolist(),
        "cap0": inst.cooperative_cap.tolist(),
        "dmin": inst.demand_min,
        "dmax": inst.demand_max,
        "c": inst.unit_benefit.tolist(),
        "f": inst.unit_footprint.tolist(),
        "t": (inst.alpha * inst.g).tolist(),
        "t0": float(inst.alpha @ inst.u0),
        "scale": scale,
        "grid_points": args.grid,
        "penalty_weight": eps * f1_range * scale[0],
        "cpu_count": args.pyaugmecon_cpus,
        "solver": args.pyaugmecon_solver,
    }


def knapsack_input(args) -> dict:
    """A random 3-objective 0/1 knapsack of 40 items (the shape of pyaugmecon's own 3kp40 case): a MIP."""
    return {"kind": "knapsack", "items": 40, "seed": 1, "scale": [1.0, 1.0, 1.0], "grid_points": args.grid,
            "penalty_weight": 1e-3, "cpu_count": args.pyaugmecon_cpus, "solver": args.pyaugmecon_solver}


def run_pyaugmecon(data: dict, tmp: str, args, workarounds=WORKAROUNDS, exact_slack=False, timeout=None) -> dict:
    """One run of bench/pyaugmecon_runner.py in the pyaugmecon venv; its figures, or {"error": ...}.

    The runner gets its own session; on a timeout the whole session (runner, its workers and
    its multiprocessing manager) is killed by its process-group id.
    """
    import signal

    src, dst = os.path.join(tmp, "pa-in.json"), os.path.join(tmp, "pa-out.json")
    Path(src).write_text(json.dumps(data))
    if os.path.exists(dst):
        os.remove(dst)
    env = dict(os.environ, PYAUGMECON_WORKAROUNDS=",".join(workarounds) or "none",
               PYAUGMECON_EXACT_SLACK="1" if exact_slack else "0")
    env.pop("PYTHONPATH", None)
    load = _load()
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(VENV_PYTHON), str(RUNNER), src, dst], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=tmp, start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=timeout or args.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"error": f"no result after {timeout or args.timeout:.0f} s (hung; killed)", "wall_s": time.perf_counter() - t0,
                "load": load}
    wall = time.perf_counter() - t0
    if not os.path.exists(dst):
        reason = (stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"failed: {reason}", "wall_s": wall, "load": load}
    out = json.loads(Path(dst).read_text())
    out.update(wall_s=wall, load=load, stderr_tail=stderr.strip().splitlines()[-3:])
    return out


# --- comparing fronts ---------------------------------------------------------------------------


def _rel(a, b):
    import numpy as np

    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-12)


def distinct(matrix, tol=MATCH_TOL):
    """The rows of `matrix`, each kept once: a row within `tol` (relative, every column) of a kept row is dropped."""
    import numpy as np

    kept = []
    for row in np.asarray(matrix, float):
        if not any(np.all(_rel(row, k) <= tol) for k in kept):
            kept.append(row)
    return np.array(kept).reshape(len(kept), np.asarray(matrix).shape[1] if len(matrix) else 0)


def match(A, B):
    """(how many rows of A some row of B matches within MATCH_TOL, the largest over A of the nearest B's mismatch)."""
    import numpy as np

    if len(A) == 0:
        return 0, 0.0
    if len(B) == 0:
        return 0, math.inf
    nearest = np.array([np.min(np.max(_rel(a[None, :], B), axis=1)) for a in A])
    return int((nearest <= MATCH_TOL).sum()), float(nearest.max())


def compare_linear(path: str, ours: dict, pa: dict) -> dict:
    """Our front against pyaugmecon's, in (F1, F3, T): pyaugmecon's points re-evaluated from its allocations."""
    import numpy as np

    from coopchain.models.certificate import (
        CertificateError,
        check_feasible,
        coupling_rows,
        enterprise_box,
        evaluate,
    )

    inst = _instance(path).instance
    mine = np.asarray(ours["matrix"], float)
    theirs_keys = np.asarray(pa["points"], float).reshape(-1, 3)
    allocations = [np.asarray(W, float) for W in pa["allocations"]]
    theirs = np.array([[getattr(evaluate(inst, W), k) for k in LINEAR] for W in allocations]).reshape(-1, 3)
    infeasible, violation = 0, 0.0
    lo, hi = enterprise_box(inst)
    _, G, h = coupling_rows(inst)
    for W in allocations:
        try:
            check_feasible(inst, W)  # models.certificate's tolerance: 1e-9 · max(1, |limit|)
        except CertificateError:
            infeasible += 1
        # The largest violation, in the units of each limit, relative to max(1, |limit|).
        parts = [(lo - W) / np.maximum(1.0, np.abs(lo)), (W - hi) / np.maximum(1.0, np.abs(hi)), (G @ W - h) / np.maximum(1.0, np.abs(h))]
        violation = max(violation, float(max(np.max(np.where(np.isfinite(x), x, -np.inf)) for x in parts)))
    key_vs_value = float(np.max(_rel(theirs_keys, theirs))) if len(theirs) else 0.0
    d_mine, d_theirs = distinct(mine), distinct(theirs)
    matched, worst = match(d_theirs, d_mine)
    matched_back, worst_back = match(d_mine, d_theirs)
    return {
        "ours_points": len(mine), "ours_distinct": len(d_mine),
        "pa_points": len(theirs), "pa_distinct": len(d_theirs),
        "pa_matched": matched, "pa_worst": worst,
        "ours_matched": matched_back, "ours_worst": worst_back,
        "pa_infeasible": infeasible, "pa_violation": max(violation, 0.0), "pa_key_vs_value": key_vs_value,
    }


def payoff_lines(ours: dict, pa: dict) -> list[str]:
    """Both payoff tables in raw senses (rows: objective optimised first; columns F1, F3, T) and the grid ranges."""
    import numpy as np

    sign = np.array([1.0, -1.0, 1.0])
    mine = np.asarray(ours["payoff_max_sense"]) * sign
    theirs = np.asarray(pa["payoff"])
    lines = ["payoff tables (row: lexicographic optimum with that objective first; columns F1, F3, T):"]
    for i, name in enumerate(LINEAR):
        lines.append(f"  {name} first  ours " + "  ".join(f"{x:.10g}" for x in mine[i])
                     + "   pyaugmecon " + "  ".join(f"{x:.10g}" for x in theirs[i]))
    lines.append(f"  largest relative difference of the tables: {float(np.max(_rel(mine, theirs))):.1e}")
    for k, name in enumerate(LINEAR[1:], start=1):
        lo_o, hi_o = mine[:, k].min(), mine[:, k].max()
        grid = np.asarray(pa["grid"][k - 1]) * sign[k]
        lines.append(f"  grid of {name}: ours [{lo_o:.10g}, {hi_o:.10g}]   pyaugmecon [{grid.min():.10g}, {grid.max():.10g}]"
                     f"   (relative difference of the ends {max(_rel(lo_o, grid.min()), _rel(hi_o, grid.max())):.1e})")
    return lines


def hypervolumes(exact: dict, evo: dict) -> dict:
    import numpy as np

    from coopchain.models.front import OBJECTIVE_SENSE
    from coopchain.models.front_metrics import default_reference, hypervolume, to_minimisation

    senses = tuple(OBJECTIVE_SENSE[k] for k in ALL3)
    fronts = {"exact": exact, **evo}
    mats = {k: np.asarray(v["matrix"], float).reshape(-1, 3) for k, v in fronts.items() if v and "error" not in v}
    ref = default_reference(*mats.values(), senses=senses)
    out = {"reference": ref.tolist(), **{k: hypervolume(m, ref, senses) for k, m in mats.items()}}
    # How many of each evolutionary front's points some exact point dominates.
    if "exact" in mats:
        E = to_minimisation(mats["exact"], senses)
        for k, m in mats.items():
            if k != "exact" and len(m):
                F = to_minimisation(m, senses)
                dom = [(np.all(E <= f, axis=1) & np.any(E < f, axis=1)).any() for f in F]
                out[f"{k}_dominated"] = f"{int(np.sum(dom))}/{len(F)}"
    return out


# --- output -------------------------------------------------------------------------------------


def _f(x, spec=".3f"):
    if x is None or (isinstance(x, float) and (math.isnan(x))):
        return "–"
    return format(x, spec)


def plain_table(header, rows) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def markdown_table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _pa_ok(p) -> bool:
    return bool(p) and not p.get("error")


def speed_rows(results):
    header = ["n", "ours s", "pyaugmecon s (spawn)", "ratio", "pyaugmecon s (fork)", "ratio (fork)", "grid LPs ours/pyaugmecon",
              "points ours/pyaugmecon", "pyaugmecon matched", "largest mismatch", "RSS ours MiB", "RSS pyaugmecon MiB main/worker",
              "load 1 min"]
    rows = []
    for r in results:
        o, p, q, c = r.get("ours_linear"), r.get("pyaugmecon"), r.get("pyaugmecon_fork"), r.get("compare")
        if not o or "error" in o:
            continue
        ok, fk = _pa_ok(p), _pa_ok(q)
        rows.append([
            f"{r['n']:,}", _f(o["seconds"]),
            _f(p["solve_s"]) if ok else (p or {}).get("error", "–"), _f(p["solve_s"] / o["seconds"], ".0f") + "×" if ok else "–",
            _f(q["solve_s"]) if fk else (q or {}).get("error", "–"), _f(q["solve_s"] / o["seconds"], ".0f") + "×" if fk else "–",
            f"{o['grid_lp_solves']}/{p['models_solved'] if ok else '–'}",
            f"{c['ours_distinct']}/{c['pa_distinct']}" if c else "–",
            f"{c['pa_matched']}/{c['pa_distinct']}" if c else "–", _f(c["pa_worst"], ".1e") if c else "–",
            _f(o["rss_peak_mib"], ".0f"), f"{p['rss_self_mib']:.0f}/{p['rss_children_mib']:.0f}" if ok else "–",
            o["load"].split("/")[0],
        ])
    return header, rows


def hv_rows(results):
    header = ["n", "exact s", "HV exact", "HV NSGA-II", "HV NSGA-III", "exact/NSGA-II", "exact/NSGA-III",
              "points exact/NSGA-II/NSGA-III", "NSGA-II/III points dominated by exact", "generations NSGA-II/III",
              "RSS MiB exact/NSGA-II/NSGA-III"]
    rows = []
    for r in results:
        e, hv = r.get("ours_f2"), r.get("hv")
        if not e or "error" in e or not hv:
            continue
        ev = {k: r.get(k) for k in ("nsga2", "nsga3")}

        def pts(k, ev=ev):
            v = ev[k]
            return "failed" if not v or "error" in v else str(len(v["matrix"]))

        def ratio(k, hv=hv):
            return _f(hv["exact"] / hv[k], ".3f") if hv.get(k) else "–"

        gens = "/".join(str((ev[k] or {}).get("generations", "–")) for k in ("nsga2", "nsga3"))
        rss = "/".join(_f((x or {}).get("rss_peak_mib"), ".0f") for x in (e, ev["nsga2"], ev["nsga3"]))
        rows.append([f"{r['n']:,}", _f(e["seconds"]), _f(hv["exact"], ".6g"), _f(hv.get("nsga2"), ".6g"),
                     _f(hv.get("nsga3"), ".6g"), ratio("nsga2"), ratio("nsga3"),
                     f"{len(e['matrix'])}/{pts('nsga2')}/{pts('nsga3')}",
                     f"{hv.get('nsga2_dominated', '–')}, {hv.get('nsga3_dominated', '–')}", gens, rss])
    return header, rows


def _outcome(r: dict, reference: dict | None) -> str:
    if r.get("error") and "points" not in r:
        return r["error"]
    shown = f"returned {len(r['points'])} Pareto points from {r['models_solved']} grid solves"
    if reference is not None:
        shown += f" (with every workaround: {len(reference['points'])} from {reference['models_solved']})"
    bad = Counter(r.get("notes", []))
    if bad:
        shown += "; non-optimal solves: " + ", ".join(f"{k} ({v})" for k, v in sorted(bad.items())).replace("\t", " ")
    dead = [line for line in r.get("stderr_tail", []) if "Error" in line]
    if dead:
        shown += f"; a worker died with {dead[-1][:160]}"
    return shown


def demonstrate_failures(data: dict, with_all: dict, args, tmp: str) -> list[str]:
    """pyaugmecon without each workaround in turn, on the allocation LP and on a 3-objective knapsack MIP."""
    lines = []
    for dropped in WORKAROUNDS:
        kept = tuple(w for w in WORKAROUNDS if w != dropped)
        r = run_pyaugmecon(data, tmp, args, workarounds=kept, timeout=args.failure_timeout)
        lines.append(f"  allocation LP, without {dropped:7s}: {_outcome(r, with_all)} [{r['wall_s']:.1f} s]")
    kp = knapsack_input(args)
    full = run_pyaugmecon(kp, tmp, args, timeout=args.failure_timeout)
    lines.append(f"  knapsack MIP, every workaround:  {_outcome(full, None)} [{full['wall_s']:.1f} s]")
    for dropped in ("spawn", "load"):
        kept = tuple(w for w in WORKAROUNDS if w != dropped)
        r = run_pyaugmecon(kp, tmp, args, workarounds=kept, timeout=args.failure_timeout)
        lines.append(f"  knapsack MIP, without {dropped:7s}: {_outcome(r, full if _pa_ok(full) else None)} [{r['wall_s']:.1f} s]")
    return lines


def pyaugmecon_line(label: str, p: dict, ours: dict, c: dict | None) -> str:
    if not _pa_ok(p):
        return f"{label}: {p.get('error')} [load {p.get('load')}]"
    line = (f"{label}: {p['solve_s']:.3f} s solve() + {p['build_s']:.3f} s building the Pyomo model "
            f"(ratio {p['solve_s'] / ours['seconds']:.1f}×, {(p['solve_s'] + p['build_s']) / ours['seconds']:.1f}× with it); "
            f"{p['models_solved']} grid models solved ({p['infeasibilities']} infeasible), {p['num_unique_pareto_sols']} "
            f"unique Pareto points; peak RSS {p['rss_self_mib']:.0f} MiB main, {p['rss_children_mib']:.0f} MiB largest "
            f"worker [load {p['load']}]")
    for note, count in sorted(Counter(p["notes"]).items()):
        phase, term = note.split("\t")
        line += (f"\n  non-optimal solves: {count} × {term} in its {phase} phase"
                 + (" (early exit)" if phase == "grid" and term == "infeasible" else " (its values then stay those of the previous solve)"))
    if c:
        line += (f"\n  front: {c['pa_distinct']} distinct points ({c['pa_infeasible']} of its allocations outside our 1e-9 "
                 f"feasibility check, largest violation {c['pa_violation']:.1e}; "
                 f"its values vs. re-evaluated from its allocations: {c['pa_key_vs_value']:.1e}); {c['pa_matched']} of them "
                 f"matched by ours (rel. {MATCH_TOL:g} per objective), largest mismatch {c['pa_worst']:.1e}; "
                 f"{c['ours_matched']} of our {c['ours_distinct']} matched by its, largest mismatch {c['ours_worst']:.1e}")
    return line


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--points", type=int, default=100, help="grid points in all (ours); pyaugmecon gets √points per axis")
    ap.add_argument("--alpha", choices=["uniform", "general"], default="uniform")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pyaugmecon-cpus", type=int, default=os.cpu_count(), help="pyaugmecon's worker processes (its default: all CPUs)")
    ap.add_argument("--pyaugmecon-solver", default="appsi_highs", choices=["appsi_highs", "highs"])
    ap.add_argument("--unscaled", action="store_true", help="give pyaugmecon the objectives unscaled")
    ap.add_argument("--no-fork", dest="fork", action="store_false", help="skip the pyaugmecon run with the fork start method")
    ap.add_argument("--skip-pyaugmecon", action="store_true")
    ap.add_argument("--skip-hv", action="store_true")
    ap.add_argument("--exact-slack", action="store_true", help="also run pyaugmecon with its bypass on the unrounded slack")
    ap.add_argument("--demonstrate-failures", action="store_true", help="run pyaugmecon without each workaround (smallest n)")
    ap.add_argument("--failure-timeout", type=float, default=60.0)
    ap.add_argument("--timeout", type=float, default=1800.0, help="wall-clock limit of one measurement, s")
    ap.add_argument("--no-warmup", dest="warmup", action="store_false")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--worker", choices=["ours-linear", "ours-f2", "nsga2", "nsga3"], help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--time-limit", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    args.grid = max(2, round(math.sqrt(args.points)))
    sys.path.insert(0, str(ROOT))

    print(f"# bench_front: K = 3, R = 3, seed {args.seed}, alpha {args.alpha}, {args.points} grid points "
          f"({args.grid} × {args.grid}), {os.cpu_count()} CPUs, load average {_load()} (1/5/15 min), "
          f"python {sys.version.split()[0]}, warm-up {'on' if args.warmup else 'off'}", flush=True)
    if not args.skip_pyaugmecon:
        ensure_venv()
        print(f"# pyaugmecon venv: {venv_versions()}; solver {args.pyaugmecon_solver}, "
              f"{args.pyaugmecon_cpus} worker process(es), objectives {'unscaled' if args.unscaled else 'scaled to largest coefficient 1'}",
              flush=True)
        print("# pyaugmecon workarounds, applied in bench/pyaugmecon_runner.py only: "
              + "; ".join(WORKAROUND_TEXT[w] for w in WORKAROUNDS), flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_front_") as tmp:
        for n in args.sizes:
            path = os.path.join(tmp, f"problem-{n}.json")
            Path(path).write_text(json.dumps(_generate(n, args.alpha, args.seed)))
            r: dict = {"n": n}
            print(f"\n## n = {n:,}", flush=True)

            # 1. speed against pyaugmecon on (F1, F3, T)
            o = r["ours_linear"] = run_worker("ours-linear", path, args)
            if "error" in o:
                print(f"ours (F1, F3, T): {o['error']}", flush=True)
            else:
                print(f"ours (F1, F3, T): {o['seconds']:.3f} s, {o['payoff_lp_solves']} LP solves for the payoff table + "
                      f"{o['grid_lp_solves']} for grid points, {o['message']}; peak RSS {o['rss_peak_mib']:.0f} MiB "
                      f"[load {o['load']}]", flush=True)
                for line in o["reported"] or ["nothing (every grid point solved, none bypassed or infeasible)"]:
                    print(f"  reported: {line}", flush=True)
            if not args.skip_pyaugmecon and "error" not in o:
                import numpy as np

                table = np.asarray(o["payoff_max_sense"])
                data = pyaugmecon_input(path, float(table[:, 0].max() - table[:, 0].min()), o["eps"], args)
                variants = [("pyaugmecon", {}), *([("pyaugmecon_fork", {"workarounds": ("factory", "load")})] if args.fork else []),
                            *([("pyaugmecon_exact_slack", {"exact_slack": True})] if args.exact_slack else [])]
                labels = {"pyaugmecon": "pyaugmecon (F1, F3, T), spawn",
                          "pyaugmecon_fork": "pyaugmecon, fork instead of spawn (valid here: LPs only)",
                          "pyaugmecon_exact_slack": "pyaugmecon, spawn, bypass on the unrounded slack (sensitivity run)"}
                for key, kw in variants:
                    p = r[key] = run_pyaugmecon(data, tmp, args, **kw)
                    c = compare_linear(path, o, p) if _pa_ok(p) else None
                    if key == "pyaugmecon":
                        r["compare"] = c
                    print(pyaugmecon_line(labels[key], p, o, c), flush=True)
                    if key == "pyaugmecon" and _pa_ok(p):
                        print(f"  penalty_weight {data['penalty_weight']:.6g} (= {o['eps']:g} × F1's range, in its scaled units)", flush=True)
                        for line in payoff_lines(o, p):
                            print("  " + line, flush=True)
                if args.demonstrate_failures and n == min(args.sizes) and _pa_ok(r["pyaugmecon"]):
                    print("pyaugmecon without its workarounds:", flush=True)
                    for line in demonstrate_failures(data, r["pyaugmecon"], args, tmp):
                        print(line, flush=True)

            # 2. hypervolume against NSGA-II / NSGA-III on (F1, F2, F3)
            if not args.skip_hv:
                e = r["ours_f2"] = run_worker("ours-f2", path, args)
                if "error" in e:
                    print(f"ours (F1, F2, F3): {e['error']}", flush=True)
                else:
                    print(f"ours (F1, F2, F3): {e['seconds']:.3f} s, {len(e['matrix'])} points, {e['message']}; "
                          f"peak RSS {e['rss_peak_mib']:.0f} MiB [load {e['load']}]", flush=True)
                    for line in e["reported"]:
                        print(f"  reported: {line}", flush=True)
                    evo = {}
                    for method in ("nsga2", "nsga3"):
                        v = evo[method] = r[method] = run_worker(method, path, args, time_limit=e["seconds"])
                        if "error" in v:
                            print(f"{method}: {v['error']}", flush=True)
                        else:
                            print(f"{method}: {v['seconds']:.3f} s (time limit {e['seconds']:.3f} s), {v['message']}; "
                                  f"peak RSS {v['rss_peak_mib']:.0f} MiB [load {v['load']}]", flush=True)
                    hv = r["hv"] = hypervolumes(e, evo)
                    print("hypervolume (reference " + ", ".join(f"{k} {x:.10g}" for k, x in zip(ALL3, hv["reference"]))
                          + "): " + ", ".join(f"{k} {hv[k]:.6g}" for k in ("exact", "nsga2", "nsga3") if k in hv)
                          + "; evolutionary points dominated by an exact point: "
                          + ", ".join(f"{k} {hv[k + '_dominated']}" for k in ("nsga2", "nsga3") if k + "_dominated" in hv), flush=True)
            results.append(r)

    print(f"\n# load average at the end {_load()}")
    blocks = []
    if not args.skip_pyaugmecon:
        h, rows = speed_rows(results)
        if rows:
            print("\n" + plain_table(h, rows))
            blocks.append(("Exact front of (F1, F3, T), 10 × 10 grid: ours vs pyaugmecon 1.0.8", h, rows))
    if not args.skip_hv:
        h, rows = hv_rows(results)
        if rows:
            print("\n" + plain_table(h, rows))
            blocks.append(("Hypervolume of (F1, F2, F3): exact front vs NSGA-II/III given the same wall time", h, rows))
    for title, h, rows in blocks:
        print(f"\n**{title}**\n\n" + markdown_table(h, rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
