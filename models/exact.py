"""Verdicts that are the same on every machine: a floating-point filter, then exact arithmetic (SPEC §4).

A certificate check compares a number the verifier computes (a row's activity, an
objective, a dual bound) with a threshold.  numpy computes it fast, but the last
bits depend on the BLAS build's summation order and on the platform's log and exp.
So each computed number comes with an error bound that holds whatever that order
and whatever libm (within `LIBM_RELATIVE`): when the threshold lies outside
value ± error, the floating-point answer is the exact answer.  Otherwise the
number is recomputed exactly: linear quantities with `fractions.Fraction` (every
double is a dyadic rational, so sums and products are exact), logarithms and
exponentials with `decimal` at `DECIMAL_DIGITS` digits (each operation correctly
rounded, the same on every machine).  This is the scheme of robust geometric
predicates (Shewchuk 1997; CGAL's filtered kernels).  docs/certificate.md derives
the error bounds.

This module imports numpy and the standard library only.
"""

from __future__ import annotations

import math
from decimal import Context, Decimal, localcontext
from fractions import Fraction

UNIT = 2.0**-53  # unit roundoff of a double
# Largest relative error assumed of one platform log, log1p or exp: 2^-40 is 8,192 ulps, far
# above any libm in use (glibc, musl, macOS, MSVC and numpy's SIMD paths stay within 4 ulps).
LIBM_RELATIVE = 2.0**-40
# Safety factor on every derived bound (second-order terms, the bound's own rounding).
SAFETY = 2.0
# Absolute allowance per operation for underflow (a subnormal result loses relative accuracy).
TINY = 2.0**-1000
# Digits of the decimal path: far beyond the 17 digits of a double; a verdict that this
# cannot decide (a value within 10^-45 of its threshold, relatively) is taken as decided by it.
DECIMAL_DIGITS = 60
_CONTEXT = Context(prec=DECIMAL_DIGITS)


def summation_error(count: int, magnitude: float) -> float:
    """Bound on |computed − exact| for a sum of `count` rounded terms of total magnitude `magnitude`,
    in any order (Higham, Accuracy and Stability of Numerical Algorithms, §4.2: γ_{n−1} Σ|x_i|)."""
    return SAFETY * ((count + 4) * UNIT * magnitude + (count + 4) * TINY)


def decide_le(value: float, error: float, threshold: float, threshold_error: float, exact, refined=None) -> bool:
    """Whether the exact quantity is <= the exact threshold.

    `value` and `threshold` are floating-point estimates within `error` and
    `threshold_error` of the exact numbers; `refined()` (optional, the second filter:
    double-double intervals, models.double_double) returns True or False when it can
    decide, else None; `exact()` returns the exact pair (Fraction or Decimal) and runs
    only when neither can decide.
    """
    margin = error + threshold_error + UNIT * 4 * (abs(value) + abs(threshold))
    if math.isfinite(value) and math.isfinite(threshold) and math.isfinite(margin):
        if value <= threshold - margin:
            return True
        if value > threshold + margin:
            return False
    if refined is not None:
        verdict = refined()
        if verdict is not None:
            return verdict
    x, t = exact()
    return x <= t


# --- exact linear algebra on doubles --------------------------------------------------------


def fr(x: float) -> Fraction:
    return Fraction(float(x))


def exact_sum(values) -> Fraction:
    """Σ values exactly, for doubles: scaled to a common power of two and summed as integers."""
    numerators, shifts = [], []
    for x in values:
        n, d = float(x).as_integer_ratio()
        numerators.append(n)
        shifts.append(d.bit_length() - 1)
    if not numerators:
        return Fraction(0)
    top = max(shifts)
    return Fraction(sum(n << (top - s) for n, s in zip(numerators, shifts)), 1 << top)


def exact_dot(a, b) -> Fraction:
    """Σ a_i b_i exactly, for doubles."""
    numerators, shifts = [], []
    for x, y in zip(a, b):
        nx, dx = float(x).as_integer_ratio()
        ny, dy = float(y).as_integer_ratio()
        numerators.append(nx * ny)
        shifts.append(dx.bit_length() + dy.bit_length() - 2)
    if not numerators:
        return Fraction(0)
    top = max(shifts)
    return Fraction(sum(n << (top - s) for n, s in zip(numerators, shifts)), 1 << top)


# --- decimal -------------------------------------------------------------------------------------


def dec(x) -> Decimal:
    """A double, Fraction or int as a Decimal of the decimal path (doubles convert exactly, then round)."""
    with localcontext(_CONTEXT):
        if isinstance(x, Fraction):
            return Decimal(x.numerator) / Decimal(x.denominator)
        return +Decimal(float(x)) if not isinstance(x, int) else +Decimal(x)


def decimal_context():
    """The context of every decimal computation: DECIMAL_DIGITS digits, correctly rounded."""
    return localcontext(_CONTEXT)

