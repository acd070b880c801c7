"""Compromise picks: knee, closest to the ideal, TOPSIS (models.picks)."""

import math
import re

import numpy as np
import pytest
from pymoo.mcdm.high_tradeoff import HighTradeoffPoints

from coopchain.models.certificate import Values
from coopchain.models.front import Front, FrontPoint
from coopchain.models.picks import closest_to_ideal, compromise_picks, knee, topsis, topsis_closeness, tradeoffs


def front_of(rows, objectives=("F1", "F2")):
    points = []
    for row in rows:
        v = dict(F1=0.0, F2=0.5, C=1.0, T=0.25, F3=0.0)
        v.update(zip(objectives, row))
        points.append(FrontPoint(np.zeros(1), Values(**v, coordination_class="primary coordination")))
    return Front("test", tuple(objectives), tuple(points), ids=("e1",))


def kinked_front(n_side=10):
    """F1 max, F2 max: a steep piece from (100, 0.20) to (90, 0.60), then a flat one to (0, 0.64).

    Minimised and scaled to [0, 1], the front is convex with one kink at (90, 0.60):
    leaving it costs 10 times what it gains towards either end.
    """
    steep = [(100.0 - 10.0 * t, 0.20 + 0.40 * t) for t in np.linspace(0, 1, n_side)]
    flat = [(90.0 - 90.0 * t, 0.60 + 0.04 * t) for t in np.linspace(0, 1, n_side)[1:]]
    return front_of(steep + flat)


# --- TOPSIS -------------------------------------------------------------------------------

# The classic car example of TOPSIS lectures (e.g. San Jose State University, Math 108;
# after Hwang and Yoon 1981): four cars scored on style, reliability, fuel economy
# (benefits) and cost (a cost), weights 0.1, 0.4, 0.3, 0.2.
CARS = ("Civic", "Saturn", "Ford", "Mazda")
SCORES = np.array([[7, 9, 9, 8], [8, 7, 8, 7], [9, 6, 8, 9], [6, 7, 8, 6]], dtype=float)
WEIGHTS = (0.1, 0.4, 0.3, 0.2)
SENSES = ("max", "max", "max", "min")


def test_topsis_reproduces_the_car_example_computed_by_hand():
    # Step 1, column norms: sqrt(49+64+81+36) = sqrt(230), sqrt(81+49+36+49) = sqrt(215),
    # sqrt(81+64+64+64) = sqrt(273), sqrt(64+49+81+36) = sqrt(230).
    norms = [math.sqrt(230), math.sqrt(215), math.sqrt(273), math.sqrt(230)]
    # Step 2, weighted normalised scores v_ij = w_j x_ij / norm_j.
    v = [[w * x / s for x, w, s in zip(row, WEIGHTS, norms)] for row in SCORES]
    # Step 3, ideal: best of each column (cost: the smallest); negative ideal: the worst.
    best = [max(col) if sense == "max" else min(col) for col, sense in zip(zip(*v), SENSES)]
    worst = [min(col) if sense == "max" else max(col) for col, sense in zip(zip(*v), SENSES)]
    # The lecture's ideal; it rounds the normalised scores to two decimals before
    # weighting (0.6138 -> 0.61, times 0.4), hence up to 0.002 apart.
    assert best == pytest.approx([0.059, 0.244, 0.162, 0.080], abs=2e-3)
    # Steps 4-5, separations and closeness.
    d_best = [math.dist(row, best) for row in v]
    d_worst = [math.dist(row, worst) for row in v]
    by_hand = [dw / (db + dw) for db, dw in zip(d_best, d_worst)]
    # The intermediate numbers to four places, so a reader can redo each step:
    # Civic 0.0851 / (0.0295 + 0.0851) = 0.7427, and so on.
    assert d_best == pytest.approx([0.0295, 0.0594, 0.0927, 0.0608], abs=1e-4)
    assert d_worst == pytest.approx([0.0851, 0.0402, 0.0198, 0.0481], abs=1e-4)
    assert by_hand == pytest.approx([0.7427, 0.4036, 0.1759, 0.4414], abs=1e-4)
    np.testing.assert_allclose(topsis_closeness(SCORES, SENSES, WEIGHTS), by_hand, rtol=1e-12)
    # Ranking: Civic, Mazda, Saturn, Ford.
    assert [CARS[i] for i in np.argsort(-topsis_closeness(SCORES, SENSES, WEIGHTS))] == ["Civic", "Mazda", "Saturn", "Ford"]


def test_topsis_weights_are_normalised():
    np.testing.assert_allclose(
        topsis_closeness(SCORES, SENSES, [1, 4, 3, 2]), topsis_closeness(SCORES, SENSES, WEIGHTS), rtol=1e-12
    )


def test_topsis_rejects_negative_or_missing_weights():
    with pytest.raises(ValueError, match="weights"):
        topsis_closeness(SCORES, SENSES, [1, -1, 1, 1])
    with pytest.raises(ValueError, match="weights"):
        topsis_closeness(SCORES, SENSES, [1, 1, 1])


def test_topsis_pick_takes_weights_by_name():
    front = front_of([(100.0, 0.2), (60.0, 0.6), (10.0, 0.64)])
    assert topsis(front, {"F1": 1.0, "F2": 0.0}).index == 0
    assert topsis(front, {"F1": 0.0, "F2": 1.0}).index == 2
    with pytest.raises(ValueError, match="not on the front"):
        topsis(front, {"F3": 1.0})


# --- knee ---------------------------------------------------------------------------------


def test_knee_of_a_kinked_convex_front_is_the_kink():
    front = kinked_front()
    pick = knee(front)
    assert (pick.values.F1, pick.values.F2) == pytest.approx((90.0, 0.60))
    # Leaving the kink costs least towards the steep side: each step gives up 0.40/0.44
    # of the F2 range for 10/100 of the F1 range (towards the flat side: 0.9 for 0.04/0.44).
    assert tradeoffs(front.matrix(), front.senses)[pick.index] == pytest.approx((0.40 / 0.44) / (10 / 100), rel=1e-9)


def test_knee_is_among_pymoos_high_tradeoff_points():
    front = kinked_front()
    F = -front.matrix()  # pymoo minimises
    F = (F - F.min(axis=0)) / (F.max(axis=0) - F.min(axis=0))
    high = HighTradeoffPoints().do(F)
    assert high is not None and knee(front).index in set(np.atleast_1d(high))


def test_knee_sentence_states_the_trade_in_numbers():
    sentence = knee(kinked_front()).sentence
    # Against the best F1 (100, 0.2): 10% of the benefit for 200% more coordination.
    assert "gives up 10% of the economic benefit to gain 200% more coordination" in sentence
    assert "the largest trade-off on the front" in sentence


def test_knee_of_a_single_point_says_so():
    assert knee(front_of([(1.0, 0.5)])).sentence == "This is the only allocation on the front, so it is the knee."


# --- closest to the ideal -----------------------------------------------------------------


def test_closest_to_ideal_uses_normalised_distances():
    # Unnormalised, F1's scale would decide everything; normalised, the middle point
    # is at (0.45, 0.45) from the ideal against 1 for either end.
    front = front_of([(1000.0, 0.0), (550.0, 0.55), (0.0, 1.0)])
    pick = closest_to_ideal(front)
    assert pick.index == 1
    assert "55% of the best economic benefit and 55% of the best coordination" in pick.sentence
    assert f"{math.hypot(0.45, 0.45):.3f}" in pick.sentence


def test_closest_to_ideal_in_the_minimising_sense():
    front = front_of([(1000.0, 1.0), (550.0, 0.5), (0.0, 0.1)], ("F1", "F3"))
    pick = closest_to_ideal(front)
    assert pick.index == 1
    assert "55% of the best economic benefit and an ecological footprint 400% above the lowest" in pick.sentence


# --- all three ----------------------------------------------------------------------------


def test_compromise_picks_names_three_picks_with_a_sentence_each():
    picks = compromise_picks(kinked_front())
    assert [p.name for p in picks] == ["knee", "closest to ideal", "TOPSIS"]
    for p in picks:
        assert p.sentence.endswith(".") and re.search(r"\d", p.sentence)


def test_compromise_picks_of_an_empty_front_are_none():
    assert compromise_picks(Front("nsga2", ("F1", "F2"), ())) == ()
    with pytest.raises(ValueError, match="empty front"):
        knee(Front("nsga2", ("F1", "F2"), ()))


def test_picks_appear_in_the_front_json():
    front = kinked_front()
    out = front.as_json(picks=compromise_picks(front))
    assert [p["name"] for p in out["picks"]] == ["knee", "closest to ideal", "TOPSIS"]
    assert out["picks"][0]["values"]["F1"] == pytest.approx(90.0)
