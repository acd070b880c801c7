"""The exact front spread over processes (issue 12, SPEC §9) is the sequential one: the same
points in the same order, the same sentences, whatever runs the grid points and in what order
they finish; and it still matches the brute-force front of the independent solver (cvxpy)."""

from __future__ import annotations

import multiprocessing
import random
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

from coopchain.models.augmecon import FrontStopped, WalkStats, augmecon
from coopchain.models.problem import parse_problem
from coopchain.models.solve import prepare
from tests.models.test_augmecon import brute_force_front, hull_distance, max_sense_matrix


@pytest.fixture(scope="module")
def processes():
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


def same_front(a, b) -> None:
    assert a.reported == b.reported and a.message == b.message
    assert len(a.points) == len(b.points)
    for p, q in zip(a.points, b.points):
        assert np.array_equal(p.allocation, q.allocation)
        assert p.values == q.values


def shuffled_threads(workers: int, seed: int):
    """A submit whose tasks finish in a scrambled order: each waits a random few milliseconds first."""
    pool = ThreadPoolExecutor(workers)
    rng = random.Random(seed)

    def submit(fn, *args):
        delay = rng.uniform(0.0, 0.02)
        return pool.submit(lambda: (time.sleep(delay), fn(*args))[1])

    return pool, submit


@pytest.mark.parametrize("objectives, seed", [(("F1", "F3", "T"), 21), (("F1", "F2", "F3"), 22), (("F1", "F2"), 23), (("F3", "T"), 24)])
def test_two_processes_give_the_sequential_front(gen_problem, processes, objectives, seed):
    inst = prepare(parse_problem(gen_problem.generate(n=12, seed=seed))).instance
    sequential = augmecon(inst, objectives, points=36)
    stats = WalkStats()
    parallel = augmecon(inst, objectives, points=36, submit=processes.submit, width=2, stats=stats)
    same_front(sequential, parallel)
    assert stats.peak == 2  # it did run two points at once


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_scrambled_finishing_order_gives_the_sequential_front(gen_problem, seed):
    inst = prepare(parse_problem(gen_problem.generate(n=10, seed=30 + seed))).instance
    for objectives in (("F1", "F3", "T"), ("F1", "F3")):
        sequential = augmecon(inst, objectives, points=49)
        pool, submit = shuffled_threads(4, seed)
        with pool:
            same_front(sequential, augmecon(inst, objectives, points=49, submit=submit, width=4))


def test_the_parallel_front_matches_brute_force(gen_problem, processes):
    # The reference of test_augmecon: a dense ε-grid solved by cvxpy.
    objectives = ("F1", "F3", "T")
    inst = prepare(parse_problem(gen_problem.generate(n=6, seed=11, alpha="uniform"))).instance
    front = augmecon(inst, objectives, points=64, submit=processes.submit, width=2)
    ours = max_sense_matrix(inst, [p.allocation for p in front.points], objectives)
    brute = max_sense_matrix(inst, brute_force_front(inst, objectives, per_axis=12), objectives)
    scale = np.maximum(brute.max(axis=0) - brute.min(axis=0), 1e-9)
    for row in ours / scale:
        assert not np.all(brute / scale >= row + 1e-6, axis=1).any()
    for row in brute / scale:
        assert hull_distance(row, ours / scale) <= 1.0 / 7.0 + 1e-6


def test_stop_cancels_the_pending_points(gen_problem):
    inst = prepare(parse_problem(gen_problem.generate(n=10, seed=41))).instance
    ran = []

    def submit(fn, *args):
        ran.append(fn.__name__)
        from coopchain.models.augmecon import _inline

        return _inline(fn, *args)

    asked = []

    def stop() -> bool:
        asked.append(1)
        return ran.count("solve_grid_point") >= 3

    with pytest.raises(FrontStopped):
        augmecon(inst, ("F1", "F3", "T"), points=100, submit=submit, stop=stop)
    # Stopped after its third point: of the 100, no other ran.
    assert ran.count("solve_grid_point") == 3
