#!/usr/bin/env python3
"""An exact front on 1 and on 2 processes (issue 12, SPEC §9: "front sweeps spread their grid points over the local cores").

For each instance — the sample cooperative (12 enterprises, general alpha) and a generated one of
2,000 enterprises (../shared/tools/gen_problem.py, K = 3, R = 3, seed 0, uniform alpha) — it runs
the command a user runs,

    coopchain front PROBLEM --points 64 --processes N --json --output front.json

for N = 1 (the grid points one after another in the command's process) and N = 2 (two spawned
worker processes), each in a fresh process, and prints wall time, CPU time (the command and its
worker processes: getrusage of children), the front's own seconds (without start-up), and the load
average before and after.  The two fronts must be identical (same points, same order, same
sentences); the script says so or exits non-zero.

Wall time on a loaded machine says little about what a second core gives (the run competes with
everyone's processes), so the script also replays the walk on idle cores: every task runs here, its
CPU time measured, and a virtual clock gives it to the first free one of N virtual cores; the
walk's own logic (which points are safe, what is dropped) decides what runs when.  That makespan
is the wall time the schedule would take on N idle cores, start-up excluded.

Then, in this process, what a task costs beside its solve: building the HiGHS model of one front
(what a chunk of points would amortise: each worker builds it once per front and keeps it), the
pickled size of the task's data, and the mean time of one grid point.

    .venv/bin/python bench/bench_front_cores.py                  # the sample and n = 2,000
    .venv/bin/python bench/bench_front_cores.py --sizes 500 --repeat 2
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, markdown_table
from common import generate as _generate

SAMPLE = ROOT / "models" / "samples" / "green-valley.json"


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_front(path: Path, processes: int, points: int, out: Path) -> dict:
    load_before = _load()
    cpu0, t0 = _children_cpu(), time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "coopchain.app.cli", "front", str(path), "--points", str(points), "--processes", str(processes),
                          "--json", "--output", str(out)], capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    if run.returncode != 0:
        sys.exit(f"coopchain front --processes {processes} failed: {run.stderr[-2000:]}")
    document = json.loads(out.read_text())
    return {"wall": wall, "cpu": cpu, "front": document["seconds"], "load": f"{load_before} → {_load()}", "document": document}


def same_front(a: dict, b: dict) -> bool:
    return a["reported"] == b["reported"] and [(p["values"], p["allocation"]) for p in a["points"]] == [(p["values"], p["allocation"]) for p in b["points"]]


class VirtualCores:
    """A `submit` for models.augmecon that runs each task here at once, timing its CPU, and
    completes the futures in the order N idle cores would finish them (the walk's `stop` hook
    advances the clock whenever the walk waits)."""

    def __init__(self, cores: int):
        self.free = [0.0] * cores  # when each core is next free
        self.clock = 0.0
        self.pending: list[tuple[float, int, object, object]] = []
        self.count = 0

    def submit(self, fn, *args):
        from concurrent.futures import Future

        t0 = time.process_time()
        result = fn(*args)
        cpu = time.process_time() - t0
        core = min(range(len(self.free)), key=lambda k: self.free[k])
        start = max(self.clock, self.free[core])
        self.free[core] = start + cpu
        future = Future()
        self.count += 1
        self.pending.append((start + cpu, self.count, future, result))
        return future

    def advance(self) -> bool:
        """Finish the next task (the walk is waiting); never asks the walk to stop."""
        self.pending = [p for p in self.pending if not p[2].cancelled()]
        if self.pending:
            self.pending.sort(key=lambda p: (p[0], p[1]))
            finish, _, future, result = self.pending.pop(0)
            self.clock = max(self.clock, finish)
            future.set_result(result)
        return False


def idle_makespan(path: Path, points: int, cores: int) -> tuple[float, object]:
    from coopchain.models.augmecon import WalkStats, augmecon
    from coopchain.models.problem import load_problem_json
    from coopchain.models.solve import prepare

    inst = prepare(load_problem_json(path.read_text())).instance
    cores_ = VirtualCores(cores)
    stats = WalkStats()
    front = augmecon(inst, ("F1", "F2", "F3"), points=points, submit=cores_.submit, width=cores, stop=cores_.advance, stats=stats)
    return max(cores_.clock, max(cores_.free)), stats, front


def task_costs(path: Path, points: int) -> dict:
    """Build time of one front's model, the pickled task data, the sequential front's CPU (in this process)."""
    from coopchain.models.augmecon import WalkStats, augmecon, grid_spec
    from coopchain.models.problem import load_problem_json
    from coopchain.models.scalarise import ScalarisedProblem
    from coopchain.models.solve import prepare

    inst = prepare(load_problem_json(path.read_text())).instance
    spec = grid_spec(inst, ("F1", "F2", "F3"))
    t0 = time.process_time()
    ScalarisedProblem(inst, spec.names)
    build = time.process_time() - t0
    stats = WalkStats()
    t0 = time.process_time()
    augmecon(inst, ("F1", "F2", "F3"), points=points, stats=stats)
    total = time.process_time() - t0
    return {"build": build, "pickled": len(pickle.dumps(spec)), "points": stats.solved, "cpu": total,
            "payoff_share": stats.seconds["payoff"] / stats.seconds["total"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="2000", help="generated instances besides the sample (comma-separated n)")
    parser.add_argument("--points", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the fastest wall time is shown")
    args = parser.parse_args()
    rows, idle_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        instances = [("sample (n = 12, general α)", SAMPLE)]
        for n in (int(x) for x in args.sizes.split(",") if x):
            path = Path(tmp) / f"gen-{n}.json"
            path.write_text(json.dumps(_generate(n, "uniform", 0)))
            instances.append((f"n = {n:,} (uniform α)", path))
        for label, path in instances:
            best: dict[int, dict] = {}
            for _ in range(args.repeat):
                for processes in (1, 2):
                    r = run_front(path, processes, args.points, Path(tmp) / f"front-{processes}.json")
                    if processes not in best or r["wall"] < best[processes]["wall"]:
                        best[processes] = r
            identical = same_front(best[1]["document"], best[2]["document"])
            if not identical:
                sys.exit(f"{label}: the 2-process front differs from the sequential one")
            costs = task_costs(path, args.points)
            idle = {}
            for cores in (1, 2):
                idle[cores], stats, front = idle_makespan(path, args.points, cores)
                if [p["allocation"] for p in best[1]["document"]["points"]] != [dict(zip(front.ids, map(float, p.allocation))) for p in front.points]:
                    sys.exit(f"{label}: the replayed front differs")
                idle_rows.append([label, str(cores), f"{idle[cores]:.2f}", f"{idle[1] / idle[cores]:.2f}×", str(stats.solved), str(stats.dropped)])
            for processes in (1, 2):
                r = best[processes]
                rows.append([label, str(processes), f"{r['wall']:.2f}", f"{r['cpu']:.2f}", f"{r['front']:.2f}",
                             f"{best[1]['wall'] / r['wall']:.2f}×", r["load"], str(len(r["document"]["points"]))])
            print(f"{label}: fronts identical on 1 and 2 processes ({len(best[1]['document']['points'])} points); "
                  f"model build {costs['build'] * 1e3:.1f} ms CPU, task data {costs['pickled'] / 1024:.0f} KiB pickled, "
                  f"sequential front {costs['cpu']:.2f} s CPU for {costs['points']} grid points solved and {len(('F1', 'F2', 'F3'))} payoff rows "
                  f"(the payoff rows {costs['payoff_share']:.0%} of its wall time)",
                  flush=True)
    print()
    print(f"`coopchain front PROBLEM --points {args.points} --processes N` (F1, F2, F3), fastest of {args.repeat}; "
          f"CPU = the command and its workers; `front s` = the front's own seconds (no start-up); machine: {os.cpu_count()} cores, shared")
    print(markdown_table(["instance", "processes", "wall s", "CPU s", "front s", "speed-up", "load (1-min avg) before → after", "points"], rows))
    print()
    print("The same walks replayed on N idle cores (each task's measured CPU time; start-up excluded):")
    print(markdown_table(["instance", "cores", "makespan s", "speed-up", "tasks solved", "dropped"], idle_rows))


if __name__ == "__main__":
    main()
