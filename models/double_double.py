"""Double-double arithmetic on numpy arrays, from IEEE basic operations only: the verifier's second filter.

A double-double (hi, lo) stands for hi + lo, about 106 bits.  Every function here uses +, −, × and ÷ of
doubles, which IEEE 754 rounds correctly on every machine (numpy's elementwise operations: no fused
multiply-add, no libm, no BLAS), so its results are the same bits everywhere, and its error bound
holds whatever the platform.  The verifier (models.certificate_verify) uses it when the plain
floating-point filter cannot decide a comparison: a logarithm here is within 2^-98 (|e| + 1) of the
true one (e the binary exponent of its argument), so only numbers within about 10^-28 of their
threshold still need the decimal path (docs/certificate.md, "Deterministic verdicts").

Error bounds are absolute, stated with u² = 2^-106 (u the unit roundoff of a double) times the
magnitudes of the operands, and kept loose by a factor of four or more over the published ones:
Dekker, "A floating-point technique for extending the available precision" (1971); Joldes, Muller,
Popescu, "Tight and rigorous error bounds for basic building blocks of double-word arithmetic",
ACM TOMS 44 (2017).  Underflow (results below 2^-969) voids the exactness of `two_prod`: callers
add an absolute 2^-1000 per operation, as the float filter does.

Imports numpy and the standard library only.
"""

from __future__ import annotations

import functools
from decimal import Context, Decimal, localcontext
from fractions import Fraction

import numpy as np

U2 = 2.0**-106  # u², u = 2^-53
_SPLIT = 134217729.0  # 2^27 + 1 (Dekker's split; exact for |x| < 2^996, far above what the verifier forms)


def two_sum(a, b):
    """s + e = a + b exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _fast_two_sum(a, b):
    """s + e = a + b exactly when |a| >= |b| (or a = 0)."""
    s = a + b
    return s, b - (s - a)


def _split(a):
    c = _SPLIT * a
    hi = c - (c - a)
    return hi, a - hi


def two_prod(a, b):
    """p + e = a·b exactly (Dekker), barring underflow."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def add(a, b):
    """a + b for double-doubles; error <= 4u² (|a| + |b|)."""
    s, e = two_sum(a[0], b[0])
    t, f = two_sum(a[1], b[1])
    s, e = _fast_two_sum(s, e + t)
    return _fast_two_sum(s, e + f)


def neg(a):
    return -a[0], -a[1]


def mul(a, b):
    """a·b for double-doubles; error <= 8u² |a| |b|."""
    p, e = two_prod(a[0], b[0])
    return _fast_two_sum(p, e + (a[0] * b[1] + a[1] * b[0]))


def mul_d(a, x):
    """a·x, a a double-double, x a double; error <= 8u² |a| |x|."""
    p, e = two_prod(a[0], x)
    return _fast_two_sum(p, e + a[1] * x)


def div(a, b):
    """a / b for double-doubles (b != 0); error <= 32u² |a / b|."""
    q1 = a[0] / b[0]
    r = add(a, neg(mul_d(b, q1)))
    q2 = r[0] / b[0]
    r = add(r, neg(mul_d(b, q2)))
    q3 = r[0] / b[0]
    q = _fast_two_sum(q1, q2)
    return add(q, (q3, 0.0 * q3))


def of(x):
    """A double (array) as a double-double."""
    x = np.asarray(x, dtype=float)
    return x, np.zeros_like(x)


def constant(q: Fraction) -> tuple[float, float]:
    """The double-double nearest a rational (hi + lo within 2u² |q|)."""
    hi = float(q)
    return hi, float(q - Fraction(hi))


def exact(a) -> Fraction:
    """The value of a scalar double-double, exactly."""
    return Fraction(float(a[0])) + Fraction(float(a[1]))


def total(a) -> tuple[tuple[float, float], float]:
    """Σ_i a_i by pairwise double-double addition (a fixed tree, the same everywhere): the sum and a bound on
    its error, 4u² ⌈log2 n⌉ Σ|a_i| (each level adds at most 4u² of the magnitudes it adds)."""
    hi, lo = np.asarray(a[0], dtype=float), np.asarray(a[1], dtype=float)
    magnitude = float(np.abs(hi).sum()) + float(np.abs(lo).sum())
    levels = 0
    while hi.size > 1:
        if hi.size % 2:
            hi, lo = np.append(hi, 0.0), np.append(lo, 0.0)
        hi, lo = add((hi[0::2], lo[0::2]), (hi[1::2], lo[1::2]))
        levels += 1
    if hi.size == 0:
        return (0.0, 0.0), 0.0
    return (float(hi[0]), float(lo[0])), 4 * U2 * levels * magnitude * (1 + 2.0**-40)


# --- the logarithm ---------------------------------------------------------------------------------
#
# ln x = e ln 2 + ln c + 2 atanh(s), x = 2^e m with m in [1/√2, √2), c = m rounded to 1/128 (ln c from a
# table made once in decimal), s = (m − c)/(m + c), |s| <= 1/362: the series s + s³/3 + … + s^11/11
# leaves less than 10^-33.  The error sums to about 13u² (|e| + 1); LOG_ERROR allows 2^-98 (|e| + 1).

_TABLE_STEP = 128
_DIGITS = Context(prec=60)


def _ln(q: Fraction) -> Decimal:
    with localcontext(_DIGITS):
        return (Decimal(q.numerator) / Decimal(q.denominator)).ln()


def _dd_of_decimal(d: Decimal) -> tuple[float, float]:
    hi = float(d)
    with localcontext(_DIGITS):
        return hi, float(d - Decimal(hi))


@functools.cache
def _log_tables():
    """ln 2, the table of ln c (high and low parts) and the series' coefficients: made at the first logarithm,
    not at import (256 decimal logarithms, ~40 ms of every `coopchain verify`'s start, most of which take none)."""
    log_c = [_dd_of_decimal(_ln(Fraction(i, _TABLE_STEP))) if i else (0.0, 0.0) for i in range(2 * _TABLE_STEP)]
    odd = [constant(Fraction(1, k)) for k in (11, 9, 7, 5, 3)]
    return _dd_of_decimal(_ln(Fraction(2))), np.array([x[0] for x in log_c]), np.array([x[1] for x in log_c]), odd


LOG_ERROR = 2.0**-98  # per unit of (|e| + 1)
_SQRT_HALF = 0.7071067811865476  # a double just above 1/√2: m below it is doubled


def log(x) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """ln x for double-doubles x > 0 (arrays): the value and a bound on its error, LOG_ERROR (|e| + 1),
    e the binary exponent.  The error of x itself (relative δ) adds δ (1 + δ) to the caller's bound."""
    ln2, log_c_hi, log_c_lo, odd = _log_tables()
    h, l = np.asarray(x[0], dtype=float), np.asarray(x[1], dtype=float)
    m, e = np.frexp(h)
    low = m < _SQRT_HALF
    m = np.where(low, 2 * m, m)
    e = np.where(low, e - 1, e).astype(float)
    l = np.ldexp(l, -e.astype(int))  # exact: a power of two
    i = np.rint(m * _TABLE_STEP).astype(int)
    c = i / _TABLE_STEP  # exact
    num = two_sum(m - c, l)  # m − c exact (Sterbenz: c/2 <= m <= 2c)
    den = add(two_sum(m, c), (l, np.zeros_like(l)))
    s = div(num, den)
    s2 = mul(s, s)
    p = (np.full_like(h, odd[0][0]), np.full_like(h, odd[0][1]))
    for coef in odd[1:]:
        p = add(mul(p, s2), (np.full_like(h, coef[0]), np.full_like(h, coef[1])))
    p = add(mul(p, s2), of(np.ones_like(h)))
    series = mul(s, p)
    series = (2 * series[0], 2 * series[1])
    out = add(add(mul_d((np.full_like(h, ln2[0]), np.full_like(h, ln2[1])), e), (log_c_hi[i], log_c_lo[i])), series)
    return out, LOG_ERROR * (np.abs(e) + 1)
