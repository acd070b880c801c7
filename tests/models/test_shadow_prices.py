"""Shadow prices against finite differences of the optimum (issue 4).

Each price claims d(optimum)/d(limit).  On instances whose optimal basis does not
change for a small step, re-solving the modified document with the limit moved
by ±`STEP` (relative) must move the optimum by ±price · step.  The sample
cooperative is such an instance for both objectives (checked: every price below
matches, so no step crosses a breakpoint).
"""

import copy

import pytest

from coopchain.models.problem import parse_problem
from coopchain.models.solve import solve

STEP = 1e-4  # relative; the optimum is linear in each limit near the sample's optimal basis


def optimum(doc, objective, backend="highs"):
    solution = solve(parse_problem(doc), objective, backend=backend)
    assert solution.success, solution.message
    return solution


def prices(solution):
    return {(p.constraint, p.enterprise): p for p in solution.shadow_prices}


def finite_difference(doc, objective, change, signs=(1.0, -1.0)):
    """The central difference of the optimum in one limit, moved by ±STEP (relative) in copies of the document.

    Central, not forward: for F3 a cooperative cap also scales the footprint
    (F3 ∝ 1/R_0^r), and a forward step would be off by STEP relative.
    ``signs=(1.0, 0.0)`` gives the forward difference (raising only).
    """
    values, steps = [], []
    for sign in signs:
        moved = copy.deepcopy(doc)
        steps.append(sign * change(moved, sign))
        values.append(getattr(optimum(moved, objective).values, objective))
    return (values[0] - values[1]) / (steps[0] - steps[1])


def raise_cooperative_cap(resource):
    def change(doc, sign):
        step = STEP * doc["resources"][resource]["cap"]
        doc["resources"][resource]["cap"] += sign * step
        return step

    return change


def raise_enterprise_cap(eid, resource):
    def change(doc, sign):
        ent = next(e for e in doc["enterprises"] if e["id"] == eid)
        step = STEP * ent["cap"][resource]
        ent["cap"][resource] += sign * step
        return step

    return change


def raise_demand(side):
    def change(doc, sign):
        step = STEP * doc["demand"][side]
        doc["demand"][side] += sign * step
        return step

    return change


def assert_matches(price, difference):
    assert price == pytest.approx(difference, rel=1e-5, abs=1e-9)


# --- the sample cooperative -------------------------------------------------------------------


@pytest.mark.parametrize("objective", ["F1", "F3"])
@pytest.mark.parametrize("resource", ["water", "energy", "carbon"])
def test_cooperative_cap_prices_match_finite_differences(sample_document, objective, resource):
    price = prices(optimum(sample_document, objective))[(f"cooperative_cap[{resource}]", None)].price
    assert_matches(price, finite_difference(sample_document, objective, raise_cooperative_cap(resource)))


@pytest.mark.parametrize("objective", ["F1", "F3"])
@pytest.mark.parametrize("side", ["min", "max"])
def test_demand_prices_match_finite_differences(sample_document, objective, side):
    name = f"demand ({'minimum' if side == 'min' else 'maximum'})"
    price = prices(optimum(sample_document, objective))[(name, None)].price
    assert_matches(price, finite_difference(sample_document, objective, raise_demand(side)))


@pytest.mark.parametrize(
    "objective, eid, resource",
    [("F1", "e01", "water"), ("F1", "e05", "energy"), ("F1", "e06", "water"), ("F3", "e04", "energy")],
)
def test_enterprise_cap_prices_match_finite_differences(sample_document, objective, eid, resource):
    price = prices(optimum(sample_document, objective))[(f"enterprise_cap[{resource}]", eid)].price
    assert price != 0
    assert_matches(price, finite_difference(sample_document, objective, raise_enterprise_cap(eid, resource)))


@pytest.mark.parametrize("objective", ["F1", "F3"])
def test_only_binding_enterprise_caps_are_listed(sample_document, objective):
    """Every enterprise cap not listed is worth nothing: raising it leaves the optimum where it is.

    e02's water cap (1,200 at 18 per unit) and carbon cap (80 at 1.2) both allow
    66.67 units and F1 wants more: lowering either costs F1, raising one alone
    gains nothing, so neither is listed.  Hence the forward difference here.
    """
    listed = {key for key in prices(optimum(sample_document, objective)) if key[0].startswith("enterprise_cap")}
    for ent in sample_document["enterprises"]:
        for resource in ent.get("cap", {}):
            if (f"enterprise_cap[{resource}]", ent["id"]) not in listed:
                difference = finite_difference(sample_document, objective, raise_enterprise_cap(ent["id"], resource), signs=(1.0, 0.0))
                assert difference == pytest.approx(0.0, abs=1e-9), (ent["id"], resource)


def test_signs_follow_the_objective(sample_document):
    """A larger cap can only help: F1 rises (price >= 0), F3 falls (price <= 0)."""
    for objective, sign in (("F1", 1.0), ("F3", -1.0)):
        for p in optimum(sample_document, objective).shadow_prices:
            if p.constraint != "demand (minimum)":
                assert sign * p.price >= 0, (objective, p)


def test_prices_are_labelled_and_in_the_json(sample_document):
    solution = optimum(sample_document, "F1")
    water = prices(solution)[("cooperative_cap[water]", None)]
    assert (water.resource, water.enterprise) == ("water", None)
    assert water.sentence.startswith("One more unit of water for the cooperative (cap 7,200) would raise F1 by 0.105")
    e01 = prices(solution)[("enterprise_cap[water]", "e01")]
    assert (e01.resource, e01.enterprise) == ("water", "e01")
    out = solution.as_json()["shadow_prices"]
    assert {"constraint": "cooperative_cap[water]", "resource": "water", "enterprise": None, "price": water.price, "sentence": water.sentence} in out


def test_enterprise_caps_are_columns_in_the_json(sample_document):
    """The JSON's enterprise_cap_prices columns hold exactly the enterprise-cap prices checked above by finite differences."""
    solution = optimum(sample_document, "F1")
    expected = [(p.enterprise, p.resource, p.price, p.limit) for p in solution.shadow_prices if p.constraint.startswith("enterprise_cap")]
    out = solution.as_json()
    caps = out["enterprise_cap_prices"]
    assert expected and list(zip(caps["enterprise"], caps["resource"], caps["price"], caps["cap"])) == expected
    assert all(p["enterprise"] is None for p in out["shadow_prices"])
    ent = {e["id"]: e for e in sample_document["enterprises"]}
    assert all(cap == ent[e]["cap"][r] for e, r, cap in zip(caps["enterprise"], caps["resource"], caps["cap"]))


def test_the_pyomo_backend_gives_the_same_row_prices(sample_document):
    highs, record = prices(optimum(sample_document, "F1")), prices(optimum(sample_document, "F1", backend="pyomo"))
    assert set(record) == {key for key in highs if key[1] is None}
    for key, p in record.items():
        assert p.price == pytest.approx(highs[key].price, rel=1e-7, abs=1e-12)


# --- a cooperative cap binding in min F3 -----------------------------------------------------------


def water_bound_footprint():
    """Water is cheap in F3 (weight 0.1), so min F3 meets the demand with e1 until the water cap binds."""
    return {
        "schema": "coopchain/problem/v1",
        "cooperative": "water-bound",
        "round": "test",
        "indicators": {"profit": 1.0},
        "resources": {"water": {"cap": 100.0, "weight": 0.1}, "energy": {"cap": 100.0, "weight": 0.9}},
        "demand": {"min": 80.0, "max": 200.0},
        "enterprises": [
            {"id": "e1", "min": 0.0, "max": 100.0, "benefit": {"profit": 1.0}, "use": {"water": 2.0, "energy": 0.1}, "u0": 0.1, "g": 0.001},
            {"id": "e2", "min": 0.0, "max": 100.0, "benefit": {"profit": 2.0}, "use": {"water": 0.1, "energy": 2.0}, "u0": 0.1, "g": 0.001},
        ],
    }


def test_a_binding_cap_in_min_F3_matches_finite_differences():
    doc = water_bound_footprint()
    solution = optimum(doc, "F3")
    # e1 + e2 = 80 and 2 e1 + 0.1 e2 = 100: e1 = 92/1.9.
    assert solution.allocation[0] == pytest.approx(92.0 / 1.9, rel=1e-9)
    water = prices(solution)[("cooperative_cap[water]", None)]
    assert "not binding" not in water.sentence
    assert water.price < 0
    assert_matches(water.price, finite_difference(doc, "F3", raise_cooperative_cap("water")))
    assert_matches(prices(solution)[("demand (minimum)", None)].price, finite_difference(doc, "F3", raise_demand("min")))
