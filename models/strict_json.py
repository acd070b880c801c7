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
import re

import numpy as np

# A canonical integer is an integral double written out (at most 10^21, 22 digits); a JSON
# integer longer than this is refused before Python converts it (quadratic in its length).
MAX_INTEGER_DIGITS = 24


# Arrays and objects inside one another.  A certificate nests 4 deep, a problem 4, an audit
# bundle 6; 64 leaves room.  Refused by a count of brackets, never by Python's RecursionError:
# that limit is the interpreter's recursion limit minus the caller's stack depth, so it differs
# between block production, replay and the API server, and a verdict that goes into a receipt
# must not (review R-6).  The verdict is the one a count before parsing gives (`_parsed`): a
# parsed value's depth is its bracket depth, and a refused text has its brackets counted.
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


# Texts up to this long with no backslash take the short path of nesting_depth (an offer's series in the
# market contract: about 1.7 KB, where numpy's calls cost 85 µs and the short path about 10).
_SHORT_TEXT = 16 * 1024
_BRACKET = re.compile(r"[\[\]{}]")


def _short_depth(text: str) -> int:
    """nesting_depth of a text without a backslash: no quote is escaped, so every quote starts or ends a
    string, and the text outside strings is every other piece between quotes (an odd count leaves the
    last string open to the end: its piece has an odd index and is dropped, as nesting_depth drops it)."""
    depth = deepest = 0
    for bracket in _BRACKET.findall("".join(text.split('"')[0::2])):
        if bracket == "[" or bracket == "{":
            depth += 1
            if depth > deepest:
                deepest = depth
        else:
            depth -= 1
    return deepest


def nesting_depth(text: str) -> int:
    """How deep arrays and objects nest in ``text``, counting brackets outside strings.

    Deterministic and independent of the interpreter's stack; vectorised.  A quote ends or starts a
    string unless an odd run of backslashes precedes it.  With few strings the text between them is
    copied out and scanned alone (a solve's output: its 36 MiB problem text is one string); with many,
    each bracket is placed inside or outside by the count of quotes before it.  On a text that is not JSON
    (an unclosed string, unbalanced brackets) the count is still a fixed function of the text; the parser
    then refuses it.
    """
    if len(text) <= _SHORT_TEXT and "\\" not in text:
        return _short_depth(text)
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


def _deeper_than(value, limit: int) -> bool:
    """Whether the arrays and objects of a decoded JSON value nest deeper than `limit`: for a text the parser
    accepted, the same count as `nesting_depth` (each level of containers is one level of brackets), taken
    level by level without recursion, and without a Python step per number (`set(map(type, ...))`)."""
    level = [value] if type(value) in (dict, list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        inner = []
        for x in level:
            items = x.values() if type(x) is dict else x
            kinds = set(map(type, items))
            if dict in kinds or list in kinds:
                inner += [y for y in items if type(y) is dict or type(y) is list]
        level = inner
    return False


def _parsed(text: str, what: str, parse):
    """`parse(text)`, with nesting past MAX_DEPTH refused (``too_large``) exactly as if the brackets had been
    counted first: when the parser accepts the text, the decoded value's depth is its bracket depth; when it
    refuses it for any reason (a syntax error, a hook's refusal, the interpreter's RecursionError), the
    brackets are counted then, and too deep nesting is the verdict, as it was when counted before parsing.
    The count over the whole text (a solve's output: 45 MB holding its problem as one escaped string) is
    then paid only for texts that are refused anyway."""
    try:
        value = parse(text)
    except (StrictJsonError, json.JSONDecodeError, RecursionError):
        _check_depth(text, what)
        raise
    if _deeper_than(value, MAX_DEPTH):
        raise StrictJsonError("too_large", f"{what} nests arrays and objects deeper than {MAX_DEPTH} levels")
    return value


def loads_fast(text: str, *, what: str = "the document"):
    """Parse ``text`` as `loads` does, but let a duplicated key through (read last-wins).

    For texts whose canonical form is then compared: a duplicated key changes that form,
    so the comparison refuses it, and `loads` says which key.  Objects are built by the
    C parser, several times faster than through a hook.
    """
    if _has_long_digit_run(text):
        _check_depth(text, what)
        return loads(text, what=what)  # says which integer is too long (or parses a long digit run inside a string)

    def constant(token: str):
        raise StrictJsonError("non_finite", f"{what} holds {token}, which is not a JSON number")

    try:
        return _parsed(text, what, lambda t: json.loads(t, parse_constant=constant))
    except json.JSONDecodeError as e:
        raise StrictJsonError("not_json", f"{what} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from None


def loads(text: str | bytes, *, what: str = "the document"):
    """Parse ``text``; raise StrictJsonError with a code and a sentence for anything not plain, finite JSON."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise StrictJsonError("not_json", f"{what} is not UTF-8 text (byte {e.start} cannot be read)") from None

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
        value = _parsed(text, what, lambda t: json.loads(t, object_pairs_hook=pairs, parse_int=integer, parse_constant=constant))
    except json.JSONDecodeError as e:
        raise StrictJsonError("not_json", f"{what} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from None
    return value


# --- duplicate keys in a document read by a fast, last-wins parser ------------------------------------


def count_outside_strings(data: bytes, char: bytes = b":") -> int:
    """How many times the byte `char` occurs outside JSON strings in `data` (vectorised, as `nesting_depth`:
    a quote ends or starts a string unless an odd run of backslashes precedes it).  Every member of every
    object is one colon outside strings, so with `char` = b":" this counts the key tokens of a JSON text."""
    raw = np.frombuffer(data, dtype=np.uint8)
    at = np.flatnonzero(raw == ord(char))
    if not len(at):
        return 0
    quotes = np.flatnonzero(raw == ord('"'))
    after_slash = np.flatnonzero((raw[np.maximum(quotes - 1, 0)] == ord("\\")) & (quotes > 0))
    if len(after_slash):  # only these quotes may be escaped: measure the run of backslashes before each
        slashes = np.flatnonzero(raw == ord("\\"))
        starts = np.ones(len(slashes), dtype=bool)
        starts[1:] = slashes[1:] != slashes[:-1] + 1
        run_start = np.maximum.accumulate(np.where(starts, slashes, 0))
        before = quotes[after_slash] - 1
        run = before - run_start[np.searchsorted(slashes, before)] + 1
        quotes = np.delete(quotes, after_slash[run % 2 == 1])
    return int(np.count_nonzero(np.searchsorted(quotes, at) % 2 == 0))  # an even number of quotes before: outside


class _Twice(dict):
    """An object in which a key appeared twice (`duplicate_key` marks it, then finds where it is)."""

    key: str = ""


def duplicate_key(text: str | bytes) -> tuple[str, str] | None:
    """The first object of a JSON text (in document order) that holds a key twice: its path (`` for the top
    level, else as models.problem writes paths: `enterprises[3].benefit`) and the key; None when no key
    is repeated, or the text is not JSON (the caller's parser says why)."""

    def pairs(items):
        out = _Twice(items)
        if len(out) == len(items):
            return dict(items)
        seen = set()
        out.key = next(k for k, _ in items if k in seen or seen.add(k))
        return out

    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        _check_depth(text, "the document")
        doc = json.loads(text.removeprefix("\ufeff"), object_pairs_hook=pairs)
    except (ValueError, StrictJsonError):
        return None
    stack = [("", doc)]
    while stack:  # depth first, in document order
        path, node = stack.pop()
        if isinstance(node, _Twice):
            return path, node.key
        if isinstance(node, dict):
            stack.extend(reversed([(f"{path}.{k}" if path else k, v) for k, v in node.items()]))
        elif isinstance(node, list):
            stack.extend(reversed([(f"{path}[{i}]", v) for i, v in enumerate(node)]))
    return None


def count_members(*values) -> int:
    """How many object members (key: value pairs) decoded JSON `values` hold, nested ones included: with
    `count_outside_strings(text)` (the key tokens of the text), equal counts prove that a last-wins parser
    dropped no repeated key."""
    count = 0
    stack = list(values)
    while stack:
        x = stack.pop()
        if isinstance(x, dict):
            count += len(x)
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)
    return count


def repeated_key_issue(data: bytes, members: int) -> tuple[str, str] | None:
    """(path, key) of a key given twice in the JSON `data` whose decoded form holds `members` members, or None.
    Cheap when there is none: all colons, then the colons outside strings, are compared with `members`; only
    when both differ is the text read again (strictly) to find the key."""
    if data.count(b":") == members or count_outside_strings(data) == members:
        return None
    return duplicate_key(data)
