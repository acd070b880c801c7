"""The `coopchain` command line, run as users run it: a real process, real files, exit codes."""

import atexit
import hashlib
import json
import os
import pty
import re
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version

import pytest

from tests.blocked_imports import run_blocked
from tests.conftest import ROOT, SAMPLE

HEADER = ROOT / "models" / "samples" / "green-valley.header.json"
CSV = ROOT / "models" / "samples" / "green-valley.csv"


# The demo's keys go to a per-user folder; tests give them one of their own, never the real one.
TEST_KEYS = tempfile.mkdtemp(prefix="coopchain-test-keys-")
atexit.register(shutil.rmtree, TEST_KEYS, True)


def environment(env: dict | None = None) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "COOPCHAIN_KEYS": TEST_KEYS, **(env or {})}


def command(*args) -> list[str]:
    return [sys.executable, "-m", "coopchain.app.cli", *map(str, args)]


def coopchain(*args, stdin=None, cwd=ROOT, env=None):
    return subprocess.run(command(*args), capture_output=True, text=True, cwd=cwd, timeout=300, input=stdin, env=environment(env))


def on_terminal(*args, cwd=ROOT, env=None) -> tuple[int, str]:
    """Run with standard output on a real pseudo-terminal, as a user at a shell sees it."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(command(*args), stdout=follower, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=cwd, env=environment(env))
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    process.wait(timeout=300)
    process.stderr.close()
    return process.returncode, out.decode().replace("\r\n", "\n")


DEMO_FILES = ("green-valley.json", "green-valley.csv", "green-valley.header.json", "front.json", "solution.json", "coopchain-bundle.json", "transaction-hash.txt")


def test_demo_prints_the_three_optima_side_by_side_and_commits_the_chosen_one(demo_run, demo_folder):
    run, tmp_path = demo_run[2], demo_folder  # the suite's one demo in an empty folder (tests/conftest.py), and a copy of its folder
    same_keys = {"XDG_DATA_HOME": str(demo_run[1]), "COOPCHAIN_KEYS": ""}
    assert "max F1 (benefit)" in run.stdout and "max F2 (coordination)" in run.stdout and "min F3 (footprint)" in run.stdout
    assert run.stdout.count("certificate verified offline") == 3
    assert "Running HiGHS" not in run.stdout
    # The main job on the embedded default: a SQLite ledger in the current folder, verified.
    # Block 1 registers the demo's cooperative; block 2 holds the problem and the commit.
    assert "Committed through the allocation contract to the ledger at sqlite:///coopchain.db: block 2" in run.stdout and "chain verify: valid" in run.stdout
    assert (tmp_path / "coopchain.db").exists()
    mine = json.loads((tmp_path / "green-valley.json").read_text())
    mine["round"] = "mine"
    (tmp_path / "green-valley.json").write_text(json.dumps(mine))
    again = coopchain("demo", cwd=tmp_path, env=same_keys)  # the sample's round again: said plainly, nothing committed
    assert again.returncode == 0 and "is already committed" in again.stdout and "nothing new was committed" in again.stdout
    # A sample file the user changed is kept, and said so; the others are listed as before.
    assert "green-valley.json here differs from the sample; kept as it is" in again.stderr
    assert json.loads((tmp_path / "green-valley.json").read_text())["round"] == "mine"
    assert "  green-valley.csv " in again.stdout and "  green-valley.json " in again.stdout
    check = coopchain("chain", "verify", cwd=tmp_path, env=same_keys)
    # ... then the village market: participants, the day, the offers, the clearing (4 blocks, 16 transactions).
    assert check.returncode == 0 and "7 blocks, 19 transactions" in check.stdout
    bundle = coopchain("verify", "coopchain-bundle.json", cwd=tmp_path, env=same_keys)
    assert bundle.returncode == 0 and "certificate valid" in bundle.stdout


# demo_run and demo_folder: tests/conftest.py (one demo for the whole suite).


def test_demo_writes_the_files_it_names_and_they_work(demo_run, demo_folder):
    tmp_path, run = demo_folder, demo_run[2]
    for name in DEMO_FILES:
        assert (tmp_path / name).is_file() and f"  {name} " in run.stdout, name
    # The sample as written is the one shipped, as a document and as CSV + header: the same problem.
    assert json.loads((tmp_path / "green-valley.json").read_text()) == json.loads(SAMPLE.read_text())
    assert (tmp_path / "green-valley.csv").read_text() == CSV.read_text()
    from_csv = coopchain("solve", "green-valley.csv", "--header", "green-valley.header.json", "--objective", "F1", cwd=tmp_path)
    assert json.loads(from_csv.stdout)["status"] == "optimal", from_csv.stderr
    # The committed solution and the front are the SPEC §6 JSON of solve and front.
    solution = json.loads((tmp_path / "solution.json").read_text())
    assert solution["status"] == "optimal" and set(solution["values"]) == {"F1", "F2", "C", "T", "F3", "class"}
    assert coopchain("verify", "solution.json", cwd=tmp_path).stdout.startswith("valid")
    front = json.loads((tmp_path / "front.json").read_text())
    assert len(front["points"]) >= 3 and {p["name"] for p in front["picks"]} == {"knee", "closest to ideal", "TOPSIS"}
    # Hashes print whole: the transaction hash the demo printed is the one `chain bundle` takes back.
    printed = re.search(r"transaction ([0-9a-f]+)", run.stdout).group(1)
    assert len(printed) == 64 and printed == (tmp_path / "transaction-hash.txt").read_text().strip()
    assert coopchain("chain", "bundle", printed, "--output", "again.json", cwd=tmp_path).returncode == 0
    genesis = re.search(r"genesis +([0-9a-f]+)", run.stdout).group(1)
    pinned = coopchain("verify", "again.json", "--genesis", genesis, cwd=tmp_path)
    assert pinned.returncode == 0 and genesis in pinned.stdout, pinned.stdout + pinned.stderr


def test_demo_keys_are_never_where_git_add_picks_them_up(demo_run, demo_folder):
    _, data, run = demo_run
    work = demo_folder
    keys = data / "coopchain" / "demo-keys"
    assert sorted(p.name for p in keys.iterdir()) == ["manager.key", "node.key"]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in keys.iterdir()) and keys.stat().st_mode & 0o077 == 0
    assert f"private keys are in {keys}/" in run.stdout
    # What `git add .` would take from the demo's folder: no key, no private key text in any file.
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    subprocess.run(["git", "add", "."], cwd=work, check=True)
    tracked = subprocess.run(["git", "ls-files"], cwd=work, check=True, capture_output=True, text=True).stdout.split()
    assert set(tracked) >= set(DEMO_FILES) and not any(name.endswith(".key") for name in tracked)
    assert not any(b"PRIVATE" in (work / name).read_bytes() for name in tracked)


def test_demo_keys_follow_the_option_then_the_variable(tmp_path):
    # The demo makes its keys before it opens the ledger: an unknown URL stops it right after.
    env = {"COOPCHAIN_KEYS": str(tmp_path / "env"), "XDG_DATA_HOME": str(tmp_path / "data")}
    run = coopchain("demo", "--keys", tmp_path / "mine", "--db", "mysql://x", cwd=tmp_path, env=env)
    assert run.returncode == 2 and "unknown database URL" in run.stderr
    assert (tmp_path / "mine" / "node.key").exists() and not (tmp_path / "env").exists() and not (tmp_path / "data").exists()
    run = coopchain("demo", "--db", "mysql://x", cwd=tmp_path, env=env)
    assert run.returncode == 2 and (tmp_path / "env" / "node.key").stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "data").exists() and not list(tmp_path.glob("*.key"))


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


def test_front_on_two_processes_is_the_sequential_front():
    # Same points, same order, same sentences: the grid points are committed in AUGMECON2's order.
    one = json.loads(coopchain("front", SAMPLE, "--points", "16", "--objectives", "F1,F3,T", "--processes", "1").stdout)
    two = json.loads(coopchain("front", SAMPLE, "--points", "16", "--objectives", "F1,F3,T", "--processes", "2").stdout)
    assert [(p["values"], p["allocation"]) for p in one["points"]] == [(p["values"], p["allocation"]) for p in two["points"]]
    assert one["reported"] == two["reported"] and len(one["points"]) >= 3


def test_front_refuses_fewer_than_one_process():
    run = coopchain("front", SAMPLE, "--processes", "0")
    assert run.returncode == 2 and "--processes" in run.stderr and "Traceback" not in run.stderr


CERT_SCRIPT = """
from coopchain.app.cli import main
sys.exit(main(["verify", sys.argv[1]]))
"""


def test_verify_of_a_certificate_imports_numpy_and_the_standard_library_only(tmp_path):
    run = coopchain("solve", SAMPLE, "--objective", "F2", "--certificate", tmp_path / "cert.json")
    assert run.returncode == 0, run.stderr
    blocked = {"pyomo", "highspy", "pymoo", "scipy", "cvxpy", "Crypto", "nacl", "rlp", "sqlite3", "coopchain.chain", "pydantic"}
    assert (tmp_path / "cert.problem.bin").exists()  # the problem's columns form, which the certificate names by hash
    check = run_blocked(blocked, CERT_SCRIPT, str(tmp_path / "cert.json"))
    assert check.returncode == 0 and check.stdout.startswith("valid"), check.stdout + check.stderr
    (tmp_path / "cert.problem.bin").unlink()
    check = run_blocked(blocked, CERT_SCRIPT, str(tmp_path / "cert.json"))
    assert check.returncode != 0 and "problem_missing" in check.stdout, check.stdout + check.stderr


def test_solve_certificate_is_v3_with_the_columns_form_beside_it(tmp_path):
    """`solve --certificate` writes a v3 certificate and the form it names; verify accepts it with the form, or with the
    manager's own document (JSON or CSV), and refuses a form altered by one byte or another problem's."""
    cert = tmp_path / "cert.json"
    run = coopchain("solve", SAMPLE, "--objective", "F1", "--certificate", cert)
    assert run.returncode == 0, run.stderr
    document = json.loads(cert.read_text())
    form = (tmp_path / "cert.problem.bin").read_bytes()
    assert document["schema"] == "coopchain/certificate/v3" and document["problem_hash"] == hashlib.sha256(form).hexdigest()
    assert coopchain("verify", cert).stdout.startswith(f"valid: max F1 (economic benefit) for problem (its columns form) {document['problem_hash']}, ")
    for problem in (SAMPLE, CSV):
        (tmp_path / "cert.problem.bin").unlink(missing_ok=True)
        run = coopchain("verify", cert, "--problem", problem)
        assert run.returncode == 0 and run.stdout.startswith("valid"), run.stdout + run.stderr
    altered = bytearray(form)
    altered[form.index(b"\n") + 1] ^= 1  # the lowest bit of the first number (the demand's minimum)
    (tmp_path / "cert.problem.bin").write_bytes(bytes(altered))
    run = coopchain("verify", cert)
    assert run.returncode != 0 and "[hash_mismatch]" in run.stdout, run.stdout + run.stderr
    # A damaged form beside it is a verdict, not a usage error; a file larger than any form is refused unread.
    for damaged, code in ((b"", "[malformed]"), (form.replace(b"\n", b"\r\n", 1), "[not_canonical]")):
        (tmp_path / "cert.problem.bin").write_bytes(damaged)
        run = coopchain("verify", cert)
        assert run.returncode == 3 and run.stdout.startswith("invalid:") and code in run.stdout, run.stdout + run.stderr
    with open(tmp_path / "cert.problem.bin", "wb") as sparse:
        sparse.truncate((1 << 30) + 1)
    run = coopchain("verify", cert)
    assert run.returncode == 3 and "[too_large]" in run.stdout, run.stdout + run.stderr


def test_version_is_the_installed_distribution_version():
    run = coopchain("--version")
    assert run.returncode == 0 and run.stdout.strip() == f"coopchain {version('coopchain')}"


def test_help_says_what_each_objective_measures_and_in_which_units():
    text = " ".join(coopchain("--help").stdout.split())
    assert "F1 economic benefit" in text and "a_k * e_jk * W_j" in text and "euros" in text
    assert "F2 coordination" in text and "D = sqrt(C * T)" in text and "[0, 1]" in text
    assert "C = geometric / arithmetic mean" in text and "T = sum of alpha_j * U_j" in text
    assert '"extreme disorder"' in text and '"high-quality coordination"' in text  # the class of D, its ten bins
    assert "F3 ecological footprint" in text and "cooperative cap" in text and "no unit" in text
    assert "docs/problem.md" in text


def test_solve_on_a_terminal_prints_a_readable_summary():
    code, text = on_terminal("solve", SAMPLE, "--objective", "F2")
    assert code == 0, text
    reference = json.loads(coopchain("solve", SAMPLE, "--objective", "F2").stdout)
    with pytest.raises(ValueError):
        json.loads(text)
    assert "max F2, coordination — optimal" in text
    # Each enterprise by id and name, with its volume as the JSON has it, and its allowed range.
    for e in json.loads(SAMPLE.read_text())["enterprises"]:
        row = next(line for line in text.splitlines() if line.split()[:1] == [e["id"]])
        assert e["name"] in row and f"{reference['allocation'][e['id']]:,.3f}" in row and f"{e['min']:g} to {e['max']:g}" in row
    values = reference["values"]
    assert f"{values['F1']:,.2f}  benefit units" in text and f"{values['F2']:.6f}  in [0, 1]: {values['class']}" in text
    assert f"{values['F3']:.6f}  weighted share of the cooperative's caps" in text
    assert f"relative gap {reference['gap']:.1e}" in text and "no allocation reaches a higher F2" in text
    assert reference["certificate"]["problem_hash"] in text  # whole, as `coopchain verify` names it


def test_solve_json_on_a_terminal_and_in_a_pipe_are_the_same_document():
    code, text = on_terminal("solve", SAMPLE, "--objective", "F3", "--json")
    assert code == 0
    piped = coopchain("solve", SAMPLE, "--objective", "F3")
    assert json.loads(text) == json.loads(piped.stdout)


def test_infeasible_solve_on_a_terminal_names_the_conflicts(tmp_path):
    doc = json.loads(SAMPLE.read_text())
    for resource in doc["resources"].values():
        resource["cap"] = 1.0
    path = tmp_path / "tight.json"
    path.write_text(json.dumps(doc))
    code, text = on_terminal("solve", path, "--objective", "F1")
    conflicts = json.loads(coopchain("solve", path, "--objective", "F1").stdout)["conflicts"]
    assert code == 1 and "infeasible" in text
    assert all(c["constraint"] in text and c["sentence"] in text for c in conflicts)


def test_front_on_a_terminal_prints_ranges_hypervolume_and_picks():
    code, text = on_terminal("front", SAMPLE, "--points", "16")
    reference = json.loads(coopchain("front", SAMPLE, "--points", "16").stdout)
    assert code == 0, text
    assert f"{len(reference['points'])} efficient allocations (exact front)" in text
    assert f"Hypervolume {reference['hypervolume']['value']:.6g}" in text
    for pick in reference["picks"]:
        assert f"{pick['name']} (point {pick['index']})" in text and pick["sentence"] in text
    assert "Li family farm (wheat)" in text


def pipe_closed_early(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    """`coopchain … | head -0`: the reader is gone before the command writes anything."""
    process = subprocess.Popen(command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=environment())
    process.stdout.close()
    stderr = process.stderr.read().decode()
    process.wait(timeout=300)
    return subprocess.CompletedProcess(args, process.returncode, "", stderr)


@pytest.mark.parametrize("args", [
    ["--help"], ["--version"], ["solve", "--help"],
    ["solve", SAMPLE, "--objective", "F1"], ["solve", SAMPLE, "--objective", "F2", "--pretty"],
    ["front", SAMPLE, "--points", "4"], ["verify", "solution.json"], ["verify", "coopchain-bundle.json"],
    ["chain", "verify"], ["chain", "replay"], ["chain", "bundle", "TX"], ["keys", "new", "fresh.key"], ["demo", "--db", "sqlite:///other.db"],
], ids=lambda a: " ".join(map(str, a[:2])))
def test_a_reader_that_leaves_the_pipe_ends_the_command_quietly(args, demo_folder):
    tx = (demo_folder / "transaction-hash.txt").read_text().strip()
    run = pipe_closed_early(*[tx if a == "TX" else a for a in args], cwd=demo_folder)
    assert "Traceback" not in run.stderr and "BrokenPipe" not in run.stderr, run.stderr
    assert run.returncode in (0, 141), run.stderr  # 141: ended by the closed pipe, as `yes | head` is




def test_a_document_with_several_errors_lists_them_all_at_once(tmp_path):
    doc = json.loads(SAMPLE.read_text())
    doc["enterprises"][0]["g"] = "fast"  # structural
    doc["enterprises"][1]["min"] = 90  # above its max of 80
    doc["enterprises"][2]["u0"] = 0.9  # 0.9 + 0.009 * 60 = 1.44 at its max
    path = tmp_path / "three.json"
    path.write_text(json.dumps(doc))
    run = coopchain("solve", path, "--objective", "F1")
    assert run.returncode == 2 and run.stdout == ""
    assert "not valid (3 issues)" in run.stderr
    assert "enterprises[0].g: must be a number" in run.stderr and "enterprises[1].max: must be at least min" in run.stderr
    assert 'enterprise "e03" would reach a development level of 1.44 at its maximum volume of 60' in run.stderr


def test_a_semicolon_csv_solves_like_the_comma_one_and_says_how_it_was_read(tmp_path):
    (tmp_path / "coop.csv").write_text(CSV.read_text().replace(",", ";"))
    shutil.copy(HEADER, tmp_path / "coop.header.json")
    run = coopchain("solve", tmp_path / "coop.csv", "--objective", "F1")
    assert run.returncode == 0, run.stderr
    assert "note: read as a semicolon-separated table" in run.stderr
    reference = json.loads(coopchain("solve", CSV, "--header", HEADER, "--objective", "F1").stdout)
    assert json.loads(run.stdout)["certificate"]["problem_hash"] == reference["certificate"]["problem_hash"]


def test_a_large_cooperative_summary_shows_the_first_rows_and_says_how_many_more(tmp_path, gen_problem):
    doc = gen_problem.generate(n=100, seed=2, alpha="uniform")
    path = tmp_path / "large.json"
    path.write_text(json.dumps(doc))
    code, text = on_terminal("solve", path, "--objective", "F1")
    assert code == 0, text
    ids = [e["id"] for e in doc["enterprises"]]
    listed = [line.split()[0] for line in text.splitlines() if line.split()[:1] and line.split()[0] in ids]
    assert listed == ids[:40] and "… and 60 more enterprises" in text
