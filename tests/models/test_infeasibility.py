"""Infeasible data explained by name and in words (issue 4): planted conflicts, HiGHS's IIS and the Farkas fallback.

Each case plants one conflict in a small hand-made problem and states, worked out
by hand, which constraints conflict and the numbers the lead sentence must give.
Kinds that models.problem already rejects (demand window against the bounds
alone, an enterprise with no possible volume) are built with dataclasses.replace
on the instance of a valid document, bypassing validation.
"""

import dataclasses

import highspy
import numpy as np
import pytest

from coopchain.models import infeasibility
from coopchain.models.formulation import column_bounds, formulate
from coopchain.models.infeasibility import explain_infeasibility, readable
from coopchain.models.problem import ProblemError, parse_problem, to_instance
from coopchain.models.solve import solve


def document(enterprises, resources=None, demand=(0.0, 1000.0)):
    resources = resources or {"water": 1000.0}
    return {
        "schema": "coopchain/problem/v1",
        "cooperative": "planted",
        "round": "test",
        "indicators": {"profit": 1.0},
        "resources": {r: {"cap": cap, "weight": 1.0} for r, cap in resources.items()},
        "demand": {"min": demand[0], "max": demand[1]},
        "enterprises": [
            {
                "id": f"e{j + 1}",
                "min": e.get("min", 0.0),
                "max": e.get("max", 100.0),
                "benefit": {"profit": e.get("benefit", 1.0)},
                "use": {r: e.get("use", {}).get(r, 1.0) for r in resources},
                **({"cap": e["cap"]} if "cap" in e else {}),
                "u0": 0.1,
                "g": 0.001,
                **({"reservation": e["reservation"]} if "reservation" in e else {}),
            }
            for j, e in enumerate(enterprises)
        ],
    }


def instance(doc, **changes):
    """The instance of a document, with fields changed after validation (for data validation rejects)."""
    return dataclasses.replace(to_instance(parse_problem(doc)), **changes)


@pytest.fixture(params=["iis", "farkas"])
def method(request, monkeypatch):
    """HiGHS's IIS (small problems) and the Farkas-ray path (large ones) must name the same conflict.

    Each path alone: with "iis" the fallback is switched off, so a failing IIS shows.
    """
    if request.param == "farkas":
        monkeypatch.setattr(infeasibility, "IIS_COLUMN_LIMIT", 0)
    else:
        monkeypatch.setattr(infeasibility, "farkas_members", lambda highs, form: None)
    return request.param


def names(conflicts):
    return {c.constraint for c in conflicts}


# --- kinds that pass validation and reach the solver --------------------------------------------


def cap_against_demand():
    # Least water for 80 units: e1 (1 per unit) to its maximum 50, then 30 of e2 (2 per unit): 110.
    return document([{"max": 50, "use": {"water": 1}}, {"max": 50, "use": {"water": 2}}, {"max": 50, "use": {"water": 3}}],
                    resources={"water": 100.0}, demand=(80.0, 150.0))


def test_cooperative_cap_against_the_demand_minimum(method):
    conflicts = explain_infeasibility(instance(cap_against_demand()))
    assert names(conflicts) == {"cooperative_cap[water]", "demand (minimum)", "e1: volume (maximum)"}
    lead = conflicts[0]
    assert lead.constraint == "cooperative_cap[water]"
    assert lead.sentence.startswith("The water cap of the cooperative (100) cannot be met: to meet the demand minimum of 80")
    assert "water use is at least 110 " in lead.sentence
    assert "e1 at most 50 by its maximum" in lead.sentence


def test_cooperative_cap_against_enterprise_minimums(method):
    doc = document([{"min": 40, "max": 60, "use": {"water": 2}}, {"min": 30, "max": 50, "use": {"water": 1}}, {"max": 50}],
                   resources={"water": 100.0}, demand=(0.0, 200.0))
    conflicts = explain_infeasibility(instance(doc))
    assert names(conflicts) == {"cooperative_cap[water]", "e1: volume (minimum)", "e2: volume (minimum)"}
    assert conflicts[0].sentence == (
        "The water cap of the cooperative (100) cannot be met: within the enterprises' limits, the cooperative's water use "
        "is at least 110 (lower limits: e1 at least 40 by its minimum, e2 at least 30 by its minimum)."
    )


def test_cooperative_cap_against_a_reservation(method):
    # e1 must earn 400 at 10 per unit: at least 40 units, 80 water; e2's minimum takes 30 more.
    doc = document([{"reservation": 400, "benefit": 10, "use": {"water": 2}}, {"min": 30, "use": {"water": 1}}, {}],
                   resources={"water": 100.0}, demand=(0.0, 300.0))
    conflicts = explain_infeasibility(instance(doc))
    assert names(conflicts) == {"cooperative_cap[water]", "e1: reservation", "e2: volume (minimum)"}
    assert "water use is at least 110 " in conflicts[0].sentence
    assert "e1 at least 40 by its reservation" in conflicts[0].sentence
    reservation = next(c for c in conflicts if c.constraint == "e1: reservation")
    assert reservation.sentence == "e1's reservation of 400 (a volume of at least 40): it must earn at least 400, at 10 per unit of volume."


def test_two_cooperative_caps_against_the_demand_minimum(method):
    # e1 is energy-hungry, e2 water-hungry: within both caps of 100 at most 25 + 25 = 50 < 60 units.
    # Least energy for 60 units under the water cap: e1 = 40, e2 = 20, energy 3·40 + 20 = 140.
    doc = document([{"use": {"water": 1, "energy": 3}}, {"use": {"water": 3, "energy": 1}}],
                   resources={"water": 100.0, "energy": 100.0}, demand=(60.0, 200.0))
    conflicts = explain_infeasibility(instance(doc))
    assert names(conflicts) == {"cooperative_cap[energy]", "cooperative_cap[water]", "demand (minimum)"}
    assert conflicts[0].sentence.startswith(
        "The energy cap of the cooperative (100) cannot be met: to meet the water cap of the cooperative (100) and the demand minimum of 60"
    )
    assert "energy use is at least 140." in conflicts[0].sentence


def test_the_number_is_the_least_use_the_data_allow(gen_problem, method):
    """On a generated instance the lead's number is the greedy least use of the resource for the demand minimum."""
    doc = gen_problem.generate(n=40, seed=3)
    doc["resources"]["r0"]["cap"] *= 0.3
    inst = instance(doc)
    conflicts = explain_infeasibility(inst)
    assert conflicts[0].constraint == "cooperative_cap[r0]"
    assert "demand (minimum)" in names(conflicts)
    assert not {"cooperative_cap[r1]", "cooperative_cap[r2]", "demand (maximum)"} & names(conflicts)
    # Independent: fill the demand minimum with the enterprises that use least r0 per unit.
    lo, hi = column_bounds(formulate(inst))
    rho = inst.use[:, 0]
    need, least = inst.demand_min - lo.sum(), float(rho @ lo)
    for j in np.argsort(rho):
        take = min(hi[j] - lo[j], need)
        least, need = least + rho[j] * take, need - take
    assert f"r0 use is at least {readable(least)} " in conflicts[0].sentence


# --- kinds validation rejects, planted in the instance -------------------------------------------


def test_demand_minimum_against_upper_limits(method):
    # e1 at most 120 by its maximum; e2 at most 160 by its water cap (320 at 2 per unit): 280 < 300.
    doc = document([{"max": 120}, {"max": 200, "use": {"water": 2}, "cap": {"water": 320}}], demand=(0.0, 400.0))
    conflicts = explain_infeasibility(instance(doc, demand_min=300.0))
    assert names(conflicts) == {"demand (minimum)", "e1: volume (maximum)", "e2: enterprise_cap[water]"}
    assert conflicts[0].sentence == (
        "The demand minimum of 300 cannot be met: within the enterprises' limits, the total volume is at most 280 "
        "(upper limits: e1 at most 120 by its maximum, e2 at most 160 by its water cap)."
    )


def test_validation_rejects_that_demand_minimum():
    doc = document([{"max": 120}, {"max": 200, "use": {"water": 2}, "cap": {"water": 320}}], demand=(300.0, 400.0))
    with pytest.raises(ProblemError):
        parse_problem(doc)


def test_demand_maximum_against_lower_limits(method):
    # e1's minimum is 300; e2 must earn 2,200 at 10 per unit: at least 220; together 520 > 500.
    doc = document([{"min": 300, "max": 400}, {"max": 300, "benefit": 10, "reservation": 2200}, {}], demand=(0.0, 1000.0))
    conflicts = explain_infeasibility(instance(doc, demand_max=500.0))
    assert names(conflicts) == {"demand (maximum)", "e1: volume (minimum)", "e2: reservation"}
    assert conflicts[0].sentence == (
        "The demand maximum of 500 cannot be met: within the enterprises' limits, the total volume is at least 520 "
        "(lower limits: e1 at least 300 by its minimum, e2 at least 220 by its reservation)."
    )


def test_reservation_against_the_enterprise_cap(method):
    # e1 must earn 400 at 10 per unit (at least 40 units) but its water cap of 60 at 2 per unit allows 30.
    doc = document([{"benefit": 10, "use": {"water": 2}, "cap": {"water": 100}}, {}])
    inst = instance(doc)
    inst = dataclasses.replace(inst, reservation=np.array([400.0, 0.0]), enterprise_cap=np.array([[60.0], [np.inf]]))
    conflicts = explain_infeasibility(inst)
    assert names(conflicts) == {"e1: reservation", "e1: enterprise_cap[water]"}
    assert conflicts[0].sentence == (
        "e1's reservation of 400 (a volume of at least 40) cannot be met: within its own limits, e1's volume is at most 30 "
        "(upper limits: e1 at most 30 by its water cap)."
    )


def test_minimum_above_maximum(method):
    doc = document([{"min": 10, "max": 20}, {}])
    conflicts = explain_infeasibility(instance(doc, volume_min=np.array([50.0, 0.0])))
    assert names(conflicts) == {"e1: volume (minimum)", "e1: volume (maximum)"}
    assert conflicts[0].constraint == "e1: volume (minimum)"
    assert "e1's volume is at most 20 " in conflicts[0].sentence


# --- what surrounds it ------------------------------------------------------------------------------


def test_feasible_data_have_no_conflicts(sample_document):
    assert explain_infeasibility(instance(sample_document)) == ()


def test_the_iis_is_irreducible():
    """Dropping any named constraint (with its zero lower limits kept) makes the planted case feasible."""
    doc = cap_against_demand()
    for relaxed in (
        {"resources": {"water": {"cap": 1e6, "weight": 1.0}}},
        {"demand": {"min": 0.0, "max": 150.0}},
    ):
        assert explain_infeasibility(instance({**doc, **relaxed})) == ()
    assert explain_infeasibility(instance(doc, volume_max=np.array([np.inf, 50.0, 50.0]))) == ()


@pytest.mark.parametrize("objective", ["F1", "F2", "F3"])
def test_solve_reports_the_conflicts(objective):
    solution = solve(parse_problem(cap_against_demand()), objective)
    assert solution.status == "infeasible" and not solution.success
    assert names(solution.conflicts) == {"cooperative_cap[water]", "demand (minimum)", "e1: volume (maximum)"}
    out = solution.as_json()
    assert out["status"] == "infeasible"
    assert out["conflicts"][0]["constraint"] == "cooperative_cap[water]"
    assert all(c["sentence"] for c in out["conflicts"])
    assert "at least 110" in out["message"]


def test_without_an_iis_the_farkas_ray_names_the_conflict(monkeypatch):
    monkeypatch.setattr(highspy.Highs, "getIis", lambda self: (highspy.HighsStatus.kError, highspy.HighsIis()))
    conflicts = explain_infeasibility(instance(cap_against_demand()))
    assert names(conflicts) == {"cooperative_cap[water]", "demand (minimum)", "e1: volume (maximum)"}


def test_a_ray_that_proves_nothing_is_not_used(monkeypatch):
    """The Farkas ray is checked before use: y = 0 on the water cap, 1 on the demand row proves nothing here."""
    monkeypatch.setattr(infeasibility, "IIS_COLUMN_LIMIT", 0)
    monkeypatch.setattr(highspy.Highs, "getDualRay", lambda self: (highspy.HighsStatus.kOk, True, np.array([0.0, 1.0])))
    (conflict,) = explain_infeasibility(instance(cap_against_demand()))
    assert conflict.constraint == "unknown"


def test_without_iis_or_ray_it_says_so(monkeypatch):
    monkeypatch.setattr(highspy.Highs, "getIis", lambda self: (highspy.HighsStatus.kError, highspy.HighsIis()))
    monkeypatch.setattr(highspy.Highs, "getDualRay", lambda self: (highspy.HighsStatus.kError, False, np.zeros(2)))
    (conflict,) = explain_infeasibility(instance(cap_against_demand()))
    assert conflict.constraint == "unknown"
    assert "cannot all be met" in conflict.sentence


@pytest.mark.parametrize(
    "x, text",
    [(2000.0, "2,000"), (133.33333, "133.3"), (60.36217, "60.36"), (2311.6, "2,312"), (0.0000223, "0.0000223"), (0.0, "0")],
)
def test_numbers_read_as_a_manager_reads_them(x, text):
    assert readable(x) == text
