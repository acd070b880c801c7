"""Hand-made cases whose optima are known in closed form (issue 3)."""

import math

import numpy as np
import pytest

from coopchain.models.certificate import verify_certificate
from coopchain.models.problem import parse_problem
from coopchain.models.solve import solve


def document(enterprises, cap=1000.0, demand=(0.0, 1000.0), indicators=None):
    return {
        "schema": "coopchain/problem/v1",
        "cooperative": "hand-made",
        "round": "test",
        "indicators": indicators or {"profit": 1.0},
        "resources": {"water": {"cap": cap, "weight": 1.0}},
        "demand": {"min": demand[0], "max": demand[1]},
        "enterprises": [
            {
                "id": f"e{j + 1}",
                "min": e.get("min", 0.0),
                "max": e["max"],
                "benefit": {"profit": e.get("benefit", 1.0)},
                "use": {"water": e.get("use", 1.0)},
                **({"cap": {"water": e["cap"]}} if "cap" in e else {}),
                "u0": e.get("u0", 0.1),
                "g": e.get("g", 0.005),
                **({"alpha": e["alpha"]} if "alpha" in e else {}),
                **({"reservation": e["reservation"]} if "reservation" in e else {}),
            }
            for j, e in enumerate(enterprises)
        ],
    }


def optimum(doc, objective):
    solution = solve(parse_problem(doc), objective)
    assert solution.success, solution.message
    verify_certificate(solution.certificate)
    return solution


def test_one_enterprise_takes_the_tightest_limit():
    doc = document([{"max": 100.0, "benefit": 2.0, "u0": 0.1, "g": 0.005}], cap=80.0, demand=(10.0, 90.0))
    assert optimum(doc, "F1").allocation[0] == pytest.approx(80.0, rel=1e-9)
    assert optimum(doc, "F1").values.F1 == pytest.approx(160.0, rel=1e-9)
    assert optimum(doc, "F3").values.F3 == pytest.approx(10.0 / 80.0, rel=1e-9)
    # n = 1: C = 1 and T = U, so D = sqrt(U), largest at the largest volume.
    assert optimum(doc, "F2").values.F2 == pytest.approx(math.sqrt(0.1 + 0.005 * 80.0), rel=1e-9)


def test_every_volume_at_a_bound_when_nothing_couples():
    doc = document([{"max": 50.0, "min": 5.0}, {"max": 40.0}])
    np.testing.assert_allclose(optimum(doc, "F1").allocation, [50.0, 40.0], rtol=1e-9)
    np.testing.assert_allclose(optimum(doc, "F2").allocation, [50.0, 40.0], rtol=1e-9)
    np.testing.assert_allclose(optimum(doc, "F3").allocation, [5.0, 0.0], atol=1e-9)


def test_one_binding_cooperative_cap_fills_by_benefit_per_water():
    # Benefit per unit of water: 3, 2, 1.5.  The cap of 100 takes e1 whole (60), then e2 for 40 water.
    doc = document(
        [{"max": 60.0, "benefit": 3.0, "use": 1.0}, {"max": 60.0, "benefit": 4.0, "use": 2.0}, {"max": 60.0, "benefit": 6.0, "use": 4.0}],
        cap=100.0,
    )
    solution = optimum(doc, "F1")
    np.testing.assert_allclose(solution.allocation, [60.0, 20.0, 0.0], atol=1e-7)
    assert solution.values.F1 == pytest.approx(260.0, rel=1e-9)


def test_binding_enterprise_cap():
    doc = document([{"max": 60.0, "cap": 30.0}, {"max": 10.0}])
    np.testing.assert_allclose(optimum(doc, "F1").allocation, [30.0, 10.0], rtol=1e-9)


def test_binding_reservation_keeps_an_enterprise_above_zero():
    # min F3 wants nothing; e1's reservation of 60 at 3 per unit keeps it at 20.
    doc = document([{"max": 60.0, "benefit": 3.0, "reservation": 60.0}, {"max": 60.0}])
    solution = optimum(doc, "F3")
    np.testing.assert_allclose(solution.allocation, [20.0, 0.0], atol=1e-9)
    assert solution.values.F3 == pytest.approx(20.0 / 1000.0, rel=1e-9)


def test_uniform_coordination_equalises_levels_over_growth():
    # max log U1 + log U2 with W1 + W2 = 60: g1/U1 = g2/U2, so u0_1/g1 + W1 = u0_2/g2 + W2.
    doc = document([{"max": 50.0, "u0": 0.1, "g": 0.01}, {"max": 50.0, "u0": 0.2, "g": 0.01}], demand=(0.0, 60.0))
    solution = optimum(doc, "F2")
    np.testing.assert_allclose(solution.allocation, [35.0, 25.0], rtol=1e-5)
    assert solution.values.F2 == pytest.approx(math.sqrt(0.45), rel=1e-9)


def test_general_alpha_matches_a_brute_force_grid():
    doc = document(
        [{"max": 50.0, "u0": 0.1, "g": 0.01, "alpha": 0.8}, {"max": 50.0, "u0": 0.3, "g": 0.012, "alpha": 0.2}],
        demand=(20.0, 70.0),
    )
    solution = optimum(doc, "F2")
    W1, W2 = np.meshgrid(np.linspace(0, 50, 2001), np.linspace(0, 50, 2001))
    ok = (W1 + W2 >= 20.0) & (W1 + W2 <= 70.0)
    U1, U2 = 0.1 + 0.01 * W1, 0.3 + 0.012 * W2
    D = np.sqrt(2 * np.sqrt(U1 * U2) / (U1 + U2) * (0.8 * U1 + 0.2 * U2))
    brute = D[ok].max()
    assert solution.values.F2 >= brute - 1e-12
    assert solution.values.F2 == pytest.approx(brute, rel=1e-6)


def test_caps_against_demand_is_reported_infeasible():
    doc = document([{"max": 60.0}, {"max": 60.0}], cap=50.0, demand=(80.0, 100.0))
    for objective in ("F1", "F2", "F3"):
        solution = solve(parse_problem(doc), objective)
        assert solution.status == "infeasible"
        assert not solution.success
