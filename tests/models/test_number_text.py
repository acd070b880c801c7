"""Number tokens proven canonical in bulk (models/number_text.py).

Independent references: Python's float() (correctly rounded) and repr (shortest round trip), through
the layout of ECMAScript's Number::toString written out in this file (`ecmascript`), and the rfc8785
package's number form.  Every token the bulk proof accepts must be exactly the canonical form of the
double float() reads from it; a token it leaves unproven is left to the exact check, so the property is
one-sided, and a second test bounds how much it leaves on the numbers a solver writes.
"""

import math
import struct

import numpy as np
import pytest
import rfc8785

from coopchain.models.number_text import parse_shortest


def ecmascript(x: float) -> str:
    """Number::toString (ECMA-262 §6.1.6.1.20) from repr's shortest digits, written independently of the code."""
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    digits, exponent = _shortest(abs(x))
    k, n = len(digits), exponent + len(digits)  # value = 0.digits × 10^n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    return sign + digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e > 0 else "-") + str(abs(e))


def _shortest(x: float) -> tuple[str, int]:
    """repr's digits without zeros at either end, and the exponent of the last one."""
    mantissa, _, exp = f"{x!r}".partition("e")
    whole, _, frac = mantissa.partition(".")
    digits, exponent = (whole + frac).lstrip("0"), int(exp or 0) - len(frac)
    stripped = digits.rstrip("0")
    return stripped, exponent + len(digits) - len(stripped)


def check(tokens: list[str]) -> np.ndarray:
    """Run the bulk proof over tokens laid out as a JSON array; assert every proven token is canonical."""
    text = ("[" + ",".join(tokens) + "]").encode()
    lengths = np.array([len(t) for t in tokens])
    ends = np.cumsum(lengths + 1)
    starts = ends - lengths
    values, proven = parse_shortest(text, starts, ends)
    for token, value, ok in zip(tokens, values.tolist(), proven.tolist()):
        if ok:
            x = float(token)
            assert math.isfinite(x) and ecmascript(x) == token, token
            assert struct.pack("<d", value) == struct.pack("<d", x), token  # the very double, sign included
            assert rfc8785.dumps(x).decode() == token, token
    return proven


def doubles(rng, n: int) -> np.ndarray:
    bits = rng.integers(0, 2**64, n, dtype=np.uint64, endpoint=False)
    x = bits.view(np.float64)
    return x[np.isfinite(x)]


@pytest.mark.parametrize("seed", range(4))
def test_random_bit_patterns(seed):
    rng = np.random.default_rng(seed)
    check([ecmascript(x) for x in doubles(rng, 50_000).tolist()])


@pytest.mark.parametrize("seed", range(4))
def test_full_precision_doubles_of_every_scale(seed):
    rng = np.random.default_rng(100 + seed)
    x = rng.uniform(-1000, 1000, 50_000) * 10.0 ** rng.integers(-30, 30, 50_000)
    check([ecmascript(v) for v in x.tolist()])


def test_short_decimals_and_their_neighbours():
    rng = np.random.default_rng(7)
    tokens = []
    for _ in range(30_000):
        digits = int(rng.integers(1, 10 ** int(rng.integers(1, 18))))
        x = float(f"{digits}e{int(rng.integers(-25, 25))}")
        tokens.append(ecmascript(x))
        tokens.append(ecmascript(math.nextafter(x, math.inf)))
        tokens.append(ecmascript(math.nextafter(x, -math.inf)))
    check(tokens)


def test_powers_of_ten_ties_and_format_switches():
    tokens = []
    for e in range(-330, 309):
        for m in (1, 2, 5, 9.999999999999999, 1.0000000000000002):
            for x in (m * 10.0**e if abs(e) < 300 else float(f"{m}e{e}"),):
                if math.isfinite(x) and x:
                    tokens += [ecmascript(y) for y in (x, math.nextafter(x, 0), math.nextafter(x, math.inf))]
    for e in range(-1074, 1024, 7):  # powers of two (the rounding interval is uneven below them) and midpoints
        x = math.ldexp(1.0, e)
        tokens += [ecmascript(x), ecmascript(math.nextafter(x, 0))]
    tokens += [ecmascript(x) for x in (1e21, 1e21 - 65536, 1e-7, 1e-6, 9.999999999999999e-7, 5e-324, 2.2250738585072014e-308,
                                        1.7976931348623157e308, 2.0**53, 2.0**53 + 2, 0.1, 0.2, 0.30000000000000004, 123456789012345680000.0)]
    check(tokens)  # near decades, ties and outside |n| <= 200 much is left to the exact check; nothing wrong is proven


# Spellings that are not the canonical form of any double: none may ever be proven.
NOT_CANONICAL = ["-0", "1E5", "+1", "01", "1.50", "1e+05", "1e5", "1.0", "00", "0.0", ".5", "5.", "1e21", "1e+20", "1e+2",
                 "100000000000000000000000", "0.0000001", "1e-6", "-", "1e+", "1.2.3", "12345678901234567890", "0.1000",
                 "1.7976931348623159e+308", "1e400", "0.30000000000000005", "9007199254740993", "1e-7 ", " 1", "1_0",
                 "0x10", "Infinity", "NaN", "-0.0", "1.e+30", "1.5e-07", "1.5e-7", "0.0e+0", "00.5", "1.5e+021",
                 "2.5E-7", "123456789012345678", "0.12345678901234567890", "1234567890123456789012"]


def test_non_canonical_spellings_are_never_proven():
    tokens = [t for t in NOT_CANONICAL if t.strip() == t and t]
    proven = check(tokens)
    # "1.5e-7" is canonical (1.5e-7 has n = -6); the rest are not.
    assert [t for t, p in zip(tokens, proven) if p] == [t for t in tokens if t == "1.5e-7"]


def test_edited_tokens_are_proven_only_when_still_canonical():
    rng = np.random.default_rng(11)
    base = [ecmascript(x) for x in rng.uniform(0, 300, 20_000).tolist()]
    base += [ecmascript(float(f"{int(rng.integers(1, 10**6))}e{int(rng.integers(-12, 25))}")) for _ in range(20_000)]
    edited = []
    for token in base:
        at = int(rng.integers(0, len(token) + 1))
        c = "0123456789.-+eE"[int(rng.integers(0, 15))]
        how = int(rng.integers(0, 3))
        out = token[:at] + c + token[at:] if how == 0 else token[:at] + c + token[at + 1:] if how == 1 else token[:at] + token[at + 1:]
        if out:
            edited.append(out)
    check(edited)  # every proven one is canonical (asserted inside)


def test_the_numbers_a_solver_writes_are_almost_all_proven_in_bulk():
    # Full-precision doubles of the generator's magnitudes: the exact path should see a handful in a thousand.
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(0, 300, 40_000), rng.uniform(0, 0.01, 20_000), rng.uniform(1e3, 1e7, 20_000)])
    proven = check([ecmascript(v) for v in x.tolist()])
    assert proven.mean() > 0.99


def test_tokens_at_the_edges_of_the_buffer():
    for token in ["1", "0.5", "-12.75", "1e+100", "1.5e-7"]:
        raw = token.encode()
        values, proven = parse_shortest(raw, np.array([0]), np.array([len(raw)]))
        assert proven[0] and values[0] == float(token)
    assert parse_shortest(b"", np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))[0].shape == (0,)


def test_the_table_of_powers_of_ten_is_exact_where_the_error_bound_says():
    from fractions import Fraction

    from coopchain.models import number_text as nt

    def significant_bits(x: float) -> int:
        n = Fraction(x).numerator
        return (n // (n & -n)).bit_length() if n else 0

    for i, q in enumerate(range(nt._QMIN, nt._QMAX + 1)):
        exact = Fraction(10) ** q
        hi, lo = float(nt._PH[i]), float(nt._PL[i])
        assert hi == float(exact) and lo == float(exact - Fraction(hi))  # both correctly rounded
        assert abs(exact - Fraction(hi) - Fraction(lo)) <= Fraction(2) ** -105 * exact
        assert float(nt._PHH[i]) + float(nt._PHL[i]) == hi  # the split is exact ...
        assert significant_bits(float(nt._PHH[i])) <= 26 and significant_bits(float(nt._PHL[i])) <= 27  # ... and short
