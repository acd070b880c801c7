"""Evolutionary fronts with NSGA-II and NSGA-III (models.evolutionary)."""

import numpy as np
import pytest

from coopchain.models.certificate import check_feasible, coupling_rows, evaluate
from coopchain.models.evolutionary import (
    EvolutionaryError,
    evolutionary_front,
    population_objectives,
    repair_population,
    search_space,
)
from coopchain.models.front_metrics import nondominated
from coopchain.models.problem import parse_problem
from coopchain.models.solve import prepare, solve

BUDGET = dict(points=40, generations=40)


@pytest.fixture(scope="module")
def small(gen_problem):
    return prepare(parse_problem(gen_problem.generate(n=10, seed=0)))


@pytest.fixture(scope="module")
def fronts(small):
    return {method: evolutionary_front(small, method=method, seed=7, **BUDGET) for method in ("nsga2", "nsga3")}


@pytest.fixture(scope="module")
def optima(small):
    return {objective: getattr(solve(small, objective).values, objective) for objective in ("F1", "F2", "F3")}


# --- the front ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["nsga2", "nsga3"])
def test_front_is_reproducible_with_the_same_seed(small, fronts, method):
    again = evolutionary_front(small, method=method, seed=7, **BUDGET)
    assert len(again.points) == len(fronts[method].points)
    for a, b in zip(again.points, fronts[method].points):
        np.testing.assert_array_equal(a.allocation, b.allocation)


def test_another_seed_gives_another_front(small, fronts):
    other = evolutionary_front(small, method="nsga2", seed=8, **BUDGET)
    assert not np.array_equal(other.matrix(), fronts["nsga2"].matrix())


@pytest.mark.parametrize("method", ["nsga2", "nsga3"])
def test_every_point_is_feasible(small, fronts, method):
    assert fronts[method].success, fronts[method].message
    for point in fronts[method].points:
        check_feasible(small.instance, point.allocation)


@pytest.mark.parametrize("method", ["nsga2", "nsga3"])
def test_points_are_nondominated_and_distinct(fronts, method):
    front = fronts[method]
    matrix = front.matrix()
    assert nondominated(matrix, front.senses).all()
    assert len(np.unique(matrix, axis=0)) == len(matrix)


@pytest.mark.parametrize("method", ["nsga2", "nsga3"])
def test_values_are_those_of_the_allocation(small, fronts, method):
    for point in fronts[method].points:
        assert point.values == evaluate(small.instance, point.allocation)
        assert point.certificate is None


@pytest.mark.parametrize("method", ["nsga2", "nsga3"])
def test_no_point_beats_a_single_objective_optimum(fronts, optima, method):
    matrix = fronts[method].matrix()  # F1, F2, F3
    assert matrix[:, 0].max() <= optima["F1"] * (1 + 1e-9)
    assert matrix[:, 1].max() <= optima["F2"] * (1 + 1e-9)
    assert matrix[:, 2].min() >= optima["F3"] * (1 - 1e-9)


def test_front_is_ordered_by_its_first_objective_best_first(fronts):
    F1 = fronts["nsga2"].matrix()[:, 0]
    assert np.all(np.diff(F1) <= 0)


def test_front_message_and_json(small, fronts):
    front = fronts["nsga2"]
    assert front.method == "nsga2" and front.objectives == ("F1", "F2", "F3")
    assert "NSGA-II ran 40 generations of 40 allocations" in front.message
    out = front.as_json()
    assert list(out["points"][0]["allocation"]) == list(small.instance.ids)
    assert out["hypervolume"]["value"] > 0


def test_linear_objectives_with_t(small):
    front = evolutionary_front(small, objectives=("F1", "F3", "T"), points=20, generations=10)
    assert front.success and front.objectives == ("F1", "F3", "T")
    assert front.points[0].objective("T") == front.points[0].values.T


def test_progress_is_reported_each_generation_up_to_one(small):
    calls = []
    evolutionary_front(small, points=12, generations=5, progress=lambda fraction, message: calls.append((fraction, message)))
    assert [f for f, _ in calls] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert calls[-1][1] == "NSGA-II: generation 5"


def test_a_time_limit_stops_the_run(small):
    front = evolutionary_front(small, points=20, time_limit=0.3)
    assert front.success
    assert "stopped by the time limit" in front.message
    assert front.seconds < 1.5


def test_infeasible_data_give_an_empty_front_that_says_why(gen_problem):
    doc = gen_problem.generate(n=10, seed=0)
    doc["resources"]["r0"]["cap"] = 1.0  # far below what the demand minimum needs
    doc["demand"]["min"] = 100.0
    front = evolutionary_front(prepare(parse_problem(doc)), generations=5)
    assert not front.success and front.points == ()
    assert "no allocation" in front.message


@pytest.mark.parametrize(
    "arguments, words",
    [
        (dict(method="moead"), "unknown method"),
        (dict(objectives=("F1", "F9")), "objectives"),
        (dict(objectives=("F1",)), "objectives"),
        (dict(objectives=("F1", "F1")), "objectives"),
        (dict(points=1), "at least 2"),
        (dict(generations=0), "budget"),
    ],
)
def test_unusable_arguments_are_refused(small, arguments, words):
    with pytest.raises(EvolutionaryError, match=words):
        evolutionary_front(small, **arguments)


# --- the parts ----------------------------------------------------------------------------


def test_population_objectives_agree_with_evaluate(small):
    space = search_space(small.instance)
    X = np.random.default_rng(0).uniform(space.lo, space.hi, size=(25, small.instance.n))
    matrix = population_objectives(small.instance, X, ("F1", "F2", "F3", "T"))
    expected = [[(v := evaluate(small.instance, W)).F1, v.F2, v.F3, v.T] for W in X]
    np.testing.assert_allclose(matrix, expected, rtol=1e-12)


@pytest.mark.parametrize("n", [10, 1000])
def test_repair_meets_every_coupling_row(gen_problem, n):
    inst = prepare(parse_problem(gen_problem.generate(n=n, seed=1))).instance
    space = search_space(inst)
    rng = np.random.default_rng(n)
    # Uniform in the box (breaks the caps), near its lower corner (short of the demand
    # minimum) and at its upper corner (breaks everything upwards).
    X = np.vstack(
        [
            rng.uniform(space.lo, space.hi, size=(100, n)),
            space.lo + 0.01 * rng.uniform(size=(50, n)) * (space.hi - space.lo),
            np.tile(space.hi, (5, 1)),
        ]
    )
    _, G, h = coupling_rows(inst)
    repaired = repair_population(space, X)
    assert np.all(repaired @ G.T <= h)
    for W in repaired[::7]:
        check_feasible(inst, W)


def test_repair_leaves_feasible_individuals_alone(small):
    space = search_space(small.instance)
    X = np.tile(space.anchor, (3, 1))
    np.testing.assert_array_equal(repair_population(space, X), X)
