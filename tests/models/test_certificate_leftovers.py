"""Issue 10, what was left after the v2 review: a scalarisation's gap that no constant shifts (review F-3,
second half).

Independent references: exact arithmetic written here (fractions, decimal) for values, sizes and gaps;
cvxpy (tests/reference.py) for the optima.
"""

import copy
import json
import time
from decimal import Decimal, localcontext
from fractions import Fraction

import cvxpy as cp
import numpy as np
import pytest

from coopchain.models.certificate import CertificateError, certificate_document, verify_certificate
from coopchain.models.problem import parse_problem
from coopchain.models.scalarise import _certified
from coopchain.models.solve import prepare, solve
from tests.reference import reference_f2_uniform, spec_constraints


def refused(cert, code: str, problem: str | None = None) -> CertificateError:
    with pytest.raises(CertificateError) as caught:
        verify_certificate(cert, problem)
    assert caught.value.code == code, f"{caught.value.code}: {caught.value}"
    return caught.value


def _exact_columns(text: str) -> dict:
    doc = json.loads(text)
    ind, res = list(doc["indicators"]), list(doc["resources"])
    F = Fraction
    ents = doc["enterprises"]
    return {
        "c": [sum(F(doc["indicators"][k]) * F(e["benefit"][k]) for k in ind) for e in ents],
        "f": [sum(F(doc["resources"][r]["weight"]) * F(e["use"][r]) / F(doc["resources"][r]["cap"]) for r in res) for e in ents],
        "u0": [F(e["u0"]) for e in ents], "g": [F(e["g"]) for e in ents], "alpha": [F(e["alpha"]) for e in ents],
    }


def _old_gap(cert) -> float:
    """The gap as v1 (and v2 before this fix) stated it: relative to max(|value|, |bound|)."""
    v, b = Fraction(cert["scalarised_value"]), Fraction(cert["bound"])
    return float((b - v) / max(abs(v), abs(b)))


def _v1(cert) -> dict:
    """The same certificate in the v1 form (the problem embedded, the allocation by id), its gap as v1 writes it."""
    ids = [e["id"] for e in json.loads(cert.problem_text)["enterprises"]]
    out = {k: copy.deepcopy(v) for k, v in cert.items()}
    out.update(schema="coopchain/certificate/v1", problem=cert.problem_text, allocation=dict(zip(ids, cert["allocation"])), gap=_old_gap(cert))
    return out


@pytest.fixture(scope="module")
def flat_T(gen_problem):
    """T = Σ α_j (u0_j + g_j W_j) with u0 = 0.5 and g = 1e-9: T is 0.5 plus a few 1e-8, its constant dominates."""
    doc = gen_problem.generate(n=6, seed=3, alpha="uniform")
    for e in doc["enterprises"]:
        e["u0"], e["g"] = 0.5, 1e-9
    return prepare(parse_problem(doc))


def test_F3_T_constant_cannot_turn_a_false_claim_true(flat_T):
    """max F1 + 1e12·T: the constant 1e12·α·u0 = 5e11 made the gap of the min-F3 allocation (F1 at 72 % of the
    optimum's) 4.6e-8 relative to the shifted value. Relative to the objective's own size it is 0.33: refused."""
    P = flat_T
    inst = P.instance
    weights = {"F1": 1.0, "T": 1e12}
    honest = _certified(inst, P.canonical, "weighted", "", time.perf_counter(), weights=weights, kappa=0.0, at_least={}).certificate
    worse = solve(P, "F3").allocation
    bad = certificate_document(P.canonical, inst, "scalarised", worse, multipliers=honest["multipliers"], scalarisation=honest["scalarisation"])

    # The exact objective, its size (no constant) and the gap, here; the optimum by cvxpy.
    X = _exact_columns(P.canonical)
    W = [Fraction(w) for w in bad["allocation"]]
    wT = Fraction(weights["T"])
    value = sum(c * w for c, w in zip(X["c"], W)) + wT * sum(a * (u + g * w) for a, u, g, w in zip(X["alpha"], X["u0"], X["g"], W))
    size = sum(abs(c * w) for c, w in zip(X["c"], W)) + wT * sum(abs(a * g * w) for a, g, w in zip(X["alpha"], X["g"], W))
    Wv = cp.Variable(inst.n)
    objective = (inst.unit_benefit + 1e12 * inst.alpha * inst.g) @ Wv + 1e12 * float(inst.alpha @ inst.u0)
    best = cp.Problem(cp.Maximize(objective), spec_constraints(inst, Wv)).solve(solver="HIGHS")
    assert (Fraction(best) - value) / size > Fraction(1, 10)  # far from optimal, relative to the objective's own size
    assert _old_gap(bad) < 1e-7  # ... yet the old gap would have passed
    assert abs(bad["gap"] - float((Fraction(bad["bound"]) - value) / size)) <= 1e-9 * bad["gap"]  # the writer's gap is the new one

    refused(bad, "gap_exceeded")
    old_claim = copy.deepcopy(bad)
    old_claim["gap"] = _old_gap(bad)
    refused(old_claim, "gap_mismatch", bad.problem_text)
    refused(_v1(bad), "gap_exceeded")  # a v1 certificate states the old gap, and the gap over the size must meet the limit too

    verified = verify_certificate(honest)  # the optimum's own certificate still verifies, with the new gap
    hv = [Fraction(w) for w in honest["allocation"]]
    h_size = sum(abs(c * w) for c, w in zip(X["c"], hv)) + wT * sum(abs(a * g * w) for a, g, w in zip(X["alpha"], X["g"], hv))
    assert abs(Fraction(verified.gap) - (Fraction(honest["bound"]) - Fraction(honest["scalarised_value"])) / h_size) <= Fraction(1, 10**9)
    assert verify_certificate(_v1(honest)).gap == _old_gap(honest)


@pytest.fixture(scope="module")
def tiny_levels(gen_problem):
    """Every u0 and g × 1e-100: D and ψ = log F2² change by a constant (ψ ≈ −460), the maximiser does not.
    (The problem as generated, then scaled.)"""
    doc = gen_problem.generate(n=6, seed=3, alpha="uniform")
    plain = prepare(parse_problem(copy.deepcopy(doc)))
    for e in doc["enterprises"]:
        e["u0"] *= 1e-100
        e["g"] *= 1e-100
    return plain, prepare(parse_problem(doc))


def _exact_D(X: dict, W: list[Fraction]) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 50
        U = [Decimal(x.numerator) / Decimal(x.denominator) for x in (u + g * w for u, g, w in zip(X["u0"], X["g"], W))]
        n = len(U)
        C = ((sum(x.ln() for x in U) / n) - (sum(U) / n).ln()).exp()
        T = sum(Decimal(a.numerator) / Decimal(a.denominator) * x for a, x in zip(X["alpha"], U))
        return (C * T).sqrt()


def test_F3_log_F2_level_cannot_turn_a_false_claim_true(tiny_levels):
    """max κ·log F2² with levels × 1e-100: an allocation with F2 5e-6 below the optimum (50 times F2's own limit)
    had a gap of 4e-8 relative to |κψ| ≈ 460κ. Relative to ψ's own scale 2κ it is 5e-6: refused."""
    from coopchain.models.certificate import log_coupling

    plain, P = tiny_levels
    inst = P.instance
    honest = _certified(inst, P.canonical, "weighted", "", time.perf_counter(), weights={}, kappa=1.0, at_least={}).certificate
    W_opt, W_f3 = np.array(honest["allocation"]), solve(P, "F3").allocation
    psi_opt = log_coupling(inst, W_opt)
    lo, hi = 0.0, 1.0  # a feasible point on the segment to the min-F3 allocation, ψ about 1e-5 below the optimum
    for _ in range(60):
        t = (lo + hi) / 2
        lo, hi = (t, hi) if psi_opt - log_coupling(inst, (1 - t) * W_opt + t * W_f3) < 1e-5 else (lo, t)
    bad = certificate_document(P.canonical, inst, "scalarised", (1 - lo) * W_opt + lo * W_f3,
                               multipliers=honest["multipliers"], scalarisation=honest["scalarisation"])

    X = _exact_columns(P.canonical)
    D = _exact_D(X, [Fraction(w) for w in bad["allocation"]])
    # cvxpy's maximiser of F2 on the unscaled problem (it cannot work at 1e-100): the same maximiser here.
    reference = _exact_D(X, [Fraction(w) for w in reference_f2_uniform(plain.instance)[1]])
    assert D < reference * (1 - Decimal("2e-6"))  # a false claim: F2 well below what the reference allocation reaches
    assert _old_gap(bad) < 1e-7
    with localcontext() as ctx:
        ctx.prec = 50
        gap = (Decimal(bad["bound"]) - 2 * D.ln()) / 2  # κ = 1: size 2κ, value κψ = 2 log D
    assert abs(Decimal(bad["gap"]) - gap) <= Decimal("1e-12")
    refused(bad, "gap_exceeded")
    refused(_v1(bad), "gap_exceeded")
    assert verify_certificate(honest).gap <= 1e-7


# --- the second filter: double-double intervals decide what the float filter cannot (item 2) ------------


def test_double_double_log_and_sum_stay_within_their_error_bounds():
    """models.double_double against 80-digit decimal written here: ln of doubles and double-doubles over the
    whole range (subnormal to 1.8e308, the table's edges, around 1/√2 and 1), and a sum of 100,001 terms."""
    import math

    from coopchain.models import double_double as dd

    rng = np.random.default_rng(7)
    hi = np.concatenate([rng.uniform(1e-3, 1.0, 3000), 10.0 ** rng.uniform(-300, 300, 3000),
                         [1.0, 0.5, 2.0, 1 - 2.0**-53, 1 + 2.0**-52, 0.7071067811865476, 0.7071067811865475, 5e-324, 1.7976931348623157e308]
                         + [math.ldexp(i / 128 + 1 / 256, 0) for i in range(90, 182)]])
    lo = np.where(hi > 1e-290, hi * rng.uniform(-(2.0**-54), 2.0**-54, hi.size), 0.0)
    (h, l), err = dd.log((hi, lo))
    with localcontext() as ctx:
        ctx.prec = 80
        for k in range(hi.size):
            x = Decimal(float(hi[k])) + Decimal(float(lo[k]))
            assert abs(Decimal(float(h[k])) + Decimal(float(l[k])) - x.ln()) <= Decimal(float(err[k])), (hi[k], lo[k])
    terms = rng.normal(size=100_001) * 10.0 ** rng.uniform(-5, 5, 100_001)
    tail = terms * 2.0**-60
    value, bound = dd.total((terms, tail))
    exact = sum(Fraction(x) for x in terms.tolist()) + sum(Fraction(x) for x in tail.tolist())
    assert abs(dd.exact(value) - exact) <= Fraction(bound)


@pytest.fixture(scope="module")
def f2_300(gen_problem):
    P = prepare(parse_problem(gen_problem.generate(n=300, seed=2, alpha="uniform")))
    return solve(P, "F2").certificate


def _ulps(x: float, k: int) -> float:
    import math

    for _ in range(abs(k)):
        x = math.nextafter(x, math.inf if k > 0 else -math.inf)
    return x


def _no_exact_path(monkeypatch):
    from coopchain.models import certificate_verify as cv

    def refuse(self, units, what):
        raise AssertionError(f"the exact path ran for {what}")

    monkeypatch.setattr(cv.Exact, "spend", refuse)


def _code(cert, problem) -> str | None:
    try:
        verify_certificate(cert, problem)
        return None
    except CertificateError as e:
        return e.code


@pytest.mark.parametrize("key", ["F2", "C"])
@pytest.mark.parametrize("k", range(-3, 4))
def test_values_on_their_threshold_are_decided_by_the_second_filter(f2_300, monkeypatch, key, k):
    """values.F2 (D) or values.C claimed k ulps from value·(1 + 1e-9), where the float filter cannot decide:
    value_mismatch exactly when |claim − value| > 1e-9 |value| (value in 50-digit decimal here), and the exact
    path (a decimal logarithm per enterprise) never runs."""
    X = _exact_columns(f2_300.problem_text)
    W = [Fraction(w) for w in f2_300["allocation"]]
    with localcontext() as ctx:
        ctx.prec = 50
        U = [Decimal(x.numerator) / Decimal(x.denominator) for x in (u + g * w for u, g, w in zip(X["u0"], X["g"], W))]
        C = ((sum(x.ln() for x in U) / len(U)) - (sum(U) / len(U)).ln()).exp()
        T = sum(Decimal(a.numerator) / Decimal(a.denominator) * x for a, x in zip(X["alpha"], U))
        value = {"F2": (C * T).sqrt(), "C": C}[key]
        claim = _ulps(float(value * (1 + Decimal(1e-9))), k)
        mismatch = abs(Decimal(claim) - value) > Decimal(1e-9) * value
    cert = copy.deepcopy(dict(f2_300))
    cert["values"][key] = claim
    _no_exact_path(monkeypatch)
    assert _code(cert, f2_300.problem_text) == ("value_mismatch" if mismatch else None)


@pytest.fixture(scope="module")
def f2_general_200(gen_problem):
    P = prepare(parse_problem(gen_problem.generate(n=200, seed=4, alpha="general")))
    return solve(P, "F2").certificate


@pytest.mark.parametrize("where", ["uniform bound", "general bound", "general piece"])
@pytest.mark.parametrize("k", range(-3, 4))
def test_bound_on_its_threshold_gets_the_exact_paths_verdict_without_it(f2_300, f2_general_200, monkeypatch, where, k):
    """The bound (or a general-α piece's bound) claimed k ulps from bound + 1e-9·scale (the review's F-2
    construction): the two filters give the verdict the exact path gives (run here with the second filter
    off), and never run the exact path."""
    from coopchain.models import certificate_verify as cv

    base = f2_300 if where == "uniform bound" else f2_general_200
    cert = copy.deepcopy(dict(base))
    if where.endswith("piece"):
        piece = cert["pieces"][len(cert["pieces"]) // 2]
        piece["bound"] = _ulps(piece["bound"] + 1e-9 * abs(piece["bound"]), k)
    else:
        cert["bound"] = _ulps(base["bound"] + 1e-9 * base["values"]["F2"], k)
    with monkeypatch.context() as m:
        m.setattr(cv, "_interval", lambda est: None)
        exact_verdict = _code(cert, base.problem_text)
    _no_exact_path(monkeypatch)
    assert _code(cert, base.problem_text) == exact_verdict
