"""JSON read strictly, and the check that a text is canonical (RFC 8785), with the standard library only.

The certificate verifier reads documents an adversary wrote.  Python's ``json``
reads a duplicated key last-wins, parses integers of any length (a 5,000-digit
one raises ValueError deep inside), accepts NaN and Infinity, and recurses until
RecursionError on deep nesting.  `loads` refuses each of these with a stable code
and a sentence, before any heavy work.

`loads(text, canonical=True)` also proves that ``text`` is exactly the RFC 8785
form of what it parses to, without writing that form out (which costs seconds at
100,000 enterprises): every number token is the ECMAScript shortest form of its
value (RFC 8785 §3.2.2.3), every key sequence is in UTF-16 order (§3.2.3), every
escape is the one RFC 8785 writes (§3.2.2.2), and there is no whitespace outside
strings.  Together these leave exactly one text per document.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

# A canonical integer is an integral double written out (at most 10^21, 22 digits); a JSON
# integer longer than this is refused before Python converts it (quadratic in its length).
MAX_INTEGER_DIGITS = 24
# Nesting deeper than this is refused; documents of this project nest at most 5 levels.
MAX_DEPTH = 32


class StrictJsonError(ValueError):
    """A JSON text was refused; ``code`` is stable (``not_json``, ``too_large``, ``non_finite``,
    ``duplicate_key``, ``not_canonical``), the message a sentence."""

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


# Escapes RFC 8785 writes: \" \\ \b \f \n \r \t, and \u00xx (lowercase hex) for the other control characters.
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)
_SHORT = {"08", "09", "0a", "0c", "0d"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OUTSIDE_SPACE = re.compile(r"[ \t\r\n]")


def _check_escapes(text: str) -> None:
    if "\\" not in text:
        return
    for m in _ESCAPE.finditer(text):
        esc = m.group(1)
        if esc in ('"', "\\", "b", "f", "n", "r", "t"):
            continue
        if esc[0] == "u" and esc[1:3] == "00" and esc[3:] == esc[3:].lower() and int(esc[1:], 16) < 0x20 and esc[3:] not in _SHORT:
            continue
        raise StrictJsonError("not_canonical", f"the escape \\{esc} is not the one RFC 8785 writes")


def _check_no_space(text: str) -> None:
    if _OUTSIDE_SPACE.search(text) is None:
        return
    if _OUTSIDE_SPACE.search(_STRING.sub('""', text)) is not None:
        raise StrictJsonError("not_canonical", "there is whitespace between tokens; RFC 8785 writes none")


_LONG_DIGITS = re.compile(r"\d{%d}" % (MAX_INTEGER_DIGITS + 1))


def loads_fast(text: str, *, what: str = "the document"):
    """Parse ``text`` as `loads` does, but let a duplicated key through (read last-wins).

    For texts whose canonical form is then compared: a duplicated key changes that form,
    so the comparison refuses it, and `loads` says which key.  Objects are built by the
    C parser, several times faster than through a hook.
    """
    if _LONG_DIGITS.search(text) is not None:
        return loads(text, what=what)  # says which integer is too long (or parses a long digit run inside a string)

    def constant(token: str):
        raise StrictJsonError("non_finite", f"{what} holds {token}, which is not a JSON number")

    try:
        return json.loads(text, parse_constant=constant)
    except RecursionError:
        raise StrictJsonError("too_large", f"{what} is nested too deeply") from None
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
        value = json.loads(text, object_pairs_hook=pairs, parse_int=integer, parse_constant=constant)
    except RecursionError:
        raise StrictJsonError("too_large", f"{what} is nested too deeply") from None
    except json.JSONDecodeError as e:
        raise StrictJsonError("not_json", f"{what} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from None
    return value


def check_depth(value, what: str = "the document", limit: int = MAX_DEPTH) -> None:
    """Refuse nesting deeper than ``limit``, counted level by level without recursion."""
    depth, level = 0, [value]
    while level:
        depth += 1
        if depth > limit:
            raise StrictJsonError("too_large", f"{what} is nested more than {limit} levels deep")
        nxt = []
        for v in level:
            if isinstance(v, dict):
                nxt.extend(x for x in v.values() if isinstance(x, (dict, list)))
            elif isinstance(v, list):
                nxt.extend(x for x in v if isinstance(x, (dict, list)))
        level = nxt


def _plain(x) -> bool:
    """Whether json.dumps writes the number as RFC 8785 does: repr and ECMAScript agree between 1e-4 and 1e16
    (for a double that is not integral) and on integers that are exact doubles."""
    if isinstance(x, int):
        return -(2**53) <= x <= 2**53
    return 1e-4 <= abs(x) < 1e16 and not x.is_integer()


_ASTRAL = re.compile("[\U00010000-\U0010FFFF]")


def canonical_text(value, source: str = "") -> str:
    """The RFC 8785 text of a parsed JSON value with finite numbers.

    json.dumps (C) writes the text; the numbers whose ECMAScript form differs from
    Python's repr (exponent forms, integral doubles, −0) go in as marker strings and
    are replaced after.  The marker is made of '@' signs that occur nowhere in
    ``source`` (the text the value was read from), so no text of the document is
    mistaken for one.  Keys are sorted by UTF-16 code units (RFC 8785 §3.2.3): that is
    code point order unless a key holds a character beyond U+FFFF.
    """
    special: list[str] = []
    mark = "@@"
    while mark in source:
        mark += "@"
    astral = _ASTRAL.search(source) is not None or not source

    def fix(v):
        if isinstance(v, dict):
            keys = sorted(v, key=_utf16) if astral else v
            return {k: fix(v[k]) for k in keys}
        if isinstance(v, list):
            return [fix(x) for x in v]
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return v
        if _plain(v):
            return v
        special.append(es_number(float(v)))
        return f"{mark}{len(special) - 1}{mark}"

    text = json.dumps(fix(value), separators=(",", ":"), ensure_ascii=False, sort_keys=not astral)
    if special:
        text = re.sub(f'"{mark}(\\d+){mark}"', lambda m: special[int(m.group(1))], text)
    return text
