"""Floating-point kernels that give the same bits on every machine (SPEC §4: no platform libm, no BLAS build,
in a verdict).

The certificate verifier's float filter decides most comparisons in double precision and hands the rest to
exact arithmetic; which comparisons it hands over, and so whether a work budget runs out, depends on the
estimates' last bits.  numpy's `log` has SIMD variants chosen by the CPU, `math.log` is the platform's
libm, and a BLAS product sums in an order its kernel chooses: each can move those bits.  These kernels use
only IEEE-754 +, −, ×, ÷ (correctly rounded everywhere), exact scalings (`frexp`), numpy's pairwise sums in a
fixed layout, and the `decimal` module (correctly rounded, libmpdec on every platform).

Accuracy (tests/models/test_portable_float.py, against decimal's correctly rounded logarithm): `log` within
3 ulps of log x (2.3 the most found), far inside the 2^-40 the verifier's error bounds allow a logarithm.
"""

from __future__ import annotations

import math
from decimal import Context, Decimal

import numpy as np

_LN2 = 0.6931471805599453  # ln 2 rounded to the nearest double
_SQRT_HALF = 0.7071067811865476
# atanh series: log m = 2 atanh(s), s = (m − 1)/(m + 1), |s| <= 3 − 2√2 < 0.1716 for m in [√½, √2):
# 2 atanh(s) = 2s + s·Σ_{k>=1} 2 z^k / (2k + 1), z = s²; the terms past k = 11 are below 2^-60 of the sum.
_SERIES = tuple(2.0 / (2 * k + 1) for k in range(1, 12))
# Fixed contexts, never the caller's (decimal's current context is per thread and may be changed); no traps:
# an overflow is infinity, an underflow zero, as in IEEE arithmetic.
_CONTEXT = Context(prec=30, traps=[])
_WIDE = Context(prec=60, traps=[])


def log(x: np.ndarray) -> np.ndarray:
    """Natural logarithm, elementwise: −inf at 0, NaN below 0 and at NaN, +inf at +inf, as numpy's."""
    given = np.asarray(x, dtype=float)
    x = given.reshape(-1)  # numpy scalars and 0-d arrays too (the steps below work in place)
    m, e = np.frexp(x)  # x = m·2^e exactly, 0.5 <= |m| < 1
    low = m < _SQRT_HALF
    m *= low + 1.0  # ×2 where low (exact): m in [√½, √2); numpy's where= loop is 20 times slower
    np.subtract(e, low, out=e, casting="unsafe")
    with np.errstate(all="ignore"):  # 0, negatives, inf and NaN are set below
        m -= 1.0  # f = m − 1, exact (Sterbenz)
        s = np.add(m, 2.0)
        np.divide(m, s, out=s)  # s = f / (2 + f)
        z = np.multiply(s, s)
        series = np.multiply(z, _SERIES[-1])
        for c in _SERIES[-2::-1]:
            series += c
            series *= z
        series *= s
        out = np.multiply(e, _LN2)  # the exponent: an exact integer times ln 2, one rounding
        out += series
        s *= 2.0
        out += s
    finite_positive = (x > 0) & (x < math.inf)
    if not finite_positive.all():
        out = np.where(finite_positive, out, np.where(x == 0, -math.inf, np.where(x == math.inf, math.inf, math.nan)))
    return out.reshape(given.shape)


def ln(x: float) -> float:
    """Natural logarithm of one double: decimal's correctly rounded logarithm to 30 digits, then the nearest
    double.  As math.log: inf at inf, NaN at NaN, ValueError at 0 and below."""
    if math.isnan(x) or x == math.inf:
        return x
    if not x > 0:
        raise ValueError("math domain error")
    return float(_CONTEXT.ln(Decimal(x)))


def ln1p(y: float) -> float:
    """log(1 + y) for y > −1: below 10^-20 in magnitude y − y²/2 (the rest is below 10^-40 of it), else decimal's
    logarithm of 1 + y held to 60 digits, which keeps y's leading 40."""
    if math.isnan(y) or y == math.inf:  # as math.log1p
        return y
    if not y > -1:
        raise ValueError("math domain error")
    d = Decimal(y)
    if abs(y) < 1e-20:
        return float(_WIDE.subtract(d, _WIDE.divide(_WIDE.multiply(d, d), 2)))
    return float(_WIDE.ln(_WIDE.add(1, d)))


def exp(x: float) -> float:
    """e^x of one double: decimal's correctly rounded exponential to 30 digits, then the nearest double (inf
    past the largest double, where math.exp raises OverflowError; 0 far below)."""
    if math.isnan(x):
        return math.nan
    return float(_CONTEXT.exp(Decimal(x)))


def rows_dot(rows: np.ndarray, w: np.ndarray) -> np.ndarray:
    """rowsᵀw = Σ_i w_i rows_i, summed row after row in order (a BLAS product chooses its own order), over the
    rows whose weight is not zero (a certificate's multipliers are mostly zero; a finite row times zero adds
    nothing)."""
    out = np.zeros(rows.shape[1])
    step = np.empty_like(out)
    for i in np.flatnonzero(w).tolist():
        out += np.multiply(rows[i], w[i], out=step)
    return out


def dot(a: np.ndarray, b: np.ndarray) -> float:
    """a·b: elementwise products, then numpy's pairwise sum (a fixed order for a given length)."""
    return float(np.multiply(a, b).sum())
