"""JSON read strictly, with the standard library only (issue 10).

The certificate verifier reads documents an adversary wrote.  Python's ``json``
reads a duplicated key last-wins, parses integers of any length (a 5,000-digit
one raises ValueError deep inside), accepts NaN and Infinity, and recurses until
RecursionError on deep nesting.  `loads` refuses each of these with a stable code
and a sentence, before any heavy work.  `es_number` is RFC 8785's number form
(ECMAScript's Number::toString), which the canonical problem text uses.
"""

from __future__ import annotations

import json

import numpy as np

# A canonical integer is an integral double written out (at most 10^21, 22 digits); a JSON
# integer longer than this is refused before Python converts it (quadratic in its length).
MAX_INTEGER_DIGITS = 24


# Arrays and objects inside one another.  A certificate nests 4 deep, a problem 4, an audit
# bundle 6; 64 leaves room.  Refused by a count of brackets before the parser runs, never by
# Python's RecursionError: that limit is the interpreter's recursion limit minus the caller's
# stack depth, so it differs between block production, replay and the API server, and a
# verdict that goes into a receipt must not (review R-6).
MAX_DEPTH = 64


class StrictJsonError(ValueError):
    """A JSON text was refused; ``code`` is stable (``not_json``, ``too_large``, ``non_finite``,
    ``duplicate_key``), the message a sentence.  Nesting deeper than MAX_DEPTH is
    ``too_large``; shallower nesting of the wrong shape is the reader's to refuse."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


def es_number(x: float) -> str:
    """ECMAScript Number::toString of a finite double: the number form of RFC 8785 §3.2.2.3."""
    if x == 0:
        return "0"
    # repr gives the shortest digits that round-trip, as ECMAScript requires; only the layout differs.
    mantissa, _, exponent = repr(abs(x)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    trimmed = digits.rstrip("0")
    k = len(trimmed)
    point = int(exponent or 0) - len(fraction) + len(digits)  # the value is 0.digits × 10^point
    digits = trimmed
    if k <= point <= 21:
        body = digits + "0" * (point - k)
    elif 0 < point <= 21:
        body = digits[:point] + "." + digits[point:]
    elif -6 < point <= 0:
        body = "0." + "0" * -point + digits
    else:
        e = point - 1
        body = (digits if k == 1 else digits[0] + "." + digits[1:]) + "e" + ("+" if e > 0 else "-") + str(abs(e))
    return ("-" if x < 0 else "") + body


def _utf16(key: str) -> bytes:
    return key.encode("utf-16be", "surrogatepass")


_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)


def _has_long_digit_run(text: str) -> bool:
    """Whether ``text`` holds more than MAX_INTEGER_DIGITS ASCII digits in a row.

    A regex ``\\d{25}`` retries at every digit of every number: 2 s on the 12 MB text of
    a certificate at n = 30,000.  Mapping each digit byte to "0" and searching for the run
    takes a few hundredths of that (UTF-8 writes no other character with an ASCII byte).
    """
    return b"0" * (MAX_INTEGER_DIGITS + 1) in text.encode("utf-8", "surrogatepass").translate(_DIGITS_AS_ZERO)


# Strings at most this many: the text between them is copied out and scanned alone (a solve's output
# holds its 36 MiB problem as one string, whose brackets are never looked at).
_FEW_STRINGS = 20_000


def _unescaped_quotes(data: np.ndarray) -> np.ndarray:
    """Positions of the quotes that start or end a string: not escaped by an odd run of backslashes before them."""
    quotes = np.flatnonzero(data == 0x22)
    after_slash = np.flatnonzero((data[np.maximum(quotes - 1, 0)] == 0x5C) & (quotes > 0))
    if not len(after_slash):
        return quotes
    # The run of backslashes before each such quote, one step at a time while runs are short (a JSON text
    # writes one or two); a longer run anywhere: measured for every quote at once from the runs' starts.
    ends = quotes[after_slash] - 1
    run = np.ones(len(ends), dtype=np.int64)
    live = np.arange(len(ends))
    for _ in range(16):
        at = ends[live] - run[live]
        more = (at >= 0) & (data[np.maximum(at, 0)] == 0x5C)
        live = live[more]
        if not len(live):
            break
        run[live] += 1
    else:
        slashes = np.flatnonzero(data == 0x5C)
        starts = np.ones(len(slashes), dtype=bool)
        starts[1:] = slashes[1:] != slashes[:-1] + 1
        run_start = np.maximum.accumulate(np.where(starts, slashes, 0))  # the start of each backslash's run
        run = ends - run_start[np.searchsorted(slashes, ends)] + 1
    return np.delete(quotes, after_slash[run % 2 == 1])  # an odd run escapes the quote


def _depth(data: np.ndarray) -> int:
    """How deep the brackets of `data` nest (every byte outside strings)."""
    folded = data | 0x20  # '[' → '{', ']' → '}': one comparison each
    opens, closes = np.flatnonzero(folded == 0x7B), np.flatnonzero(folded == 0x7D)
    if not len(opens):
        return 0
    where = np.concatenate([opens, closes])
    steps = np.concatenate([np.ones(len(opens), dtype=np.int64), np.full(len(closes), -1, dtype=np.int64)])
    return int(np.cumsum(steps[np.argsort(where, kind="stable")]).max(initial=0))


def nesting_depth(text: str) -> int:
    """How deep arrays and objects nest in ``text``, counting brackets outside strings.

    Deterministic and independent of the interpreter's stack; vectorised.  A quote ends or starts a
    string unless an odd run of backslashes precedes it.  With few strings the text between them is
    copied out and scanned alone (a solve's output: its 36 MiB problem text is one string); with many,
    each bracket is placed inside or outside by the count of quotes before it.  On a text that is not JSON
    (an unclosed string, unbalanced brackets) the count is still a fixed function of the text; the parser
    then refuses it.
    """
    raw = text.encode("utf-8", "surrogatepass")
    data = np.frombuffer(raw, dtype=np.uint8)
    quotes = _unescaped_quotes(data)
    if len(quotes) <= _FEW_STRINGS:
        # Outside strings: [0, q0), (q1, q2), (q3, q4), ...; an odd count leaves the last string open to the end.
        cuts = quotes.tolist()
        starts = [0] + [q + 1 for q in cuts[1::2]]
        ends = cuts[0::2] + ([len(raw)] if len(cuts) % 2 == 0 else [])
        outside = b"".join(raw[a:b] for a, b in zip(starts, ends))
        return _depth(np.frombuffer(outside, dtype=np.uint8))
    folded = data | 0x20
    opens, closes = np.flatnonzero(folded == 0x7B), np.flatnonzero(folded == 0x7D)
    opens = opens[np.searchsorted(quotes, opens) % 2 == 0]  # an even number of quotes before: not in a string
    closes = closes[np.searchsorted(quotes, closes) % 2 == 0]
    if not len(opens):
        return 0
    where = np.concatenate([opens, closes])
    steps = np.concatenate([np.ones(len(opens), dtype=np.int64), np.full(len(closes), -1, dtype=np.int64)])
    return int(np.cumsum(steps[np.argsort(where, kind="stable")]).max(initial=0))


def _check_depth(text: str, what: str) -> None:
    if text.count("[") + text.count("{") > MAX_DEPTH and nesting_depth(text) > MAX_DEPTH:  # no more openers: not deeper
        raise StrictJsonError("too_large", f"{what} nests arrays and objects deeper than {MAX_DEPTH} levels")


def loads_fast(text: str, *, what: str = "the document"):
    """Parse ``text`` as `loads` does, but let a duplicated key through (read last-wins).

    For texts whose canonical form is then compared: a duplicated key changes that form,
    so the comparison refuses it, and `loads` says which key.  Objects are built by the
    C parser, several times faster than through a hook.
    """
    _check_depth(text, what)
    if _has_long_digit_run(text):
        return loads(text, what=what)  # says which integer is too long (or parses a long digit run inside a string)

    def constant(token: str):
        raise StrictJsonError("non_finite", f"{what} holds {token}, which is not a JSON number")

    try:
        return json.loads(text, parse_constant=constant)
    except json.JSONDecodeError as e:
        raise StrictJsonError("not_json", f"{what} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from None


def loads(text: str | bytes, *, what: str = "the document"):
    """Parse ``text``; raise StrictJsonError with a code and a sentence for anything not plain, finite JSON."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise StrictJsonError("not_json", f"{what} is not UTF-8 text (byte {e.start} cannot be read)") from None

    _check_depth(text, what)

    def pairs(items):
        obj = dict(items)
        if len(obj) != len(items):
            seen = set()
            for key, _ in items:
                if key in seen:
                    raise StrictJsonError("duplicate_key", f"{what} has the key {json.dumps(key, ensure_ascii=False)} twice in one object")
                seen.add(key)
        return obj

    def integer(token: str):
        if len(token) > MAX_INTEGER_DIGITS:
            raise StrictJsonError("too_large", f"{what} holds an integer of {len(token)} digits; at most {MAX_INTEGER_DIGITS} are read")
        return int(token)

    def constant(token: str):
        raise StrictJsonError("non_finite", f"{what} holds {token}, which is not a JSON number")

    try:
        value = json.loads(text, object_pairs_hook=pairs, parse_int=integer, parse_constant=constant)
    except json.JSONDecodeError as e:
        raise StrictJsonError("not_json", f"{what} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from None
    return value
