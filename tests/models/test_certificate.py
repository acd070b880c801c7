"""Certificates: valid ones verify, any changed number fails with a reason, and the verifier needs no solver."""

import copy
import json

import pytest

from coopchain.models.certificate import CertificateError, verify_certificate
from coopchain.models.problem import parse_problem
from coopchain.models.solve import solve
from tests.blocked_imports import run_blocked

CASES = [("F1", "uniform"), ("F3", "uniform"), ("F2", "uniform"), ("F2", "general")]


@pytest.fixture(scope="module", params=CASES, ids=[f"{o}-{a}" for o, a in CASES])
def certificate(request, gen_problem):
    objective, alpha = request.param
    problem = parse_problem(gen_problem.generate(n=12, seed=5, alpha=alpha))
    solution = solve(problem, objective)
    assert solution.success, solution.message
    return solution.certificate


def numeric_paths(node, path=()):
    """Every number in a certificate, as a path of keys and indices."""
    if isinstance(node, bool):
        return
    if isinstance(node, (int, float)):
        yield path
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from numeric_paths(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from numeric_paths(value, path + (i,))


def changed(cert, path, new):
    out = copy.deepcopy(cert)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = new(node[path[-1]])
    return out


def test_valid_certificate_verifies(certificate):
    verified = verify_certificate(certificate)
    assert verified.gap <= 1e-7


def test_certificate_survives_json_round_trip(certificate):
    verify_certificate(json.loads(json.dumps(certificate)), certificate.problem_text)  # a JSON copy loses the text kept beside


def test_every_changed_number_fails(certificate):
    # A change of one part in a thousand.  Multipliers of binding rows sit at a
    # stationary point of a smooth dual, so a change of one part in a million moves
    # the bound by about 1e-12 (second order) and leaves a proof that still holds.
    paths = list(numeric_paths(certificate))
    assert len(paths) > 20
    for path in paths:
        tampered = changed(certificate, path, lambda x: x * (1 + 1e-3) + 1e-3)
        with pytest.raises(CertificateError):
            verify_certificate(tampered)
            pytest.fail(f"changing {path} went unnoticed")


@pytest.mark.parametrize(
    "path, new, reason",
    [
        (("problem_hash",), lambda h: "0" * 64, "altered"),
        (("values", "class"), lambda c: "good coordination" if c != "good coordination" else "primary coordination", "class"),
        (("objective",), lambda o: "F4", "objective"),
        (("schema",), lambda s: "coopchain/certificate/v0", "schema"),
        (("values", "F1"), lambda v: v * 1.01, "claims F1"),
        (("bound",), lambda v: v * 1.01, "claims bound"),
    ],
)
def test_named_changes_fail_with_their_reason(certificate, path, new, reason):
    with pytest.raises(CertificateError, match=reason):
        verify_certificate(changed(certificate, path, new))


def test_a_problem_given_beside_must_be_the_one_named_by_hash(certificate):
    text = certificate.problem_text
    with pytest.raises(CertificateError, match="altered") as caught:
        verify_certificate(certificate, text.replace('"demand":{"max":', '"demand":{"max":1'))
    assert caught.value.code == "hash_mismatch"


def test_a_v2_certificate_without_its_problem_says_what_is_missing(certificate):
    from coopchain.models import certificate_verify

    plain = json.loads(json.dumps(certificate))
    assert plain["schema"] == "coopchain/certificate/v2" and "problem" not in plain and "problem_text" not in plain
    assert isinstance(plain["allocation"], list)
    certificate_verify._PROBLEMS.clear()
    with pytest.raises(CertificateError, match="give its canonical text") as caught:
        verify_certificate(plain)
    assert caught.value.code == "problem_missing"
    assert verify_certificate(plain, certificate.problem_text).objective == certificate["objective"]
    with pytest.raises(CertificateError) as caught:  # proven once in this process, kept as a memo: it decides nothing (review R-7)
        verify_certificate(plain)
    assert caught.value.code == "problem_missing"


def test_negative_multiplier_is_refused(certificate):
    key = "multipliers" if "multipliers" in certificate else "pieces"
    path = (key, 0) if key == "multipliers" else ("pieces", 0, "multipliers", 0)
    with pytest.raises(CertificateError, match="non-negative"):
        verify_certificate(changed(certificate, path, lambda x: -1.0))


def test_infeasible_allocation_names_the_constraint(certificate):
    first = json.loads(certificate.problem_text)["enterprises"][0]["id"]
    with pytest.raises(CertificateError, match=f"{first}: .*above its maximum"):
        verify_certificate(changed(certificate, ("allocation", 0), lambda w: 1e9))


BLOCKER = """
from coopchain.models.certificate import verify_certificate
document = json.load(sys.stdin)
verified = verify_certificate(document["certificate"], document["problem"])
print(json.dumps({"objective": verified.objective, "gap": verified.gap, "loaded": blocked_loaded()}))
"""


def test_verifier_runs_with_solvers_blocked(certificate):
    blocked = {"pyomo", "highspy", "pymoo", "cvxpy", "scipy", "pydantic", "fastapi", "rfc8785", "Crypto", "clarabel", "matplotlib"}
    run = run_blocked(blocked, BLOCKER, stdin=json.dumps({"certificate": certificate, "problem": certificate.problem_text}))
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["objective"] == certificate["objective"]
    assert out["loaded"] == []
