"""One description, two renderings: Pyomo and the highspy arrays give the same optima; tangent cuts agree on F2."""

import pytest

from coopchain.models.formulation import formulate, pyomo_model
from coopchain.models.outer_approximation import kelley_coordination
from coopchain.models.problem import parse_problem
from coopchain.models.solve import prepare, solve


@pytest.fixture(scope="module", params=[(30, 7, "uniform"), (40, 8, "general")], ids=["n30", "n40"])
def prepared(request, gen_problem):
    n, seed, alpha = request.param
    return prepare(parse_problem(gen_problem.generate(n=n, seed=seed, alpha=alpha)))


@pytest.mark.parametrize("objective", ["F1", "F3"])
def test_pyomo_and_arrays_give_the_same_optimum(prepared, objective):
    arrays = solve(prepared, objective, backend="highs")
    record = solve(prepared, objective, backend="pyomo")
    assert arrays.success and record.success
    value = getattr(arrays.values, objective)
    assert getattr(record.values, objective) == pytest.approx(value, rel=1e-9)


def test_formulation_of_record_exports_named_constraints(prepared, tmp_path):
    model = pyomo_model(formulate(prepared.instance), "F1")
    path = tmp_path / "allocation.lp"
    model.write(str(path), io_options={"symbolic_solver_labels": True})
    text = path.read_text()
    for name in ("cooperative_cap_r0", "demand", "enterprise_cap_r1", "reservation"):
        assert name in text


def test_tangent_cuts_agree_with_the_lagrangian_method(gen_problem):
    prepared = prepare(parse_problem(gen_problem.generate(n=12, seed=9)))
    ours = solve(prepared, "F2")
    cuts = kelley_coordination(prepared.instance, gap=1e-6)
    # Both bracket the same optimum: each one's allocation is below the other's bound.
    assert cuts.value == pytest.approx(ours.values.F2, rel=1e-6)
    assert cuts.value <= ours.bound
    assert ours.values.F2 <= cuts.bound * (1 + 1e-9)
