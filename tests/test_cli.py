"""The `coopchain` command line, run as users run it: a real process, real files, exit codes."""

import json
import os
import subprocess
import sys

import pytest

from tests.blocked_imports import run_blocked
from tests.conftest import ROOT, SAMPLE

HEADER = ROOT / "models" / "samples" / "green-valley.header.json"
CSV = ROOT / "models" / "samples" / "green-valley.csv"


def coopchain(*args, stdin=None, cwd=ROOT, env=None):
    return subprocess.run(
        [sys.executable, "-m", "coopchain.app.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300, input=stdin,
        env=None if env is None else {**os.environ, "PYTHONPATH": str(ROOT), **env},
    )


def test_demo_prints_the_three_optima_side_by_side_and_commits_the_chosen_one(tmp_path):
    run = coopchain("demo", cwd=tmp_path, env={})
    assert run.returncode == 0, run.stderr
    assert "max F1 (benefit)" in run.stdout and "max F2 (coordination)" in run.stdout and "min F3 (footprint)" in run.stdout
    assert run.stdout.count("certificate verified offline") == 3
    assert "Running HiGHS" not in run.stdout
    # The main job on the embedded default: a SQLite ledger in the current folder, verified.
    assert "Committed to the ledger at sqlite:///coopchain.db: block 1" in run.stdout and "chain verify: valid" in run.stdout
    assert (tmp_path / "coopchain.db").exists() and (tmp_path / "coopchain-keys" / "node.key").stat().st_mode & 0o077 == 0
    again = coopchain("demo", cwd=tmp_path, env={})  # a second round appends to the same chain
    assert again.returncode == 0 and "block 2" in again.stdout
    check = coopchain("chain", "verify", cwd=tmp_path, env={})
    assert check.returncode == 0 and "3 blocks, 2 transactions" in check.stdout
    bundle = coopchain("verify", "coopchain-bundle.json", cwd=tmp_path, env={})
    assert bundle.returncode == 0 and "certificate valid" in bundle.stdout


@pytest.mark.parametrize("objective", ["F1", "F2", "F3"])
def test_solve_prints_spec_json_and_verify_accepts_it(objective, tmp_path):
    run = coopchain("solve", SAMPLE, "--objective", objective)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["status"] == "optimal"
    assert set(out["values"]) == {"F1", "F2", "C", "T", "F3", "class"}
    assert set(out) >= {"allocation", "bound", "gap", "certificate"}
    path = tmp_path / "solution.json"
    path.write_text(run.stdout)
    check = coopchain("verify", path)
    assert check.returncode == 0 and check.stdout.startswith("valid")


def test_csv_with_header_solves_like_json():
    from_json = json.loads(coopchain("solve", SAMPLE, "--objective", "F1").stdout)
    from_csv = json.loads(coopchain("solve", CSV, "--header", HEADER, "--objective", "F1").stdout)
    assert from_csv["values"] == from_json["values"]


def test_verify_refuses_a_tampered_certificate(tmp_path):
    out = json.loads(coopchain("solve", SAMPLE, "--objective", "F3").stdout)
    out["certificate"]["values"]["F3"] *= 0.99
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(out))
    run = coopchain("verify", path)
    assert run.returncode != 0
    assert run.stdout.startswith("invalid") and "claims F3" in run.stdout


def test_bad_problem_gets_a_message_and_nonzero_exit(tmp_path):
    doc = json.loads(SAMPLE.read_text())
    doc["enterprises"][0]["max"] = -5
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    run = coopchain("solve", path, "--objective", "F1")
    assert run.returncode == 2
    assert "enterprises[0].max" in run.stderr
    assert run.stdout == ""


def test_missing_file_and_missing_objective_are_usage_errors(tmp_path):
    assert coopchain("solve", tmp_path / "nope.json", "--objective", "F1").returncode == 2
    assert coopchain("solve", SAMPLE).returncode == 2
    assert coopchain("verify", tmp_path / "nope.json").returncode == 2


def test_infeasible_problem_exits_one_with_status(tmp_path):
    doc = json.loads(SAMPLE.read_text())
    for resource in doc["resources"].values():
        resource["cap"] = 1.0
    path = tmp_path / "tight.json"
    path.write_text(json.dumps(doc))
    run = coopchain("solve", path, "--objective", "F1")
    assert run.returncode == 1, run.stderr
    assert json.loads(run.stdout)["status"] == "infeasible"


@pytest.mark.parametrize(
    "options",
    [
        ["--method", "weighted", "--weights", "F1=1,F2=2,F3=1"],
        ["--method", "epsilon", "--objective", "F2", "--limits", "F1=20000,F3=0.9"],
        ["--method", "epsilon", "--objective", "F1", "--limits", "F2=0.74"],
        ["--method", "lexicographic", "--order", "F1,F3"],
        ["--method", "chebyshev"],
    ],
)
def test_scalarisations_print_certified_json(options, tmp_path):
    run = coopchain("solve", SAMPLE, *options)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["status"] == "optimal" and "efficient" in out["message"]
    path = tmp_path / "scalarised.json"
    path.write_text(run.stdout)
    assert coopchain("verify", path).returncode == 0


def test_scalarisation_usage_errors_name_the_option():
    run = coopchain("solve", SAMPLE, "--method", "weighted", "--weights", "F1=lots")
    assert run.returncode == 2 and "--weights" in run.stderr
    run = coopchain("solve", SAMPLE, "--method", "epsilon", "--objective", "F1", "--limits", "F2=1.5")
    assert run.returncode == 2 and "F2 limit must lie in (0, 1]" in run.stderr


@pytest.mark.parametrize("method", ["augmecon", "nsga2"])
def test_front_prints_points_hypervolume_picks_and_plots(method, tmp_path):
    plot = tmp_path / "front.png"
    run = coopchain("front", SAMPLE, "--method", method, "--points", "25", "--plot", plot)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert len(out["points"]) >= 3
    assert set(out["points"][0]["values"]) >= {"F1", "F2", "F3"}
    assert out["hypervolume"]["value"] > 0
    assert {p["name"] for p in out["picks"]} >= {"knee", "closest to ideal", "TOPSIS"} or len(out["picks"]) == 3
    assert plot.stat().st_size > 10_000


CERT_SCRIPT = """
from coopchain.app.cli import main
sys.exit(main(["verify", sys.argv[1]]))
"""


def test_verify_of_a_certificate_imports_numpy_and_the_standard_library_only(tmp_path):
    run = coopchain("solve", SAMPLE, "--objective", "F2", "--certificate", tmp_path / "cert.json")
    assert run.returncode == 0, run.stderr
    blocked = {"pyomo", "highspy", "pymoo", "scipy", "cvxpy", "Crypto", "nacl", "rlp", "sqlite3", "coopchain.chain", "pydantic"}
    check = run_blocked(blocked, CERT_SCRIPT, str(tmp_path / "cert.json"))
    assert check.returncode == 0 and check.stdout.startswith("valid"), check.stdout + check.stderr
