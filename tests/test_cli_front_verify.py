"""Front documents carry their problem once (`problem_text`, `problem_hash`), and `coopchain verify FRONT`
checks each point's certificate against it; `coopchain commit FRONT --pick` needs no --problem.

Independent references: SHA-256 (hashlib) and the canonical text written here with rfc8785; the points'
values recomputed in exact arithmetic (fractions) from the problem's JSON.
"""

from __future__ import annotations

import copy
import hashlib
import json
from fractions import Fraction

import pytest
import rfc8785

from coopchain.models.problem import parse_problem
from coopchain.models.scalarise import epsilon_constraint
from coopchain.models.solve import prepare
from tests.conftest import SAMPLE
from tests.test_cli import coopchain


@pytest.fixture(scope="module")
def front_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("front") / "front.json"
    assert coopchain("front", SAMPLE, "--points", "6", "--processes", "1", "--output", path).returncode == 0
    return path


def test_a_front_carries_its_canonical_problem_once(front_file):
    front = json.loads(front_file.read_text())
    sample = json.loads(SAMPLE.read_text())
    text = front["problem_text"]
    assert hashlib.sha256(text.encode()).hexdigest() == front["problem_hash"]
    assert rfc8785.dumps(json.loads(text)).decode() == text  # canonical: RFC 8785 of what it reads as
    assert json.loads(text)["cooperative"] == sample["cooperative"]
    assert [e["id"] for e in json.loads(text)["enterprises"]] == [e["id"] for e in sample["enterprises"]]


def test_verify_of_a_front_whose_points_carry_no_certificate_says_so(front_file):
    """AUGMECON2's points carry no certificate: verify proves nothing and says so (exit 3), for each point."""
    front = json.loads(front_file.read_text())
    run = coopchain("verify", front_file)
    lines = run.stdout.splitlines()
    assert run.returncode == 3 and len(lines) == len(front["points"]), run.stdout + run.stderr
    assert all(line.startswith(f"not certified: point {i} carries no certificate") for i, line in enumerate(lines))
    one = coopchain("verify", front_file, "--point", "1")
    assert one.returncode == 3 and one.stdout.startswith("not certified: point 1 ") and len(one.stdout.splitlines()) == 1


@pytest.fixture(scope="module")
def certified_front(front_file, tmp_path_factory):
    """The front with each of its first two points replaced by a certified one (max F2 with F1 and F3 no worse
    than the point's, as `commit --pick` certifies a pick): the shape of a front whose points carry v2
    certificates, and the problem once at the top."""
    front = json.loads(front_file.read_text())
    prepared = prepare(parse_problem(json.loads(SAMPLE.read_text())))
    points = []
    for point in front["points"][:2]:
        v = point["values"]
        solution = epsilon_constraint(prepared.instance, prepared.canonical, "F2", {"F1": v["F1"] - 1e-7 * abs(v["F1"]), "F3": v["F3"] + 1e-7 * abs(v["F3"])})
        out = json.loads(json.dumps(solution.as_json()))
        points.append({"values": out["values"], "allocation": out["allocation"], "certificate": out["certificate"]})
    front["points"] = points + front["points"][2:]
    path = tmp_path_factory.mktemp("certified") / "front.json"
    path.write_text(json.dumps(front))
    return path, front


def _exact_F1(text: str, allocation: dict) -> Fraction:
    doc = json.loads(text)
    a = {k: Fraction(w) for k, w in doc["indicators"].items()}
    return sum(a[k] * Fraction(e["benefit"][k]) * Fraction(allocation[e["id"]]) for e in doc["enterprises"] for k in a)


def test_verify_checks_every_certified_point_against_the_fronts_problem(certified_front):
    path, front = certified_front
    run = coopchain("verify", path, "--point", "0")
    assert run.returncode == 0 and run.stdout.startswith("valid: point 0: ε-constraint: max "), run.stdout + run.stderr
    assert "0.5·log F2² subject to F1 >= " in run.stdout
    assert front["problem_hash"] in run.stdout
    F1 = _exact_F1(front["problem_text"], front["points"][0]["allocation"])
    assert f"F1 = {float(F1):.6g}" in run.stdout
    every = coopchain("verify", path)  # points 2.. carry none: not valid as a whole
    lines = every.stdout.splitlines()
    assert every.returncode == 3 and lines[0].startswith("valid: point 0") and lines[1].startswith("valid: point 1")
    assert all(line.startswith("not certified") for line in lines[2:])


def test_a_front_with_another_problems_text_is_refused(certified_front, tmp_path):
    _, front = certified_front
    other = json.loads(front["problem_text"])
    other["round"] = other["round"] + "-other"
    text = rfc8785.dumps(other).decode()
    for change in ({"problem_text": text}, {"problem_text": text, "problem_hash": hashlib.sha256(text.encode()).hexdigest()}):
        bad = {**copy.deepcopy(front), **change}
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(bad))
        run = coopchain("verify", path, "--point", "0")
        assert run.returncode == 3 and "[hash_mismatch]" in run.stdout, run.stdout + run.stderr


def test_a_point_whose_allocation_is_not_its_certificates_is_refused(certified_front, tmp_path):
    _, front = certified_front
    bad = copy.deepcopy(front)
    first = next(iter(bad["points"][1]["allocation"]))
    bad["points"][1]["allocation"][first] += 1.0
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    run = coopchain("verify", path, "--point", "1")
    assert run.returncode == 3 and run.stdout.startswith("invalid: point 1:") and "[output_mismatch]" in run.stdout


def test_a_front_without_its_problem_needs_problem(certified_front, tmp_path):
    _, front = certified_front
    bare = {k: v for k, v in front.items() if k not in ("problem_text", "problem_hash")}
    path = tmp_path / "bare.json"
    path.write_text(json.dumps(bare))
    run = coopchain("verify", path, "--point", "0")
    assert run.returncode == 3 and "[problem_missing]" in run.stdout
    given = coopchain("verify", path, "--point", "0", "--problem", SAMPLE)  # the document as written, put in canonical form
    assert given.returncode == 0 and given.stdout.startswith("valid: point 0"), given.stdout + given.stderr
    assert coopchain("verify", path, "--point", "9").returncode == 3


def test_commit_of_a_fronts_pick_reads_the_fronts_problem(front_file, tmp_path):
    db = f"sqlite:///{tmp_path}/coop.db"
    node, manager = tmp_path / "node.key", tmp_path / "manager.key"
    for key in (node, manager):
        assert coopchain("keys", "new", key).returncode == 0
    from coopchain.chain.keys import PrivateKey

    writer = ("--db", db, "--node-key", node)
    assert coopchain("chain", "init", "--db", db, "--node-key", node, "--chain-id", "front-commit").returncode == 0
    created = coopchain("cooperative", "create", "green-valley", "--manager", PrivateKey.load(manager).public_key.to_text(), "--key", node, *writer)
    assert created.returncode == 0
    committed = coopchain("commit", front_file, "--pick", "knee", "--key", manager, *writer)  # no --problem: the front's own
    assert committed.returncode == 0, committed.stderr
    out = json.loads(committed.stdout)
    assert out["receipt"]["status"] == "applied" and out["problem"] == json.loads(front_file.read_text())["problem_hash"]
    tampered = json.loads(front_file.read_text())
    tampered["problem_text"] = tampered["problem_text"].replace('"round":"', '"round":"x', 1)
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(tampered))
    refused = coopchain("commit", path, "--pick", "knee", "--key", manager, *writer)
    assert refused.returncode != 0 and "problem_hash" in refused.stderr
