"""Number tokens proven to be the RFC 8785 (ECMAScript Number::toString) form of their double, in bulk.

A canonical problem text holds about fifteen numbers per enterprise, most of them full-precision
doubles of 16–17 significant digits.  Proving each token canonical by formatting its double again
(repr, about 0.35 µs a number) and comparing was most of `coopchain verify`'s time.  Here the proof
works on the text's bytes with numpy, without a Python object per token:

1. **Syntax.**  Each token is split (SWAR over three 8-byte words) into sign, integer digits,
   fraction digits and exponent; its digits D (without trailing zeros, k of them) and decimal exponent
   q give the value v = D·10^q and ES's n = k + q.  The token must be spelt exactly as
   Number::toString spells (sign, D, n): integer form for k ≤ n ≤ 21, fixed form for 0 < n < k
   (n ≤ 21) or −6 < n ≤ 0, exponent form with "e+"/"e-" otherwise; no "-0", no leading zeros, no
   trailing zeros in a significand, no "E" or "+".
2. **Value.**  v is computed in double-double from D = Dhh + Dl (Veltkamp split) and a table of
   10^q = Ph + Pl (Ph = Phh + Phl split exactly; both computed once with integers), giving the
   candidate double X and r = (v − X)/ulp(X) with |error| < 2^-19 (derivation below).
   X is the correctly rounded double of v when −h + m < r < 1/2 − m (h = 1/4 when X is a power of
   two and v below it, else 1/2; margin m = 2^-12, 128 times the error bound).
3. **Shortest.**  k ≤ 15: any two decimals of at most 15 digits round to different normal doubles
   (DBL_DIG = 15), so D is the only candidate of its length and nothing shorter rounds to X.
   k = 16, 17, with t = 10^q/ulp(X) and d = D mod 10: no multiple of 10^(q+1) (every shorter
   decimal of this decade is one) lies in X's rounding interval, i.e. d·t > r + h and
   (10 − d)·t > 1/2 − r; D is the nearest k-digit decimal to X, |r| < t/2; and v is at least two
   ulps inside its decade ((D − 10^(k−1))·t > 2, (10^k − D)·t > 2), so that the grids above are
   the only ones near X.  Each with the margin m.

Every token these cannot decide (near a tie or a decade, more than 17 digits, |n| > 200,
more than 24 characters, anything unusual) is left unproven: the caller checks it exactly
(float(token), correctly rounded, and `strict_json.es_number`).  Only IEEE +, −, × on doubles and
integer operations: no libm, no reduction, so the verdict is the same on every machine.

The error bound (u = 2^-53): D = Dhh + Dl exactly with |Dl| ≤ 2^-25·D; 10^q = Ph + Pl + ε with
|ε| ≤ 2^-105·10^q.  v = Dhh·Phh + Dhh·Phl + Dl·Ph + Dhh·Pl + Dl·Pl + D·ε.  The first two products are
exact (26 × 26 and 26 × 27 bits); Dl·Ph is rounded once (error ≤ u·2^-25·v), Dhh·Pl once
(≤ 2^-106·v); Dl·Pl (≤ 2^-78·v) and D·ε are left out; the two additions forming the tail
t1 = (A2 + B) + C err by ≤ u·2^-23·v.  X = fl(A1 + t1); A1 − X is exact (Sterbenz), and
R = fl((A1 − X) + t1) adds u·|R| ≤ u·ulp(X).  So |R − (v − X)| ≤ 2^-75·v + u·ulp(X) ≤ 2^-20·ulp(X)
since v < 2^54·ulp(X).  Scaling by 1/ulp(X) is exact; the final comparisons add a few ulps of
numbers below 100 (≤ 2^-45).  Total < 2^-19, and the margin 2^-12 is 128 times that.
(docs/certificate.md, "Number tokens".)  numpy and the standard library only (the certificate leaf).
"""

from __future__ import annotations

import itertools
import math
import threading

import numpy as np

# Tokens longer than this are left to the exact check (a shortest form has at most 17 digits:
# "-1.2345678901234567e-100" is 24 characters).
MAX_TOKEN = 24
# |n| beyond this is left to the exact check: products stay far from overflow and underflow.
MAX_DECIMAL_EXPONENT = 200
# The margin, in ulps of X, by which every decision must clear its threshold (error bound < 2^-19).
MARGIN = 2.0 ** -12

_U = np.uint64
_H = _U(0x8080808080808080)
_L7 = _U(0x7F7F7F7F7F7F7F7F)
_ASCII = _U(0x0F0F0F0F0F0F0F0F)
# VALID[j]: the low j bytes of a word.
_VALID = np.array([(1 << (8 * j)) - 1 for j in range(9)], dtype=np.uint64)
_POW10 = np.array([10 ** j for j in range(20)], dtype=np.uint64)
_SHIFT = np.array([8 * (8 - j) for j in range(9)], dtype=np.uint64)  # moves j low bytes to the top (64: none left)

_QMIN, _QMAX = -MAX_DECIMAL_EXPONENT - 24, MAX_DECIMAL_EXPONENT + 1


def _power_table():
    """10^q = Ph + Pl (+ ε, |ε| ≤ 2^-105·10^q) for q in [_QMIN, _QMAX], Ph split exactly into Phh (26 bits) + Phl (27).

    Integer arithmetic only: int → float and int / int are correctly rounded in Python."""
    ph, phh, phl, pl = [], [], [], []
    for q in range(_QMIN, _QMAX + 1):
        if q >= 0:
            hi = float(10**q)
            lo = float(10**q - int(hi))
        else:
            den = 10**-q
            hi = 1 / den
            a, b = hi.as_integer_ratio()  # hi = a / b exactly, b a power of two
            lo = (b - a * den) / (b * den)  # 10^q − hi, correctly rounded
        mantissa, exponent = math.frexp(hi)  # exact: hi = mantissa · 2^exponent, 0.5 <= mantissa < 1
        bits = int(mantissa * 2.0**53)  # the 53-bit significand
        head = math.ldexp((bits >> 27) << 27, exponent - 53)  # its top 26 bits; the rest (27 bits) is exact
        ph.append(hi)
        phh.append(head)
        phl.append(hi - head)
        pl.append(lo)
    return (np.array(ph), np.array(phh), np.array(phl), np.array(pl))


_PH, _PHH, _PHL, _PL = _power_table()
# The same four columns as the rows of one array, gathered together (one np.take instead of four gathers).
_POWERS = np.ascontiguousarray(np.stack([_PH, _PHH, _PHL, _PL]))


def _mod10(x: np.ndarray) -> np.ndarray:
    """x mod 10 for uint64s, exactly: x − 10·⌊x/10⌋ (no overflow: 10·⌊x/10⌋ ≤ x).  numpy divides by a
    constant with a multiply and shift (libdivide), while its remainder loop divides each element: ~10× slower."""
    return x - (x // _U(10)) * _U(10)


def _digit_bytes(w: np.ndarray) -> np.ndarray:
    """0x80 in each byte of w that is an ASCII digit."""
    x = w & _L7
    return (x + _U(0x5050505050505050)) & ~(x + _U(0x4646464646464646)) & ~w & _H


def _swar8(w: np.ndarray) -> np.ndarray:
    """Eight ASCII digits (first digit in the lowest byte; zero bytes read as 0) to their integer."""
    d = w & _ASCII
    d = (d * _U(10) + (d >> _U(8))) & _U(0x00FF00FF00FF00FF)
    d = (d * _U(100) + (d >> _U(16))) & _U(0x0000FFFF0000FFFF)
    return (d * _U(10000) + (d >> _U(32))) & _U(0xFFFFFFFF)


def _movemask(marks: np.ndarray) -> np.ndarray:
    """The high bits of a word's 8 bytes (0x80 marks) as 8 bits, byte j at bit j."""
    return ((marks >> _U(7)) * _U(0x0102040810204080)) >> _U(56)


def _ctz32(x: np.ndarray) -> np.ndarray:
    """Trailing zeros of nonzero uint32s."""
    return np.bitwise_count((x & (np.uint32(0) - x)) - np.uint32(1)).astype(np.int64)


def _chunks(words, at: np.ndarray, width: np.ndarray) -> np.ndarray:
    """The integer of the `width` (0..8) ASCII digits from text position `at`."""
    w = words[at] << _SHIFT[width]  # the digits into the high bytes (first digit lowest)
    return _swar8(w)


def _field(words, at: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The integer of the `length` digits from text position `at` (at most 24; exact below 2^64), and
    whether it may have wrapped (more than 19 digits: then it is not used)."""
    total = _chunks(words, at, np.minimum(length, 8))
    rest = np.clip(length - 8, 0, 8)
    longer = np.flatnonzero(rest)
    if 2 * len(longer) > len(rest):  # most fractions of full-precision numbers have 9 to 16 digits: all at once
        total = total * _POW10[rest] + _chunks(words, at + 8, rest)
    elif len(longer):  # integer parts rarely have more than 8
        total[longer] = total[longer] * _POW10[rest[longer]] + _chunks(words, at[longer] + 8, rest[longer])
    most = np.flatnonzero(length > 16)
    if len(most):
        w3 = np.minimum(length[most] - 16, 8)
        total[most] = total[most] * _POW10[w3] + _chunks(words, at[most] + 16, w3)
    return total, length > 19


_BITS24 = np.array([(1 << j) - 1 for j in range(MAX_TOKEN + 1)], dtype=np.uint32)


def parse_shortest(buf, starts, ends) -> tuple[np.ndarray, np.ndarray]:
    """The doubles of the number tokens buf[starts[i]:ends[i]] and which of them are proven canonical.

    ``proven[i]`` says that the token is exactly ES Number::toString of ``values[i]`` (RFC 8785
    §3.2.2.3) and that values[i] is the double it denotes.  A token not proven may still be
    canonical: check it exactly (float and es_number).  ``buf``: bytes or a contiguous uint8 array.
    """
    data = np.frombuffer(buf, dtype=np.uint8) if not isinstance(buf, np.ndarray) else buf
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    m = len(starts)
    if m == 0:
        return np.zeros(0), np.zeros(0, dtype=bool)
    if starts.min() < 0 or ends.max() > len(data) or (ends < starts).any():
        raise ValueError("number tokens must lie within the buffer")
    # Room for whole words either side: reads reach 41 bytes past a token's start (a fraction's second
    # word read for every token of a block, from frac_start <= 25: review R3-1).
    if starts.min() < 8 or starts.max() + 48 > len(data):
        data = np.concatenate([np.full(8, 32, np.uint8), data, np.full(48, 32, np.uint8)])
        starts, ends = starts + 8, ends + 8
    words = np.ndarray((len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))  # the 8 bytes from each position
    if m <= _BLOCK:
        return _parse(data, words, starts, ends)
    # In blocks whose arrays stay in the processor's cache: the work is a few hundred passes over them.
    # Each block's verdicts depend on its tokens alone and land in their own slice, so blocks may run on
    # two threads (numpy releases the GIL inside its loops) without the result depending on the timing.
    values, proven = np.empty(m), np.empty(m, dtype=bool)

    def block(i: int) -> None:
        values[i:i + _BLOCK], proven[i:i + _BLOCK] = _parse(data, words, starts[i:i + _BLOCK], ends[i:i + _BLOCK])

    if m < _THREADED:
        for i in range(0, m, _BLOCK):
            block(i)
        return values, proven
    errors, taken = [], itertools.count()  # next() of a count is atomic under the GIL: each block is taken once

    def work() -> None:
        # Blocks are taken as the threads come free, so a thread that gets no core on a busy machine
        # holds up at most one block; which thread proves a block changes nothing in its slice.
        try:
            while (i := next(taken) * _BLOCK) < m:
                block(i)
        except BaseException as e:  # raised in the caller's thread below
            errors.append(e)

    helper = threading.Thread(target=work, name="number_text")
    helper.start()
    work()
    helper.join()
    if errors:
        raise errors[0]
    return values, proven


_BLOCK = 16384
# From this many tokens the blocks are split over two threads (this one and a helper, each taking the next block) (~40 % less wall time at 1.5 M tokens, a
# few % more CPU); below it a thread's start is not worth it.
_THREADED = 8 * _BLOCK


def _parse(data, words, starts, ends):
    m = len(starts)
    length = ends - starts
    ok = (length >= 1) & (length <= MAX_TOKEN)
    L = np.minimum(length, MAX_TOKEN) * ok
    # Which of the token's (first 24) bytes are digits, as the bits of one uint32; bit 24 and up: past the end.
    first = words[starts]
    digits = _movemask(_digit_bytes(first))
    digits |= _movemask(_digit_bytes(words[starts + 8])) << _U(8)
    digits |= _movemask(_digit_bytes(words[starts + 16])) << _U(16)
    stops = ~(digits.astype(np.uint32) & _BITS24[L])  # non-digits, and every bit from L up
    neg = (first & _U(0xFF)) == _U(0x2D)
    sign = neg.astype(np.int64)
    int_end = _ctz32(stops >> sign.astype(np.uint32)) + sign
    li = int_end - sign
    after_int = data[starts + int_end] * (int_end < L)  # 0: the token ends
    has_dot = after_int == 0x2E
    frac_start = int_end + 1
    frac_end = np.where(has_dot, _ctz32(stops >> np.minimum(frac_start, 31).astype(np.uint32)) + frac_start, int_end)
    lf = frac_end - frac_start
    lf *= has_dot
    mark = data[starts + frac_end] * (frac_end < L)
    has_e = mark == 0x65
    ok &= (li >= 1) & ((frac_end == L) | has_e) & (~has_dot | (lf >= 1))
    I, I_wide = _field(words, starts + sign, li)
    F, F_wide = _field(words, starts + frac_start, lf)
    expo = np.zeros(m, dtype=np.int64)
    if has_e.any():
        e = np.flatnonzero(has_e & ok)
        e_at = frac_end[e]
        e_sign = data[starts[e] + e_at + 1]
        lx = L[e] - e_at - 2
        good = (lx >= 1) & (lx <= 3) & ((e_sign == 0x2B) | (e_sign == 0x2D)) & (data[starts[e] + e_at + 2] != 0x30)
        good &= (_ctz32(stops[e] >> np.minimum(e_at + 2, 31).astype(np.uint32)) + e_at + 2) == L[e]  # all digits
        x = _chunks(words, starts[e] + e_at + 2, np.clip(lx, 0, 8)).astype(np.int64)
        expo[e] = np.where(e_sign == 0x2D, -x, x)
        ok[e] &= good
    # A leading zero: "0" alone, or "0.<fraction>"; a trailing zero: never after a point.
    whole_zero = (I == _U(0)) & (li == 1)
    ok &= whole_zero | (I >= _POW10[np.clip(li - 1, 0, 19)])
    # D = I·10^lf + F in 64 bits: at most 19 digits.  Longer: "0.0000012345678901234567890" (zeros lead the
    # fraction) and "123456789012345678900000" (zeros end the integer) are read from their last / first 19 digits.
    integer_form = ~has_dot & ~has_e
    wide_zero = np.flatnonzero(whole_zero & F_wide & ok)
    wide_int = np.flatnonzero(integer_form & I_wide & ok)
    ok &= np.where(whole_zero, ~F_wide, ~I_wide & (li + lf <= 19))
    shift = np.zeros(m, dtype=np.int64)
    if len(wide_zero):
        at = starts[wide_zero] + frac_start[wide_zero]
        ok[wide_zero] = _zeros(words, at, lf[wide_zero] - 19)
        F[wide_zero] = _field(words, at + lf[wide_zero] - 19, np.full(len(wide_zero), 19))[0]
    if len(wide_int):
        at = starts[wide_int] + sign[wide_int]
        ok[wide_int] = _zeros(words, at + 19, li[wide_int] - 19) & (li[wide_int] <= 21)
        I[wide_int] = _field(words, at, np.full(len(wide_int), 19))[0]
        ok[wide_int] &= I[wide_int] >= _POW10[18]  # no leading zero (the check above read a wrapped I)
        shift[wide_int] = li[wide_int] - 19
    ok &= ~has_dot | (_mod10(F) != _U(0))  # no trailing zero after a point
    D = np.where(whole_zero, F, I * _POW10[np.minimum(lf, 19)] + F)
    q = expo - lf + shift
    zero = D == _U(0)
    # Trailing zeros of an integer form ("1200") leave the significand.
    todo = np.flatnonzero(ok & integer_form & ~zero & (_mod10(D) == _U(0)))
    while len(todo):
        D[todo] //= _U(10)
        q[todo] += 1
        todo = todo[_mod10(D[todo]) == _U(0)]
    # k, the digits of D: read from the spelling (integer and fraction digits; an integer form less the zeros
    # dropped above), then checked, 10^(k−1) <= D < 10^k, so that k is exactly the digit count whatever the
    # token; where the check fails ("0.00123": zeros lead the fraction; D = 0; malformed tokens) it is counted.
    k = np.where(has_dot, li + lf, li - q + expo)
    np.clip(k, 1, 19, out=k)
    low = _POW10[k - 1]
    recount = np.flatnonzero((D < low) | (D >= low * _U(10)))
    if len(recount):
        k[recount] = np.searchsorted(_POW10, D[recount], side="right")  # digits of D (D < 10^20)
    n = k + q

    # Syntax: exactly the layout Number::toString writes for (sign, D, n).
    fixed_form = has_dot & ~has_e
    canonical = np.where(
        zero,
        integer_form & ~neg & (li == 1),
        np.where(
            integer_form,
            li <= 21,
            np.where(
                fixed_form,
                np.where(whole_zero, n > -6, li <= 21),  # "0.000ddd" for -6 < n <= 0, "ddd.ddd" for 0 < n <= 21
                (li == 1) & ~whole_zero & (has_dot == (k > 1)) & ((n > 21) | (n <= -6)),
            ),
        ),
    )
    ok &= canonical
    proven = ok & zero
    work = ok & ~zero & (k <= 17) & (np.abs(n) <= MAX_DECIMAL_EXPONENT)
    if 2 * np.count_nonzero(work) > m:  # the usual case: decide every token, keep the verdicts of those in work
        safe = ~work  # their D, q, k are set in place to 1·10^0 (1 digit), in the table's range; unused after
        np.copyto(D, _U(1), where=safe)
        np.copyto(q, 0, where=safe)
        np.copyto(k, 1, where=safe)
        x, decided = _decide(D, q, k)
        return np.where(neg, -x, x) * work, (decided & work) | proven
    values = np.zeros(m)
    work = np.flatnonzero(work)
    if len(work):
        x, decided = _decide(D[work], q[work], k[work])
        values[work] = np.where(neg[work], -x, x)
        proven[work] = decided
    return values, proven


def _zeros(words, at, count) -> np.ndarray:
    """Whether the `count` (0..8) bytes from text position `at` are all '0'."""
    return ((words[at] ^ _U(0x3030303030303030)) & _VALID[np.clip(count, 0, 8)]) == _U(0)


def _decide(D: np.ndarray, q: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The double X nearest D·10^q, and whether D (k digits) is proven the shortest, nearest form of X."""
    i = q - _QMIN
    ph, phh, phl, pl = np.take(_POWERS, i, axis=1)  # each row contiguous
    df = D.astype(np.float64)
    c = df * 134217729.0  # Veltkamp: 2^27 + 1
    dhh = c - (c - df)  # the top 26 bits of D, an integer
    dl = (D.astype(np.int64) - dhh.astype(np.int64)).astype(np.float64)  # D − Dhh, exact
    a1 = dhh * phh  # exact
    t1 = (dhh * phl + dl * ph) + dhh * pl
    X = a1 + t1
    R = (a1 - X) + t1  # v − X, within 2^-20 ulp(X)
    bits = X.view(np.uint64)
    e = (bits >> _U(52)).astype(np.int64)
    inv_ulp = ((2098 - e).astype(np.uint64) << _U(52)).view(np.float64)  # 2^(1075 − e) = 1 / ulp(X)
    r = R * inv_ulp
    half_below = np.where((bits & _U((1 << 52) - 1)) == _U(0), 0.25, 0.5)  # below a power of two the gap halves
    decided = (r < 0.5 - MARGIN) & (r > -half_below + MARGIN)
    t = ph * inv_ulp  # 10^q in ulps of X
    d = _mod10(D).astype(np.float64)
    shortest = (d * t - half_below - r > MARGIN) & ((10.0 - d) * t - 0.5 + r > MARGIN)
    nearest = np.abs(r) < t * 0.5 - MARGIN
    low = _POW10[k - 1]  # 10^(k−1); 10^k = 10·low, exact below 2^64 (k ≤ 19)
    inside = ((D - low).astype(np.float64) * t > 2.0 + MARGIN) & ((low * _U(10) - D).astype(np.float64) * t > 2.0 + MARGIN)
    decided &= (k <= 15) | (shortest & nearest & inside)
    return X, decided
