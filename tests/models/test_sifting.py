"""Sifting (models.sifting) against cvxpy: the same optima of max F1 and min F3, certified.

The sizes here are small, so the module's thresholds are lowered to make the
working set and the sample a small part of the columns, as they are at 10^6.
"""

from __future__ import annotations

import numpy as np
import pytest

from coopchain.models import linear, sifting
from coopchain.models.certificate import instance_from_document, verify_certificate
from coopchain.models.problem import load_problem_json, to_instance, canonical_json
from tests.data.gen_problem import generate
from tests.reference import reference_f1, reference_f3


@pytest.fixture
def small_sifting(monkeypatch):
    monkeypatch.setattr(linear, "SIFT_FROM", 0)
    monkeypatch.setattr(sifting, "SAMPLE", 400)
    monkeypatch.setattr(sifting, "WORKING", 120)
    calls = []
    original = sifting.sift

    def counted(*args, **kwargs):
        result = original(*args, **kwargs)
        calls.append(result)
        return result

    monkeypatch.setattr(linear, "sift", counted)
    return calls


@pytest.mark.parametrize("seed, alpha", [(0, "uniform"), (1, "general"), (5, "uniform")])
@pytest.mark.parametrize("objective", ["F1", "F3"])
def test_sifted_optimum_equals_cvxpy_and_is_certified(small_sifting, seed, alpha, objective):
    import json

    problem = load_problem_json(json.dumps(generate(4000, 3, 3, seed, alpha)))
    inst, canonical = to_instance(problem), canonical_json(problem)
    solution = linear.solve_linear(inst, canonical, objective)
    assert small_sifting and small_sifting[0] is not None, "sifting must have answered, not the whole LP"
    assert small_sifting[0].working <= inst.n / 2
    reference, _ = (reference_f1 if objective == "F1" else reference_f3)(instance_from_document(json.loads(canonical)))
    ours = getattr(solution.values, objective)
    assert abs(ours - reference) <= 1e-7 * abs(reference)
    verified = verify_certificate(solution.certificate)
    assert verified.gap <= 1e-7


def test_sift_refuses_what_it_cannot_prove():
    from coopchain.models.formulation import new_highs

    rows = np.ones((1, 3))
    # An unbounded column: sifting does not answer; the whole LP says what is wrong.
    assert sifting.sift(new_highs, np.ones(3), np.zeros(3), np.array([1.0, np.inf, 1.0]), rows, np.array([0.0]), np.array([2.0]), True) is None
    # Rows that no x within the bounds meets: no proof of an optimum.
    assert sifting.sift(new_highs, np.ones(3), np.zeros(3), np.ones(3), rows, np.array([5.0]), np.array([6.0]), True) is None


def test_sift_solves_a_tiny_lp_exactly():
    from coopchain.models.formulation import new_highs

    # max x0 + 2 x1 + 3 x2, x0 + x1 + x2 <= 2, 0 <= x <= 1: the optimum is x = (0, 1, 1), value 5;
    # every y in [1, 2] is an optimal dual (x0 at 0 and x1 at 1 both keep reduced costs of the right sign).
    result = sifting.sift(new_highs, np.array([1.0, 2.0, 3.0]), np.zeros(3), np.ones(3), np.ones((1, 3)), np.array([-np.inf]), np.array([2.0]), True)
    assert result is not None
    assert np.allclose(result.col_value, [0.0, 1.0, 1.0])
    y = float(result.row_dual[0])
    assert 1.0 - 1e-9 <= y <= 2.0 + 1e-9
    assert np.allclose(result.col_dual, np.array([1.0, 2.0, 3.0]) - y)
