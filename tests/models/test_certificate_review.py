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
    refused(frozen("invalid", "decimal_cancellation_false_F2_optimum"), "bound_mismatch")
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
    inst = cv._PROBLEMS[digest]
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
