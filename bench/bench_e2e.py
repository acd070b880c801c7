#!/usr/bin/env python3
"""End to end, as a user runs it: ``coopchain solve FILE`` against cvxpy reading the same file (issue 16, SPEC §7).

For each size n (K = 3, R = 3, seed 0, uniform alpha) the generator writes one
problem document as JSON, and the same problem as a CSV table with its JSON header.
Then, in one run, so that both figures meet the same load on the shared machine:

- ours, the command: ``coopchain solve FILE --objective F --output OUT`` in a fresh
  process (interpreter start and imports included), its wall time, its CPU time
  (user + system, from wait4) and the peak resident memory of its process tree (helpers included); for the JSON file and the CSV one;
- the anchor: a fresh process that reads the same JSON file (json.loads), builds the
  arrays (models.certificate.instance_from_document, no validation), solves with
  cvxpy (tests/reference.py: HiGHS for F1/F3, Clarabel for F2) and writes the
  allocation as JSON; its wall, CPU and peak RSS;
- ours, phase by phase: the same path in one process with each phase timed
  (read, parse, validate, canonical + hash, instance, solve, certificate, write),
  for the JSON file and the CSV one; its forked helpers' CPU is not in these figures;
- any forked helper that failed or declined (its work then done again by the command):
  the command's warning, or the phase worker's note, printed under the tables;
- ``coopchain verify OUT`` of the command's output: wall, CPU, peak RSS.

ratio = anchor wall / ours wall (and the same in CPU seconds, which the load
disturbs less).  The load average at the start and end of each size is printed
beside the figures.

    .venv/bin/python bench/bench_e2e.py                       # n = 1e4, 1e5
    .venv/bin/python bench/bench_e2e.py --sizes 1000000 --no-anchor   # the cooperative union
    .venv/bin/python bench/bench_e2e.py --million             # adds n = 1e6 (minutes)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, generate, markdown_table

OBJECTIVES = ("F1", "F2", "F3")
MARK = "BENCH-RESULT "
COOPCHAIN = str(Path(sys.executable).with_name("coopchain"))


# --- processes measured from outside ------------------------------------------------------------


def run_measured(argv: list[str], timeout: float) -> dict:
    """Run argv; its wall time, CPU time (user + system) and peak RSS (MiB), from wait4."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"error": "timeout"}
    wall = time.perf_counter() - start
    return {"wall": wall, "rc": proc.returncode, "stdout": out.decode(errors="replace"), "stderr": err.decode(errors="replace")}


def measured(argv: list[str], timeout: float) -> dict:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run_measured(argv, timeout)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # ru_maxrss of RUSAGE_CHILDREN is the largest child so far: the worker reports its own instead.
    for line in result.get("stdout", "").splitlines():
        if line.startswith(MARK):
            result.update(json.loads(line[len(MARK):]))
    return result


def rss_wrapper(argv: list[str]) -> list[str]:
    """argv run under a tiny Python parent that prints the peak resident memory (MiB) of the child's
    whole process tree: `coopchain solve` forks helpers (the second half of a large read, the second
    half of the canonical text), and wait4's ru_maxrss is the largest single process, not their sum.
    The parent samples every 20 ms the sum of VmRSS over the child and its descendants: pages shared
    copy-on-write count once per process, so the sum is an upper bound of what the tree holds."""
    code = (
        "import os,sys,json,threading,time\n"
        "def tree(p):\n"
        " out=[p]\n"
        " try:\n"
        "  for t in os.listdir(f'/proc/{p}/task'):\n"
        "   with open(f'/proc/{p}/task/{t}/children') as f: out+=[q for c in f.read().split() for q in tree(int(c))]\n"
        " except OSError: pass\n"
        " return out\n"
        "def rss(p):\n"
        " try:\n"
        "  with open(f'/proc/{p}/statm') as f: return int(f.read().split()[1])*os.sysconf('SC_PAGE_SIZE')\n"
        " except (OSError,IndexError): return 0\n"
        "peak=[0];done=threading.Event()\n"
        "def sample(pid):\n"
        " while not done.wait(0.02): peak[0]=max(peak[0],sum(rss(p) for p in tree(pid)))\n"
        "pid=os.fork()\n"
        "if pid==0:\n os.execv(sys.argv[1],sys.argv[1:])\n"
        "threading.Thread(target=sample,args=(pid,),daemon=True).start()\n"
        "_,status,ru=os.wait4(pid,0);done.set()\n"
        "print(" + repr(MARK) + "+json.dumps({'rss':max(ru.ru_maxrss/1024,peak[0]/2**20),'child_rc':os.waitstatus_to_exitcode(status)}))"
    )
    return [sys.executable, "-c", code, *argv]


# --- workers (run in a fresh interpreter) --------------------------------------------------------


def worker_anchor(path: str, objective: str, out: str) -> None:
    """cvxpy end to end on the same file: read, arrays, solve, write."""
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from coopchain.models.certificate import instance_from_document
    from tests.reference import reference_f1, reference_f2_general, reference_f2_uniform, reference_f3

    inst = instance_from_document(json.loads(Path(path).read_bytes()))
    solve = {"F1": reference_f1, "F3": reference_f3}.get(objective)
    if solve is None:
        solve = reference_f2_uniform if inst.uniform_alpha else reference_f2_general
    value, W = solve(inst)
    Path(out).write_text(json.dumps({"objective": objective, "value": float(value), "allocation": dict(zip(inst.ids, np.asarray(W).tolist()))}))


def worker_phases(path: str, objective: str, out: str) -> None:
    """Our path in one process, each phase timed (wall and CPU)."""
    import resource

    from coopchain.models import certificate as cert_module
    from coopchain.models import coordination, linear
    from coopchain.models.problem_columns import read_problem_timed
    from coopchain.models.solve import solve

    spent = {"certificate": [0.0, 0.0]}
    original = cert_module.certificate_document

    def timed_certificate(*a, **k):
        w, c = time.perf_counter(), time.process_time()
        try:
            return original(*a, **k)
        finally:
            spent["certificate"][0] += time.perf_counter() - w
            spent["certificate"][1] += time.process_time() - c

    linear.certificate_document = coordination.certificate_document = timed_certificate
    import logging

    notes: list[str] = []  # a forked helper that failed or declined: its work done again here (models.problem_columns)
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: notes.append(record.getMessage())
    logging.getLogger("coopchain.models.problem_columns").addHandler(handler)
    logging.getLogger("coopchain.models.problem_columns").setLevel(logging.INFO)
    phases: dict[str, list[float]] = {}
    prepared = read_problem_timed(path, phases)
    w, c = time.perf_counter(), time.process_time()
    solution = solve(prepared, objective)
    phases["solve"] = [time.perf_counter() - w - spent["certificate"][0], time.process_time() - c - spent["certificate"][1]]
    phases["certificate"] = spent["certificate"]
    w, c = time.perf_counter(), time.process_time()
    from coopchain.app.cli import _solution_bytes, _write

    _write(out, _solution_bytes(solution.as_json(), False), "--output")
    phases["write"] = [time.perf_counter() - w, time.process_time() - c]
    if not solution.success:
        raise SystemExit(f"{solution.status}: {solution.message}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(MARK + json.dumps({"phases": phases, "rss": rss, "gap": solution.gap, "value": getattr(solution.values, objective), "notes": notes}),
          flush=True)


# --- the driver ---------------------------------------------------------------------------------------


def write_inputs(n: int, folder: Path) -> tuple[Path, Path]:
    doc = generate(n, "uniform", 0)
    json_path = folder / f"problem-{n}.json"
    json_path.write_text(json.dumps(doc))
    csv_path = folder / f"problem-{n}.csv"
    header = {k: v for k, v in doc.items() if k != "enterprises"}
    (folder / f"problem-{n}.header.json").write_text(json.dumps(header))
    ind, res = list(doc["indicators"]), list(doc["resources"])
    with csv_path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "min", "max", "u0", "g", "alpha"] + [f"benefit.{k}" for k in ind] + [f"use.{r}" for r in res] + [f"cap.{r}" for r in res])
        for e in doc["enterprises"]:
            w.writerow([e["id"], repr(e["min"]), repr(e["max"]), repr(e["u0"]), repr(e["g"]), repr(e["alpha"])]
                       + [repr(e["benefit"][k]) for k in ind] + [repr(e["use"][r]) for r in res] + [repr(e["cap"][r]) for r in res])
    return json_path, csv_path


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _s(x) -> str:
    return "—" if x is None else f"{x:.2f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--million", action="store_true", help="add n = 1,000,000 (minutes; the anchor is left out there unless --anchor-million)")
    ap.add_argument("--anchor-million", action="store_true")
    ap.add_argument("--no-anchor", action="store_true")
    ap.add_argument("--no-csv", action="store_true")
    ap.add_argument("--no-verify", action="store_true", help="leave out `coopchain verify` (minutes at n = 10^6 while the certificate embeds the problem)")
    ap.add_argument("--objectives", nargs="+", default=list(OBJECTIVES))
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--worker", choices=["anchor", "phases"])
    ap.add_argument("--input")
    ap.add_argument("--objective")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    if args.worker == "anchor":
        worker_anchor(args.input, args.objective, args.out)
        return 0
    if args.worker == "phases":
        worker_phases(args.input, args.objective, args.out)
        return 0

    sizes = args.sizes + ([1_000_000] if args.million and 1_000_000 not in args.sizes else [])
    me = str(Path(__file__).resolve())
    main_rows, phase_rows, verify_rows, notes = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        folder = Path(tmp)
        for n in sizes:
            json_path, csv_path = write_inputs(n, folder)
            size_mib = json_path.stat().st_size / 2**20
            load_before = load()
            for objective in args.objectives:
                out = folder / f"out-{n}-{objective}.json"
                ours = measured(rss_wrapper([COOPCHAIN, "solve", str(json_path), "--objective", objective, "--output", str(out)]), args.timeout)
                if ours.get("child_rc") != 0:
                    print(f"ours failed at n={n} {objective}: {ours.get('stderr', '')[-2000:]}", file=sys.stderr)
                    return 1
                ours_csv = None
                if not args.no_csv:
                    ours_csv = measured(rss_wrapper([COOPCHAIN, "solve", str(csv_path), "--objective", objective, "--output", str(folder / "out-csv.json")]), args.timeout)
                anchor = None
                if not args.no_anchor and (n < 1_000_000 or args.anchor_million):
                    anchor = measured(rss_wrapper([sys.executable, me, "--worker", "anchor", "--input", str(json_path), "--objective", objective,
                                                   "--out", str(folder / "anchor.json")]), args.timeout)
                    if anchor.get("child_rc") != 0:
                        anchor = {"error": anchor.get("error", "failed")}
                for run, label in ((ours, "command, JSON"), (ours_csv, "command, CSV")):
                    notes += [f"n={n:,} {objective} {label}: {line}" for line in (run or {}).get("stderr", "").splitlines() if "forked helper" in line]
                phases = measured([sys.executable, me, "--worker", "phases", "--input", str(json_path), "--objective", objective,
                                   "--out", str(folder / "phases.json")], args.timeout)
                phases_csv = None if args.no_csv else measured([sys.executable, me, "--worker", "phases", "--input", str(csv_path),
                                                                "--objective", objective, "--out", str(folder / "phases.json")], args.timeout)
                verify = {"wall": None, "cpu": None, "child_rc": 0, "stdout": "not run"} if args.no_verify else measured(rss_wrapper([COOPCHAIN, "verify", str(out)]), args.timeout)
                if verify.get("child_rc") != 0:
                    print(f"verify failed at n={n} {objective}: {verify.get('stdout', '')[-500:]}", file=sys.stderr)
                a_wall, a_cpu = anchor.get("wall") if anchor else None, anchor.get("cpu") if anchor else None
                main_rows.append([
                    f"{n:,}", f"max {objective}" if objective != "F3" else "min F3", f"{size_mib:.0f}",
                    _s(ours["wall"]), _s(ours["cpu"]), f"{ours['rss']:.0f}",
                    f"{_s(ours_csv['wall'])} / {_s(ours_csv['cpu'])} / {ours_csv.get('rss', 0):.0f}" if ours_csv else "—",
                    _s(a_wall), _s(a_cpu), f"{anchor['rss']:.0f}" if anchor and "rss" in anchor else "—",
                    f"{a_wall / ours['wall']:.1f}×" if a_wall else "—", f"{a_cpu / ours['cpu']:.1f}×" if a_cpu else "—",
                ])
                order = ("read", "parse", "validate", "canonical", "instance", "solve", "certificate", "write")
                for run, label in ((phases, "JSON"), (phases_csv, "CSV")):
                    if run is None:
                        continue
                    ph = run.get("phases", {})
                    phase_rows.append([f"{n:,}", f"{objective} {label}"] + [f"{_s(ph[k][0])} / {_s(ph[k][1])}" if k in ph else "—" for k in order]
                                      + [f"{_s(sum(v[0] for v in ph.values()))} / {_s(sum(v[1] for v in ph.values()))}", f"{run.get('rss', 0):.0f}"])
                    notes += [f"n={n:,} {objective} phases, {label}: {note}" for note in run.get("notes", [])]
                verify_rows.append([f"{n:,}", objective, _s(verify["wall"]), _s(verify["cpu"]), f"{verify.get('rss', 0):.0f}",
                                    verify.get("stdout", "").split(":")[0].strip()])
                print(f"n={n:,} {objective}: ours {ours['wall']:.2f} s (cpu {ours['cpu']:.2f}) anchor {_s(a_wall)} s; load {load()}", file=sys.stderr, flush=True)
            print(f"n={n:,}: load average {load_before} before, {load()} after (1/5/15 min)", file=sys.stderr)
            main_rows.append([f"load {load_before} → {load()}"] + [""] * 11)

    print("\nEnd to end (`coopchain solve FILE --objective F --output OUT`, fresh process each; anchor: json + cvxpy on the same file)\n")
    print(markdown_table(["n", "objective", "JSON MiB", "ours wall s", "ours CPU s", "ours RSS MiB", "ours CSV wall / CPU s / RSS MiB",
                          "cvxpy wall s", "cvxpy CPU s", "cvxpy RSS MiB", "ratio wall", "ratio CPU"], main_rows))
    print("\nOur phases, wall / CPU seconds (one process, imports not counted)\n")
    print(markdown_table(["n", "objective, file", "read", "parse", "validate", "canonical+hash", "instance", "solve", "certificate", "write", "sum", "RSS MiB"], phase_rows))
    print("\nForked helpers that failed or declined (their work done again by the command): "
          + ("none" if not notes else "\n" + "\n".join(f"- {note}" for note in notes)))
    print("\n`coopchain verify OUT`\n")
    print(markdown_table(["n", "objective", "wall s", "CPU s", "RSS MiB", "verdict"], verify_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
