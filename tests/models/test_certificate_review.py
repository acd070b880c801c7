"""Regression tests for the adversarial review of the verifier (after issue 10): F-1 … F-5.

Independent references: the exact re-implementation in test_certificate_attacks (Fractions and
50-digit decimal from the problem's JSON), and summation orders written here.
"""

import json

import numpy as np
import pytest

from coopchain.models import certificate_verify as cv
from coopchain.models.certificate import CertificateError, verify_certificate_text
from tests.models.test_certificate_attacks import allocation, exact_instance, exact_values, frozen, refused


def test_F1_cancelling_huge_multipliers_cannot_certify_a_suboptimal_F2():
    """Multipliers of 1e58 that cancel exactly used to push the bound to a 60-digit decimal path that lost
    the small terms, and an allocation 20 % below the optimum was 'valid: max F2'."""
    bad = json.loads(frozen("invalid", "decimal_cancellation_false_F2_optimum"))
    good = json.loads(frozen("valid", "decimal_cancellation_true_optimum_reference"))
    assert bad["problem"] == good["problem"]
    P = exact_instance(good)
    D_bad = exact_values(P, allocation(bad))["F2"]
    D_good = exact_values(P, allocation(good))["F2"]
    assert D_bad < D_good * 9 / 10  # the refused allocation is far from optimal
    assert max(bad["multipliers"]) > 1e57
    e = refused(frozen("invalid", "decimal_cancellation_false_F2_optimum"), "bound_mismatch")
    shown = float(str(e).rsplit("but it is ", 1)[1])  # the exact bound, not the float filter's (BLAS-dependent) one
    assert abs(shown - float(D_good)) <= 1e-9
    verified = verify_certificate_text(frozen("valid", "decimal_cancellation_true_optimum_reference"))
    assert abs(verified.values.F2 - float(D_good)) <= 1e-12


def _verdict(text):
    try:
        v = verify_certificate_text(text)
        return ("valid", v.proven, v.bound, v.gap)
    except CertificateError as e:
        return (e.code, str(e))


def test_F1b_epsilon_row_verdict_does_not_depend_on_the_blas_summation_order():
    """The ε-row's limit sits where c_j = Σ_k a_k e_jk summed in another order (another BLAS) flips the row;
    the verifier's rows are summed in a fixed order, so a machine whose matvec sums otherwise agrees."""
    text = frozen("valid", "blas_dependent_epsilon_row")
    cv._PROBLEMS.clear()
    first = _verdict(text)
    assert first[0] == "valid"
    digest = json.loads(text)["problem_hash"]
    inst = cv._PROBLEMS[digest].instance
    B, a = inst.benefit, inst.indicator_weight
    other = B[:, 0] * a[0] + (B[:, 1] * a[1] + B[:, 2] * a[2])  # a0e0 + (a1e1 + a2e2)
    assert not np.array_equal(other, B @ a)  # the two orders give different doubles here
    f_other = inst.use[:, ::-1] @ (inst.resource_weight / inst.cooperative_cap)[::-1]
    saved = dict(inst.__dict__)
    try:
        inst.__dict__["unit_benefit"] = other
        inst.__dict__["unit_footprint"] = f_other
        assert _verdict(text) == first
    finally:
        inst.__dict__.clear()
        inst.__dict__.update(saved)
        cv._PROBLEMS.clear()


def test_F3_a_far_chebyshev_reference_is_refused():
    """z_F1 = 1e30 made the min-F3 allocation (F1 half its maximum) 'optimal' with gap 1e-26."""
    cert = json.loads(frozen("invalid", "chebyshev_far_reference"))
    P = exact_instance(cert)
    F1 = exact_values(P, allocation(cert))["F1"]
    assert F1 < 13000  # max F1 on this problem is 23769.85…: the allocation is far from F1-optimal
    assert cert["scalarisation"]["chebyshev"]["reference"]["F1"] == 1e30
    e = refused(frozen("invalid", "chebyshev_far_reference"), "degenerate_scalarisation")
    assert "D6" in str(e)


def test_F4_a_lexicographic_certificate_is_named_for_what_it_proves():
    """The stage limits F1 >= 0, F3 <= 1e15 are not the earlier stages' optima (max F1 is 23769.85…, this
    allocation has F1 = 21471): the verdict must not say "lexicographic", only the ε-constraint problem."""
    cert = json.loads(frozen("valid", "lexicographic_unproven_stages"))
    assert cert["scalarisation"]["method"] == "lexicographic"
    F1 = exact_values(exact_instance(cert), allocation(cert))["F1"]
    assert F1 < 23769  # not F1-optimal, so "lexicographic F1 > …" would be false
    proven = verify_certificate_text(frozen("valid", "lexicographic_unproven_stages")).proven
    assert proven.startswith("ε-constraint: max 0.5·log F2² subject to F1 >= 0.0, F3 <= 1000000000000000.0")
    assert "is not proven" in proven and not proven.startswith("lexicographic")


def test_F5_a_floor_multiplier_is_not_described_as_a_weight_and_numbers_print_exactly():
    cert = json.loads(frozen("valid", "epsilon_floor_kappa_described_as_weight"))
    spec = cert["scalarisation"]
    assert spec["kappa"] > 0 and spec["coordination_at_least"] == 0.5
    proven = verify_certificate_text(frozen("valid", "epsilon_floor_kappa_described_as_weight")).proven
    assert proven == f"ε-constraint: max {spec['weights']['F1']!r}·F1 subject to F2 >= 0.5"
    assert "log F2²" not in proven
    # Weights that differ in the 7th digit give different verdicts.
    a = cv.describe(cv.Spec("weighted", {"F1": 23769.85348}, 0.0, (), None, None, None))
    b = cv.describe(cv.Spec("weighted", {"F1": 23769.85351}, 0.0, (), None, None, None))
    assert a != b and "23769.85348" in a


def test_F5_a_solve_output_must_name_its_certificates_objective():
    """A solve output saying "objective": "F2" around an F1 certificate was 'valid: max F1'."""
    from tests.models.test_certificate_attacks import DATA

    out = json.loads((DATA / "solve_output_toplevel_objective_unchecked.json").read_bytes())
    inner = out["certificate"]
    assert out["objective"] == "F2" and inner["objective"] == "F1"
    verify_certificate_text(json.dumps(inner))  # the certificate itself is valid: for F1
    with pytest.raises(CertificateError) as caught:
        cv.check_solve_output(out, inner)
    assert caught.value.code == "output_mismatch"
    cv.check_solve_output({**out, "objective": "F1"}, inner)  # the honest output passes
    with pytest.raises(CertificateError):
        cv.check_solve_output({**out, "objective": "F1", "status": "failed"}, inner)


def _nudged_f2(name="f2_uniform"):
    """A frozen F2 certificate with its bound moved onto the agreement threshold (+1e-9·F2): only exact
    arithmetic can decide it (the review's F-2 construction, on a small problem)."""
    cert = json.loads(frozen("valid", name))
    cert["bound"] = cert["bound"] + 1e-9 * cert["values"]["F2"]
    return json.dumps(cert)


def test_F2_exact_work_is_budgeted_and_refused_as_too_large(monkeypatch):
    text = _nudged_f2()
    # Without the second filter (double-double intervals, which decide this one), the exact path decides.
    monkeypatch.setattr(cv, "_interval", lambda est: None)
    monkeypatch.setattr(cv, "MAX_EXACT_WORK", 1)
    cv._PROBLEMS.clear()
    e = refused(text.encode(), "too_large")
    assert "budget" in str(e)
    monkeypatch.setattr(cv, "MAX_EXACT_WORK", 100_000)
    assert _verdict(text.encode())[0] in ("valid", "bound_mismatch")  # decided, within the budget


def test_exact_log_terms_bound_each_maximum_from_above_and_tightly():
    """Σ_j max_W [log(u0 + g W) − k W] over the box, against the closed form in 50-digit decimal written
    here: the verifier's tangent-line value is an upper bound, within 1e-30."""
    from decimal import Decimal, localcontext
    from fractions import Fraction

    cert = json.loads(frozen("valid", "f2_uniform"))
    inst, _ = cv.read_problem(cert["problem"])
    lo, hi = cv.outward_box(inst)
    rng = np.random.default_rng(7)
    for trial in range(4):
        # slopes that put the maximiser at lo, at hi and inside
        U_mid = inst.u0 + inst.g * (lo + hi) / 2
        ks = [Fraction(float(x)) for x in inst.g / U_mid * rng.uniform(0.2, 3.0, inst.n)]
        X = cv.Exact(inst, np.zeros(inst.n))
        got = cv._log_terms_exact(ks, inst, X)
        with localcontext() as ctx:
            ctx.prec = 50
            want = Decimal(0)
            for j, k in enumerate(ks):
                k_d = Decimal(k.numerator) / Decimal(k.denominator)
                u0, g = Decimal(float(inst.u0[j])), Decimal(float(inst.g[j]))
                a, b = Decimal(float(lo[j])), Decimal(float(hi[j]))
                w = min(max((g / k_d - u0) / g, a), b)  # concave: the clipped stationary point
                want += (u0 + g * w).ln() - k_d * w
            got_d = Decimal(got.numerator) / Decimal(got.denominator)
            assert got_d >= want - Decimal(10) ** -45
            assert got_d - want <= Decimal(10) ** -30


def test_exp_of_a_huge_psi_bound_does_not_overflow():
    """A ψ-bound above 1419 made math.exp raise OverflowError inside _exp_half (reported as `malformed`,
    a code that depended on the machine); D <= 1, so such a bound proves nothing and is clamped."""
    from decimal import Decimal
    from fractions import Fraction

    est = cv._exp_half(cv.Estimate(3000.0, 1.0, 3000.0, lambda: Fraction(3000)))
    assert est.value > 1e300 and est.error == float("inf")
    assert est.exact() == Decimal(1000).exp(cv.ex._CONTEXT)
