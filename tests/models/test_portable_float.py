"""models.portable_float against decimal's correctly rounded functions (an independent reference: libmpdec), and
the verifier's float filter free of the platform's libm and BLAS outside allocation contract v1's legacy mode."""

from __future__ import annotations

import ast
import math
from decimal import Context, Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from coopchain.models import portable_float as pf

WIDE = Context(prec=60)


def ulps_off(got: float, x: float, fn) -> float:
    true = fn(Decimal(x))
    if true == 0:
        return 0.0 if got == 0 else math.inf
    return float(abs((Decimal(got) - true) / Decimal(math.ulp(float(true)))))


def sample() -> np.ndarray:
    rng = np.random.default_rng(2026)
    return np.concatenate([
        np.ldexp(rng.uniform(0.5, 1.0, 20000), rng.integers(-1074, 1024, 20000)),  # every exponent, subnormals included
        1 + rng.uniform(-1e-3, 1e-3, 5000), 1 + rng.uniform(-1e-12, 1e-12, 2000),  # near 1, where log is small
        rng.uniform(0.5, 2.0, 5000),
        2.0 ** np.arange(-1074, 1024, 7), np.nextafter(2.0 ** np.arange(-1000, 1000, 7), 0),
        [5e-324, 0.7071067811865475, 0.7071067811865476, 0.7071067811865477, 1.0, 1.4142135623730951, 1.7976931348623157e308],
    ])


def test_log_is_within_three_ulps_of_the_correctly_rounded_logarithm():
    xs = sample()
    got = pf.log(xs)
    worst = max(ulps_off(g, x, lambda d: d.ln(WIDE)) for x, g in zip(xs.tolist(), got.tolist()))
    assert worst <= 3


def test_log_of_special_values_is_numpys():
    special = np.array([0.0, -0.0, -1.0, -math.inf, math.inf, math.nan, 5e-324])
    with np.errstate(all="ignore"):
        want = np.log(special)
    got = pf.log(special)
    assert np.array_equal(np.isnan(got), np.isnan(want)) and np.array_equal(got[~np.isnan(got)][:5], want[~np.isnan(want)][:5])


@pytest.mark.parametrize("x", [5e-324, 1e-300, 0.1, 0.5, 1.0, 1.5, 2.0, 10.0, 1e300, 1.7976931348623157e308])
def test_ln_is_the_nearest_double_or_next_to_it(x):
    assert ulps_off(pf.ln(x), x, lambda d: d.ln(WIDE)) <= 1


@pytest.mark.parametrize("y", [-0.999999, -0.5, -1e-10, -1e-21, 0.0, 1e-300, 1e-21, 1e-19, 1e-10, 0.5, 3.0, 1e300])
def test_ln1p_is_the_nearest_double_or_next_to_it(y):
    assert ulps_off(pf.ln1p(y), y, lambda d: WIDE.ln(WIDE.add(1, d)) if abs(d) > Decimal("1e-40") else d) <= 1


@pytest.mark.parametrize("x", [-745.0, -700.0, -1.0, -1e-10, 0.0, 1e-10, 0.5, 1.0, 350.0, 700.0])
def test_exp_is_the_nearest_double_or_next_to_it(x):
    assert ulps_off(pf.exp(x), x, lambda d: d.exp(WIDE)) <= 1


def test_scalar_functions_ignore_the_callers_decimal_context_and_traps():
    from decimal import localcontext

    with localcontext(prec=3) as ctx:
        ctx.traps[__import__("decimal").Overflow] = True
        assert pf.ln1p(1.234567e-21) == pytest.approx(1.234567e-21, rel=1e-15)
        assert pf.ln(3.0) == pytest.approx(math.log(3.0), rel=1e-15)
        assert pf.exp(1e7) == math.inf and pf.exp(-1e7) == 0.0


def test_log_keeps_the_shape_of_what_it_is_given():
    assert pf.log(np.float64(2.0)).shape == () and float(pf.log(np.array(2.0))) == pytest.approx(math.log(2.0), rel=1e-15)
    assert pf.log(np.ones((2, 3))).shape == (2, 3)


def test_scalar_functions_fail_where_math_does():
    for fn, bad in ((pf.ln, 0.0), (pf.ln, -1.0), (pf.ln1p, -1.0), (pf.ln1p, -2.0)):
        with pytest.raises(ValueError):
            fn(bad)
    assert pf.ln(math.inf) == math.inf and math.isnan(pf.ln(math.nan)) and pf.ln1p(math.inf) == math.inf
    assert pf.exp(1000.0) == math.inf and pf.exp(-1000.0) == 0.0


def test_rows_dot_is_within_the_verifiers_error_bound_of_the_exact_product():
    rng = np.random.default_rng(7)
    rows = rng.normal(size=(6, 500)) * 10.0 ** rng.integers(-8, 8, size=(6, 1))
    w = np.abs(rng.normal(size=6)) * np.array([1, 0, 1, 0, 0, 1])
    got = pf.rows_dot(rows, w)
    for j in range(rows.shape[1]):
        exact = sum((Fraction(w[i]) * Fraction(rows[i, j]) for i in range(6)), Fraction(0))
        bound = 2 * (6 + 4) * 2.0**-53 * float(np.abs(rows[:, j]) @ w)  # the verifier's S (m + 4) u Σ|w_i rows_ij|
        assert abs(Fraction(got[j]) - exact) <= Fraction(bound)


def test_rows_dot_and_dot_use_no_blas():
    """The products are elementwise IEEE operations summed in a fixed order: the same bits as written out."""
    rows, w = np.arange(12.0).reshape(3, 4) / 7, np.array([0.3, 0.0, 1.7])
    assert pf.rows_dot(rows, w).tolist() == (np.zeros(4) + rows[0] * 0.3 + rows[2] * 1.7).tolist()
    assert pf.dot(w, w) == float(np.sum(w * w))


# --- the verifier: no libm, no BLAS outside its legacy helpers ---------------------------------------------

LEGACY_HELPERS = {"_log", "_ln", "_ln1p", "_exp", "_rows_dot", "_dot"}
# Whatever a libm, a SIMD loop or a BLAS computes, under any module's name: numpy's and math's transcendental
# functions, non-integer powers, and products that a BLAS sums in its own order.
PLATFORM_NAMES = {"log", "log2", "log10", "log1p", "exp", "exp2", "expm1", "power", "pow", "float_power", "dot", "vdot", "inner",
                  "matmul", "tensordot", "einsum", "linalg", "sin", "cos", "tan", "arctan", "tanh", "sinh", "cosh", "cbrt", "logaddexp", "hypot"}
VERIFIER_MODULES = ("certificate_verify.py", "exact.py", "double_double.py", "portable_float.py", "problem_rules.py", "problem_form.py")


def platform_uses(source: str, allowed: set[str]) -> list[str]:
    """Uses in `source` of numpy's and math's PLATFORM_NAMES, `@`, and ** with a non-integer exponent (on a base
    other than an integer literal), outside the functions named in `allowed`."""
    found = []

    def visit(node, inside: str | None):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inside = node.name if inside is None or inside not in allowed else inside
        free = inside not in allowed
        if free and isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            found.append(f"line {node.lineno}: a matrix product (@)")
        if free and isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            right, base = node.right, node.left
            negated = isinstance(right, ast.UnaryOp) and isinstance(right.op, ast.USub)
            exponent = right.operand if negated else right
            int_exponent = isinstance(exponent, ast.Constant) and type(exponent.value) is int
            exact = (
                int_exponent and not negated  # x ** 2: repeated products
                or isinstance(base, ast.Constant) and type(base.value) is int and not isinstance(exponent, ast.Constant)  # 10 ** k
                or isinstance(base, ast.Constant) and base.value == 2 and int_exponent  # 2.0 ** -53: a power of two
            )
            if not exact:
                found.append(f"line {node.lineno}: a power (**)")
        # numpy's and math's functions by their modules' names; `dot` on anything (ndarray.dot is a BLAS product).
        # Decimal's own .ln() and .exp() (correctly rounded) are called on numbers and contexts, not on modules.
        if free and isinstance(node, ast.Attribute) and node.attr in PLATFORM_NAMES and (
                node.attr in ("dot", "vdot", "matmul") or isinstance(node.value, ast.Name) and node.value.id in ("np", "numpy", "math", "cmath")
                or isinstance(node.value, ast.Attribute) and node.value.attr == "linalg"):
            found.append(f"line {node.lineno}: .{node.attr}")
        if isinstance(node, ast.ImportFrom) and node.module in ("math", "numpy", "cmath") and any(a.name in PLATFORM_NAMES for a in node.names):
            found.append(f"line {node.lineno}: from {node.module} import {', '.join(a.name for a in node.names)}")
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(ast.parse(source), None)
    return found


@pytest.mark.parametrize("module", VERIFIER_MODULES)
def test_the_verifier_calls_no_platform_log_exp_or_blas_outside_its_legacy_helpers(module):
    source = (Path(__file__).resolve().parents[2] / "models" / module).read_text()
    assert platform_uses(source, LEGACY_HELPERS if module == "certificate_verify.py" else set()) == []


def test_the_guard_sees_what_it_guards_against():
    snippet = """
import numpy as np, math
from math import log
def f(a, b, x):
    return np.matmul(a, b) + a.dot(b) + np.einsum("i,i", a, b) + np.power(x, 0.5) + x ** 1.5 + np.log2(x) + np.expm1(x) \
        + math.log2(x) + np.linalg.norm(x) + a @ b + np.log(x) + math.exp(x)
"""
    assert len(platform_uses(snippet, set())) == 13
