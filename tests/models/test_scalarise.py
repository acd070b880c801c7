"""Scalarisations against cvxpy solving the same scalarised problem, and their certificates (issue 4)."""

import json

import cvxpy as cp
import numpy as np
import pytest

from coopchain.models.certificate import CertificateError, verify_certificate
from coopchain.models.problem import parse_problem
from coopchain.models.scalarise import ScalarisationError, chebyshev, epsilon_constraint, lexicographic, weighted_sum
from coopchain.models.solve import prepare
from tests.reference import objective_term, spec_constraints


@pytest.fixture(scope="module", params=["uniform", "general"])
def prepared(request, gen_problem):
    return prepare(parse_problem(gen_problem.generate(n=25, seed=21, alpha=request.param)))


@pytest.fixture(scope="module")
def weighted(prepared):
    """The default weighted sum of `prepared` (one solve shared: the tests read it, and copy what they change)."""
    return weighted_sum(prepared.instance, prepared.canonical)


@pytest.fixture(scope="module")
def optimum(prepared):
    """objective -> the single-objective optimum of `prepared` (each solved once for the module, read-only)."""
    from coopchain.models.solve import solve

    found = {}

    def get(objective: str):
        if objective not in found:
            found[objective] = solve(prepared, objective)
        return found[objective]

    return get


def reference_value(inst, spec):
    """max Σ w_k f_k + κ ψ s.t. ε-constraints, by cvxpy, for uniform α (ψ = mean log U) or κ = 0."""
    W = cp.Variable(inst.n)
    objective = sum((w * objective_term(inst, k, W) for k, w in spec["weights"].items()), cp.Constant(0.0))
    if spec["kappa"] > 0:
        objective = objective + spec["kappa"] * cp.sum(cp.log(inst.u0 + cp.multiply(inst.g, W))) / inst.n
    constraints = spec_constraints(inst, W) + [objective_term(inst, k, W) >= e for k, e in spec["constraints"]]
    problem = cp.Problem(cp.Maximize(objective), constraints)
    problem.solve(solver="CLARABEL" if spec["kappa"] > 0 else "HIGHS")
    return problem.value


def check(solution, inst):
    assert solution.success, solution.message
    verified = verify_certificate(json.loads(json.dumps(solution.certificate)), solution.certificate.problem_text)
    spec = solution.certificate["scalarisation"]
    plain = spec["method"] != "chebyshev" and "coordination_at_least" not in spec  # those tests bring their own reference
    if plain and (spec["kappa"] == 0 or inst.uniform_alpha):
        reference = reference_value(inst, spec)
        value = solution.certificate["scalarised_value"]
        assert value == pytest.approx(reference, rel=1e-6, abs=1e-6)
    return verified


def test_weighted_sum_of_all_three(prepared, weighted):
    solution = weighted
    check(solution, prepared.instance)
    assert "efficient" in solution.message and "weakly" not in solution.message


def test_weighted_sum_without_f2_is_weakly_efficient(prepared):
    solution = weighted_sum(prepared.instance, prepared.canonical, {"F1": 1.0, "F3": 1.0})
    check(solution, prepared.instance)
    assert "weakly efficient" in solution.message


def test_epsilon_constraint_with_f2_as_objective(prepared, optimum):
    best_f1 = optimum("F1").values.F1
    solution = epsilon_constraint(prepared.instance, prepared.canonical, "F2", {"F1": 0.9 * best_f1})
    check(solution, prepared.instance)
    assert solution.values.F1 >= 0.9 * best_f1 * (1 - 1e-9)
    # Holding F1 high costs coordination: no better than the unconstrained optimum.
    assert solution.values.F2 <= optimum("F2").values.F2 * (1 + 1e-9)


def test_epsilon_constraint_linear(prepared):
    solution = epsilon_constraint(prepared.instance, prepared.canonical, "F1", {"F3": 0.7})
    check(solution, prepared.instance)
    assert solution.values.F3 <= 0.7 * (1 + 1e-9)


def test_epsilon_constraint_with_a_floor_on_f2(prepared, optimum):
    inst = prepared.instance
    low, high = optimum("F1").values.F2, optimum("F2").values.F2
    floor = 0.5 * (low + high)
    solution = epsilon_constraint(inst, prepared.canonical, "F1", {"F2": floor})
    check(solution, inst)
    assert solution.values.F2 >= floor * (1 - 1e-9)
    if inst.uniform_alpha:  # then F2 >= floor is Σ log U >= 2n log floor: convex, for cvxpy
        W = cp.Variable(inst.n)
        constraints = spec_constraints(inst, W) + [cp.sum(cp.log(inst.u0 + cp.multiply(inst.g, W))) >= 2 * inst.n * np.log(floor)]
        reference = cp.Problem(cp.Maximize(objective_term(inst, "F1", W)), constraints)
        reference.solve(solver="CLARABEL")
        assert solution.values.F1 == pytest.approx(reference.value, rel=1e-6)
    else:
        # F2 >= floor is not convex; for fixed S = Σ U it is (log n + mean log U + log T − log S
        # >= 2 log floor), so the best over a grid of S is a feasible, lower reference.
        best = -np.inf
        u_lo = inst.u0 + inst.g * np.maximum(inst.volume_min, 0)
        u_hi = inst.u0 + inst.g * inst.volume_max
        for level in np.linspace(u_lo.sum(), u_hi.sum(), 41)[1:-1]:
            W = cp.Variable(inst.n)
            U = inst.u0 + cp.multiply(inst.g, W)
            floor_at_s = 2 * np.log(floor) - np.log(inst.n) + np.log(level)
            constraints = spec_constraints(inst, W) + [cp.sum(U) == level, cp.sum(cp.log(U)) / inst.n + cp.log(inst.alpha @ U) >= floor_at_s]
            problem = cp.Problem(cp.Maximize(objective_term(inst, "F1", W)), constraints)
            problem.solve(solver="CLARABEL")
            if problem.status == "optimal":
                best = max(best, problem.value)
        assert solution.values.F1 >= best * (1 - 1e-7)
        assert solution.values.F1 <= best * (1 + 1e-2)


def test_unreachable_f2_floor_is_infeasible_with_the_reachable_most(prepared, optimum):
    best = optimum("F2").values.F2
    solution = epsilon_constraint(prepared.instance, prepared.canonical, "F1", {"F2": min(1.0, best * 1.01)})
    assert solution.status == "infeasible" and "the most it can reach" in solution.message


def test_lexicographic_f1_then_f3_matches_two_stage_reference(prepared):
    inst = prepared.instance
    solution = lexicographic(inst, prepared.canonical, ["F1", "F3"])
    check(solution, inst)
    W = cp.Variable(inst.n)
    stage1 = cp.Problem(cp.Maximize(objective_term(inst, "F1", W)), spec_constraints(inst, W))
    stage1.solve(solver="HIGHS")
    held = stage1.value - 1e-9 * max(1.0, abs(stage1.value))
    stage2 = cp.Problem(cp.Maximize(objective_term(inst, "F3", W)), spec_constraints(inst, W) + [objective_term(inst, "F1", W) >= held])
    stage2.solve(solver="HIGHS")
    assert -solution.values.F3 == pytest.approx(stage2.value, rel=1e-6)


def test_chebyshev_matches_an_lp_reference(prepared):
    inst = prepared.instance
    solution = chebyshev(inst, prepared.canonical, {"F1": 1.0, "F3": 2.0})
    check(solution, inst)
    cheb = solution.certificate["scalarisation"]["chebyshev"]
    W, t = cp.Variable(inst.n), cp.Variable()
    rows = [cheb["scale"][k] * (cheb["reference"][k] - objective_term(inst, k, W)) <= t for k in cheb["reference"]]
    aug = cheb["rho"] * sum(cheb["scale"][k] * objective_term(inst, k, W) for k in cheb["reference"])
    problem = cp.Problem(cp.Maximize(-t + aug), spec_constraints(inst, W) + rows)
    problem.solve(solver="HIGHS")
    assert solution.certificate["scalarised_value"] == pytest.approx(problem.value, rel=1e-6, abs=1e-9)


def test_tampered_scalarisation_fails(prepared, weighted):
    solution = weighted
    cert = json.loads(json.dumps(solution.certificate))
    cert["scalarisation"]["kappa"] *= 1.01
    with pytest.raises(CertificateError) as e:
        verify_certificate(cert, solution.certificate.problem_text)
    assert e.value.code in ("value_mismatch", "bound_mismatch")  # a refusal for the tampering, not problem_missing
    cert = json.loads(json.dumps(solution.certificate))
    cert["scalarised_value"] *= 1.001
    with pytest.raises(CertificateError, match="scalarised_value"):
        verify_certificate(cert, solution.certificate.problem_text)


def test_tampered_f2_floor_certificate_fails(prepared, optimum):
    """An F2 floor's certificate: raising the floor, or any piece's multiplier of it, breaks the proof."""
    low, high = optimum("F1").values.F2, optimum("F2").values.F2
    solution = epsilon_constraint(prepared.instance, prepared.canonical, "F1", {"F2": 0.5 * (low + high)})
    assert solution.success
    verify_certificate(json.loads(json.dumps(solution.certificate)), solution.certificate.problem_text)
    cert = json.loads(json.dumps(solution.certificate))
    cert["scalarisation"]["coordination_at_least"] *= 0.99  # a lower floor: the proven bound no longer applies
    with pytest.raises(CertificateError) as e:
        verify_certificate(cert, solution.certificate.problem_text)
    assert e.value.code == "bound_mismatch"
    if "pieces" in solution.certificate:
        cert = json.loads(json.dumps(solution.certificate))
        cert["pieces"][len(cert["pieces"]) // 2]["kappa"] *= 1.5
        with pytest.raises(CertificateError, match="pieces") as e:
            verify_certificate(cert, solution.certificate.problem_text)
        assert e.value.code == "bound_mismatch"
    else:
        # A forgery found in review: a worse allocation, κ = 0 and an empty 'pieces' list made
        # the verifier take the per-piece path for uniform α, whose "bound" lay below the value.
        worse = epsilon_constraint(prepared.instance, prepared.canonical, "F2", {"F1": 0.0}).certificate
        cert = json.loads(json.dumps(solution.certificate))
        cert["allocation"] = worse["allocation"]
        cert["scalarisation"]["kappa"] = 0
        cert["pieces"] = []
        with pytest.raises(CertificateError) as e:
            verify_certificate(cert, solution.certificate.problem_text)
        assert e.value.code == "malformed"  # an empty 'pieces' list


def test_what_cannot_be_asked_is_refused_with_a_reason(prepared):
    with pytest.raises(ScalarisationError, match="both the objective and a limit"):
        epsilon_constraint(prepared.instance, prepared.canonical, "F2", {"F2": 0.5})
    with pytest.raises(ScalarisationError, match="unknown objective"):
        weighted_sum(prepared.instance, prepared.canonical, {"F9": 1.0})
    with pytest.raises(ScalarisationError, match="non-negative"):
        weighted_sum(prepared.instance, prepared.canonical, {"F1": -1.0})
    with pytest.raises(ScalarisationError):
        chebyshev(prepared.instance, prepared.canonical, {"F2": 1.0})
