"""Solver tracebacks found by the verifier's adversarial review: both are solved and certified now.

Independent references: cvxpy (tests/reference.py) for the optima; the verifier for the certificates.
"""

import json
from pathlib import Path

from coopchain.models.certificate import verify_certificate
from coopchain.models.problem import parse_problem
from coopchain.models.scalarise import epsilon_constraint
from coopchain.models.solve import prepare, solve
from tests.reference import reference_f1, reference_f2_uniform

DATA = Path(__file__).resolve().parents[1] / "data" / "certificates"
SAMPLES = Path(__file__).resolve().parents[2] / "models" / "samples"


def test_max_F2_when_the_water_cap_equals_the_demand_it_must_serve():
    """demand min = max = 150 and the water cap 112.5 = 0.75 × 150: no point lies strictly inside every
    row, and the repair used to raise NoFeasibleAllocation on this feasible problem."""
    prepared = prepare(parse_problem(json.loads((DATA / "solve_traceback_tight_cap_equals_demand.problem.json").read_text())))
    solution = solve(prepared, "F2")
    assert solution.status == "optimal", solution.message
    verified = verify_certificate(solution.certificate)
    D_ref, _ = reference_f2_uniform(prepared.instance)
    assert abs(verified.values.F2 - D_ref) <= 1e-6 * D_ref
    assert abs(sum(solution.allocation) - 150) <= 1e-9 * 150


def test_epsilon_F1_with_a_coordination_floor_that_does_not_bind_under_general_alpha():
    """green-valley (general α), max F1 subject to F2 >= 0.5: the F1 optimum meets the floor, so the LP's
    multipliers prove it; the certificate writer used to ask for pieces and raise CertificateError."""
    prepared = prepare(parse_problem(json.loads((SAMPLES / "green-valley.json").read_text())))
    assert not prepared.instance.uniform_alpha
    solution = epsilon_constraint(prepared.instance, prepared.canonical, "F1", {"F2": 0.5})
    assert solution.status == "optimal", solution.message
    verified = verify_certificate(solution.certificate)
    F1_ref, _ = reference_f1(prepared.instance)
    assert verified.values.F1 >= F1_ref * (1 - 1e-7)
    assert verified.values.F2 >= 0.5


def test_an_unrepairable_F2_allocation_on_feasible_data_is_a_failed_solution_not_a_traceback(monkeypatch):
    """Should the repair of a Lagrangian allocation still fail on feasible data, the solve says so (status
    failed, a sentence), as SPEC §6 asks, instead of re-raising NoFeasibleAllocation."""
    from coopchain.models import coordination
    from coopchain.models.feasibility import NoFeasibleAllocation

    def never(*args, **kwargs):
        raise NoFeasibleAllocation("forced for the test")

    monkeypatch.setattr(coordination, "make_feasible", never)
    prepared = prepare(parse_problem(json.loads((DATA / "solve_traceback_tight_cap_equals_demand.problem.json").read_text())))
    solution = solve(prepared, "F2")
    assert solution.status == "failed" and "feasible" in solution.message and solution.certificate is None
