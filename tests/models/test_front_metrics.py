"""The nondominated filter, hypervolume and reference point (models.front_metrics, models.front)."""

import itertools

import numpy as np
import pytest

from coopchain.models.certificate import Values
from coopchain.models.front import Front, FrontPoint
from coopchain.models.front_metrics import default_reference, hypervolume, ideal_and_nadir, nondominated, normalise


def dominates(a, b, senses):
    """The textbook definition, one pair at a time: a at least as good everywhere, strictly better somewhere."""
    at_least = all((x >= y) if s == "max" else (x <= y) for x, y, s in zip(a, b, senses))
    better = any((x > y) if s == "max" else (x < y) for x, y, s in zip(a, b, senses))
    return at_least and better


def brute_force_nondominated(matrix, senses):
    return np.array([not any(dominates(b, a, senses) for b in matrix) for a in matrix])


def front_of(rows, objectives=("F1", "F2", "F3")):
    """A Front whose points carry the given objective values (other fields arbitrary)."""
    points = []
    for row in rows:
        v = dict(F1=0.0, F2=0.5, C=1.0, T=0.25, F3=0.0)
        v.update(zip(objectives, row))
        points.append(FrontPoint(np.zeros(2), Values(**v, coordination_class="primary coordination")))
    return Front("test", tuple(objectives), tuple(points), ids=("a", "b"))


# --- nondominated ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("senses", [("min", "min"), ("max", "min", "max"), ("max", "max", "min", "min")])
def test_nondominated_matches_the_definition_with_ties(seed, senses):
    # Small integers: many ties in single objectives and whole duplicate rows.
    matrix = np.random.default_rng(seed).integers(0, 5, size=(60, len(senses))).astype(float)
    np.testing.assert_array_equal(nondominated(matrix, senses), brute_force_nondominated(matrix, senses))


def test_nondominated_keeps_every_copy_of_a_nondominated_row():
    matrix = np.array([[1.0, 2.0], [1.0, 2.0], [2.0, 1.0], [2.0, 2.0]])
    np.testing.assert_array_equal(nondominated(matrix, ("min", "min")), [True, True, True, False])


def test_nondominated_in_chunks_matches_the_definition():
    matrix = np.random.default_rng(1).normal(size=(1200, 2)).round(1)
    np.testing.assert_array_equal(nondominated(matrix, ("max", "min")), brute_force_nondominated(matrix, ("max", "min")))


def test_nondominated_of_nothing_is_empty():
    assert nondominated(np.empty((0, 3)), ("min", "min", "min")).shape == (0,)


def test_nondominated_rejects_unknown_senses():
    with pytest.raises(ValueError, match="'max' or 'min'"):
        nondominated(np.zeros((2, 2)), ("min", "largest"))


# --- hypervolume ------------------------------------------------------------------------


def test_hypervolume_of_a_2d_staircase_is_the_union_of_its_rectangles():
    # Minimise both, reference (4, 4).  The rectangles [1,4]x[3,4], [2,4]x[2,4], [3,4]x[1,4]
    # form a staircase; slicing by x: [1,2] height 1, [2,3] height 2, [3,4] height 3 -> 6.
    matrix = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    assert hypervolume(matrix, [4.0, 4.0], ("min", "min")) == pytest.approx(6.0, abs=1e-12)


def test_hypervolume_in_the_maximising_sense_is_the_mirror_image():
    matrix = np.array([[-1.0, 3.0], [-2.0, 2.0], [-3.0, 1.0]])  # first objective maximised
    assert hypervolume(matrix, [-4.0, 4.0], ("max", "min")) == pytest.approx(6.0, abs=1e-12)


def test_hypervolume_of_one_point_is_the_product_of_its_distances():
    # F1 max, F2 max, F3 min: (10 - 4) x (0.5 - 0.1) x (0.7 - 0.2) = 6 x 0.4 x 0.5.
    assert hypervolume(np.array([[10.0, 0.5, 0.2]]), [4.0, 0.1, 0.7], ("max", "max", "min")) == pytest.approx(1.2)


def test_hypervolume_of_two_overlapping_3d_boxes():
    # Reference (2, 2, 2), minimise: (0,0,1) dominates [0,2]x[0,2]x[1,2] (4), (1,1,0)
    # dominates [1,2]x[1,2]x[0,2] (2); they share [1,2]^3 (1): 4 + 2 - 1 = 5.
    matrix = np.array([[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    assert hypervolume(matrix, [2.0, 2.0, 2.0], ("min", "min", "min")) == pytest.approx(5.0)


def test_hypervolume_is_unchanged_by_a_dominated_point():
    rng = np.random.default_rng(3)
    matrix = rng.uniform(0, 1, size=(30, 3))
    matrix = matrix[nondominated(matrix, ("min",) * 3)]
    before = hypervolume(matrix, [1.5, 1.5, 1.5], ("min",) * 3)
    worse = matrix[0] + np.array([0.01, 0.0, 0.2])
    assert hypervolume(np.vstack([matrix, worse]), [1.5, 1.5, 1.5], ("min",) * 3) == pytest.approx(before, rel=1e-12)


def test_hypervolume_ignores_points_beyond_the_reference():
    matrix = np.array([[1.0, 1.0], [5.0, 0.5], [0.5, 5.0]])
    assert hypervolume(matrix, [2.0, 2.0], ("min", "min")) == pytest.approx(1.0)
    assert hypervolume(np.array([[3.0, 3.0]]), [2.0, 2.0], ("min", "min")) == 0.0


def test_hypervolume_of_a_front_uses_its_objectives_senses():
    front = front_of([(10.0, 0.5, 0.2)])
    assert hypervolume(front, [4.0, 0.1, 0.7]) == pytest.approx(1.2)


def test_hypervolume_needs_a_finite_reference_of_the_right_length():
    with pytest.raises(ValueError, match="reference"):
        hypervolume(np.array([[1.0, 1.0]]), [2.0], ("min", "min"))
    with pytest.raises(ValueError, match="reference"):
        hypervolume(np.array([[1.0, 1.0]]), [2.0, np.inf], ("min", "min"))


# --- reference and normalisation ------------------------------------------------------


def test_default_reference_is_the_union_nadir_pushed_by_a_tenth_of_the_range():
    a = np.array([[10.0, 0.2], [6.0, 0.1]])  # F1 max, F3 min
    b = np.array([[8.0, 0.5]])
    # Worst F1 = 6, range 4 -> 5.6; worst F3 = 0.5, range 0.4 -> 0.54.
    np.testing.assert_allclose(default_reference(a, b, senses=("max", "min")), [5.6, 0.54])


def test_default_reference_of_a_constant_objective_is_pushed_by_its_magnitude():
    np.testing.assert_allclose(default_reference(np.array([[3.0, 0.0]]), senses=("max", "min")), [2.7, 0.1])


def test_every_point_of_a_front_beats_its_default_reference():
    matrix = np.random.default_rng(4).uniform(size=(20, 3))
    senses = ("max", "max", "min")
    ref = default_reference(matrix, senses=senses)
    assert hypervolume(matrix[:1], ref, senses) > 0


def test_normalise_maps_ideal_to_zero_and_nadir_to_one_in_either_sense():
    matrix = np.array([[10.0, 0.2, 7.0], [6.0, 0.6, 7.0], [8.0, 0.4, 7.0]])
    ideal, nadir = ideal_and_nadir(matrix, ("max", "min", "min"))
    np.testing.assert_allclose(normalise(matrix, ideal, nadir), [[0, 0, 0], [1, 1, 0], [0.5, 0.5, 0]])


# --- the front's JSON -----------------------------------------------------------------


def test_front_json_states_values_allocation_hypervolume_and_reference():
    front = front_of([(10.0, 0.5, 0.2), (8.0, 0.6, 0.1)])
    out = front.as_json(reference=[4.0, 0.1, 0.7])
    assert out["method"] == "test" and out["objectives"] == ["F1", "F2", "F3"]
    assert out["points"][0]["values"]["F1"] == 10.0 and out["points"][0]["allocation"] == {"a": 0.0, "b": 0.0}
    expected = 6 * 0.4 * 0.5 + 4 * 0.5 * 0.6 - 4 * 0.4 * 0.5  # two boxes minus their overlap
    assert out["hypervolume"] == {"value": pytest.approx(expected), "reference": [4.0, 0.1, 0.7]}
    assert out["picks"] == [] and out["reported"] == []


def test_front_json_without_a_reference_states_the_default_one():
    front = front_of([(10.0, 0.5, 0.2), (8.0, 0.6, 0.1)])
    out = front.as_json()
    np.testing.assert_allclose(out["hypervolume"]["reference"], default_reference(front.matrix(), senses=front.senses))
    assert out["hypervolume"]["value"] > 0


def test_an_empty_front_has_zero_hypervolume_and_no_success():
    front = Front("nsga2", ("F1", "F3"), (), message="no feasible allocation")
    assert not front.success
    assert front.matrix().shape == (0, 2)
    assert front.as_json()["hypervolume"] == {"value": 0.0, "reference": None}


@pytest.mark.parametrize("objectives", list(itertools.permutations(("F1", "F2", "F3", "T"), 2)))
def test_front_matrix_columns_follow_the_objectives(objectives):
    front = front_of([(1.0, 2.0)], objectives)
    np.testing.assert_array_equal(front.matrix(), [[1.0, 2.0]])
