"""Sanity of the test-only reference solver (tests/reference.py) on cases with known answers.

The reference is what the solver layer is checked against, so a broken reference
must be caught here: each case below has a closed-form answer worked out by hand
(the derivation is in the test's docstring), and the brute force is checked
against a closed form before it is used to check the cvxpy reference.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from coopchain.models.certificate import Instance, evaluate, instance_from_document
from tests.reference import (
    ReferenceSolveError,
    brute_force_f2,
    max_violation,
    reference_f1,
    reference_f2_general,
    reference_f2_uniform,
    reference_f3,
)


def enterprise(eid, *, lo=0.0, hi=100.0, profit=1.0, water=1.0, cap=None, u0=0.1, g=0.005, alpha=None, reservation=None):
    e = {"id": eid, "min": lo, "max": hi, "benefit": {"profit": profit}, "use": {"water": water}, "u0": u0, "g": g}
    if cap is not None:
        e["cap"] = {"water": cap}
    if alpha is not None:
        e["alpha"] = alpha
    if reservation is not None:
        e["reservation"] = reservation
    return e


def problem(*enterprises, water_cap=10_000.0, demand=(0.0, 1_000.0)) -> Instance:
    """One indicator (profit, a = 1) and one resource (water, ω = 1): c_j = profit_j, f_j = water_j / water_cap."""
    return instance_from_document(
        {
            "schema": "coopchain/problem/v1",
            "cooperative": "hand",
            "round": "test",
            "indicators": {"profit": 1.0},
            "resources": {"water": {"cap": water_cap, "weight": 1.0}},
            "demand": {"min": demand[0], "max": demand[1]},
            "enterprises": list(enterprises),
        }
    )


# --- n = 1 ------------------------------------------------------------------------------


ONE = problem(enterprise("a", hi=100.0, profit=2.0, water=1.0, cap=80.0, u0=0.1, g=0.005), demand=(10.0, 500.0))


def test_n1_max_f1_is_at_the_enterprise_cap():
    """W <= min(max 100, cap 80 / use 1) = 80, so F1 = 2 · 80."""
    value, W = reference_f1(ONE)
    assert value == pytest.approx(160.0, rel=1e-9)
    assert W == pytest.approx([80.0], rel=1e-9)


def test_n1_min_f3_is_at_the_demand_minimum():
    """F3 = ω · ρ W / R_0 = W / 10,000, smallest at the demand minimum W = 10."""
    value, W = reference_f3(ONE)
    assert value == pytest.approx(10.0 / 10_000.0, rel=1e-9)
    assert W == pytest.approx([10.0], rel=1e-9)


def test_n1_max_f2_is_sqrt_of_the_largest_development():
    """n = 1: C = 1 and T = U, so D = sqrt(u0 + g W), largest at W = 80: sqrt(0.5)."""
    D, W = reference_f2_uniform(ONE)
    assert D == pytest.approx(math.sqrt(0.5), rel=1e-7)
    assert W == pytest.approx([80.0], rel=1e-6)


def test_n1_brute_force_matches_the_closed_form():
    D, W = brute_force_f2(ONE)
    assert D == pytest.approx(math.sqrt(0.5), rel=1e-10)
    assert W == pytest.approx([80.0], rel=1e-9)


def test_n1_general_reference_matches_the_closed_form():
    D, _ = reference_f2_general(ONE, grid=5, refine=3)
    assert D == pytest.approx(math.sqrt(0.5), rel=1e-7)


# --- n = 2, no binding coupling row ---------------------------------------------------------


TWO_LOOSE = problem(
    enterprise("a", lo=5.0, hi=100.0, profit=3.0, water=1.0, cap=60.0),
    enterprise("b", lo=0.0, hi=50.0, profit=2.0, water=2.0, cap=1_000.0, reservation=20.0),
)


def test_n2_max_f1_puts_every_w_at_its_effective_upper_bound():
    """a: min(100, 60/1) = 60 (its cap binds); b: min(50, 1000/2) = 50 (its maximum binds). F1 = 3·60 + 2·50."""
    value, W = reference_f1(TWO_LOOSE)
    assert value == pytest.approx(280.0, rel=1e-9)
    assert W == pytest.approx([60.0, 50.0], rel=1e-9)


def test_n2_min_f3_puts_every_w_at_its_effective_lower_bound():
    """a: its minimum 5; b: its reservation π = 20 at c = 2 needs W >= 10. F3 = (1·5 + 2·10) / 10,000."""
    value, W = reference_f3(TWO_LOOSE)
    assert value == pytest.approx(25.0 / 10_000.0, rel=1e-9)
    assert W == pytest.approx([5.0, 10.0], rel=1e-9)


# --- n = 2, one binding coupling row ----------------------------------------------------------


def test_n2_binding_cooperative_cap_fills_the_better_enterprise_first():
    """Water 1 per unit for both, cap 100: the LP gives the 100 units to c = 3 up to its max 80, the rest (20) to c = 2."""
    inst = problem(
        enterprise("a", hi=80.0, profit=3.0, water=1.0),
        enterprise("b", hi=80.0, profit=2.0, water=1.0),
        water_cap=100.0,
    )
    value, W = reference_f1(inst)
    assert value == pytest.approx(3 * 80 + 2 * 20, rel=1e-9)
    assert W == pytest.approx([80.0, 20.0], rel=1e-9)


def test_n2_binding_demand_minimum_uses_the_cleaner_enterprise_first():
    """Footprints 1 and 2 per unit; demand >= 50: the cleaner one to its max 30, the other 20. F3 = (30 + 40) / 1000."""
    inst = problem(
        enterprise("a", hi=30.0, water=1.0),
        enterprise("b", hi=80.0, water=2.0),
        water_cap=1_000.0,
        demand=(50.0, 200.0),
    )
    value, W = reference_f3(inst)
    assert value == pytest.approx(70.0 / 1_000.0, rel=1e-9)
    assert W == pytest.approx([30.0, 20.0], rel=1e-9)


# Uniform α, Σ W <= 100 binds.  max log U_1 + log U_2 on W_1 + W_2 = 100: g_1/U_1 = g_2/U_2, so
# U_j / g_j = t for both, W_j = t − u0_j/g_j and t = (100 + 0.1/0.005 + 0.2/0.004) / 2 = 85:
# W = (65, 35), U = (0.425, 0.34), D = (U_1 U_2)^(1/4) (D² = geometric mean with uniform α).
TWO_DEMAND = problem(
    enterprise("a", hi=150.0, u0=0.1, g=0.005),
    enterprise("b", hi=150.0, u0=0.2, g=0.004),
    demand=(0.0, 100.0),
)
TWO_DEMAND_D = (0.425 * 0.34) ** 0.25


def test_n2_brute_force_matches_the_closed_form_on_a_binding_demand_row():
    D, W = brute_force_f2(TWO_DEMAND)
    assert D == pytest.approx(TWO_DEMAND_D, rel=1e-10)
    assert W == pytest.approx([65.0, 35.0], rel=1e-8)


def test_n2_uniform_reference_matches_the_closed_form_on_a_binding_demand_row():
    """D to 1e-7; W only to 1e-3: the objective is flat at its maximum (an error δ in W costs
    about (g δ / U)² in mean(log U)), so Clarabel's 1e-8 stopping tolerance leaves W ~1e-4 off."""
    D, W = reference_f2_uniform(TWO_DEMAND)
    assert D == pytest.approx(TWO_DEMAND_D, rel=1e-7)
    assert W == pytest.approx([65.0, 35.0], rel=1e-3)


def test_n2_general_reference_with_uniform_alpha_matches_the_closed_form():
    D, _ = reference_f2_general(TWO_DEMAND, grid=8, refine=12)
    assert D == pytest.approx(TWO_DEMAND_D, rel=1e-6)


@pytest.mark.parametrize("alpha", [(0.8, 0.2), (0.3, 0.7)])
def test_n2_general_reference_agrees_with_brute_force(alpha):
    """Unequal α: no closed form, so the brute force (checked above) is the judge."""
    inst = problem(
        enterprise("a", hi=150.0, u0=0.1, g=0.005, alpha=alpha[0]),
        enterprise("b", hi=150.0, u0=0.2, g=0.004, alpha=alpha[1]),
        demand=(0.0, 100.0),
    )
    D_brute, _ = brute_force_f2(inst)
    D_ref, W_ref = reference_f2_general(inst, grid=12, refine=12)
    assert D_ref <= D_brute * (1 + 1e-8)
    assert D_ref == pytest.approx(D_brute, rel=1e-6)
    assert max_violation(inst, W_ref) <= 1e-7


# --- failures are loud --------------------------------------------------------------------------

INFEASIBLE = problem(enterprise("a", hi=10.0), enterprise("b", hi=10.0), demand=(50.0, 100.0))


@pytest.mark.parametrize("solver", [reference_f1, reference_f3, reference_f2_uniform, reference_f2_general])
def test_infeasible_data_raises(solver):
    with pytest.raises(ReferenceSolveError, match="infeasible"):
        solver(INFEASIBLE)


def test_brute_force_on_infeasible_data_raises():
    with pytest.raises(ReferenceSolveError, match="empty"):
        brute_force_f2(INFEASIBLE)


def test_uniform_reference_refuses_general_alpha():
    with pytest.raises(ValueError, match="uniform"):
        reference_f2_uniform(problem(enterprise("a", alpha=0.9), enterprise("b", alpha=0.1)))


# --- generator instances: independent LP, feasibility, uniform against general ----------------------


@pytest.fixture(scope="module")
def generated(gen_problem) -> Instance:
    return instance_from_document(gen_problem.generate(40, 3, 3, 7, "uniform"))


@pytest.mark.parametrize("n", [40, 1000])
@pytest.mark.parametrize("objective", ["F1", "F3"])
def test_lp_reference_agrees_with_scipy_linprog(gen_problem, objective, n):
    """A second, separately written LP (scipy's HiGHS wrapper) gives the same optimum.

    Both scale the costs to order 1: unscaled, HiGHS's absolute 1e-7 reduced-cost
    tolerance lets it stop 5e-5 above min F3 at n = 1,000 (footprint costs ~1e-5).
    """
    from scipy.optimize import linprog

    inst = instance_from_document(gen_problem.generate(n, 3, 3, 7, "uniform"))
    c = inst.benefit @ inst.indicator_weight
    f = inst.use @ (inst.resource_weight / inst.cooperative_cap)
    caps = np.min(np.where(inst.use > 0, inst.enterprise_cap / inst.use, np.inf), axis=1)
    A = np.vstack([inst.use.T, np.ones(inst.n), -np.ones(inst.n)])
    b = np.concatenate([inst.cooperative_cap, [inst.demand_max, -inst.demand_min]])
    bounds = list(zip(inst.volume_min, np.minimum(inst.volume_max, caps)))
    cost = -c if objective == "F1" else f
    scale = 1.0 / np.abs(cost).max()
    res = linprog(cost * scale, A_ub=A, b_ub=b, bounds=bounds, method="highs")
    assert res.status == 0
    expected = (-res.fun if objective == "F1" else res.fun) / scale
    value, W = (reference_f1 if objective == "F1" else reference_f3)(inst)
    assert value == pytest.approx(expected, rel=1e-9)
    assert max_violation(inst, W) <= 1e-9
    assert getattr(evaluate(inst, W), objective) == pytest.approx(value, rel=1e-9)


def test_f2_uniform_and_general_references_agree_on_uniform_alpha(generated):
    """With uniform α both methods solve the same problem; the grid one may only be (slightly) lower."""
    D_uniform, W = reference_f2_uniform(generated)
    D_general, _ = reference_f2_general(generated, grid=10, refine=12)
    assert max_violation(generated, W) <= 1e-7
    assert D_general <= D_uniform * (1 + 1e-7)
    assert D_general == pytest.approx(D_uniform, rel=1e-6)
