"""Canonical encoding of everything the ledger hashes or signs (SPEC §2).

RFC 8785 (JSON Canonicalization Scheme) over a deliberately small value set:
objects with ASCII keys, arrays, strings, booleans, null and integers within
I-JSON's exact range (|x| < 2^53).  Floats are refused: two machines may print
the same float differently, an integer or a decimal string never.  Bytes travel
as lowercase hex strings.

Over that set RFC 8785 is exactly `json.dumps` with sorted keys, no whitespace
and UTF-8 output (ASCII keys sort the same by UTF-16 code units as by code
points; strings escape only '"', '\\' and control characters, as JSON.stringify
does).  So this module needs only the standard library, and the offline audit
verifier can use it; tests/chain/test_encoding.py checks it against the
`rfc8785` package.  The format is described for auditors in docs/ledger.md.

Decoding is bounded, because the bytes may come from a tampered database or an
adversary's bundle: invalid UTF-8, nesting deeper than `MAX_DEPTH`, an integer
of more than `MAX_INTEGER_DIGITS` digits (refused before Python converts it, so
a 5,000-digit number costs nothing) and lone surrogates each raise the one
`EncodingError`, never RecursionError or ValueError.
"""

from __future__ import annotations

import functools
import json
import re
from itertools import accumulate
from typing import Any

from coopchain.chain.errors import EncodingError

MAX_SAFE_INTEGER = 2**53 - 1
MAX_INTEGER_DIGITS = len(str(MAX_SAFE_INTEGER))  # 16: a longer integer literal is out of range whatever its digits
MAX_DEPTH = 64  # arrays and objects inside one another; a header nests 3 deep, a transaction 3 plus its payload


def _check(value: Any, path: str, depth: int = 0) -> None:
    if value is None or isinstance(value, (bool, str)):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise EncodingError(f"{path}: the string holds a lone surrogate, which has no UTF-8 form") from None
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            # No f"{value}": printing an integer of over 4,300 digits raises ValueError.
            shown = str(value) if value.bit_length() <= 64 else f"of {value.bit_length()} bits"
            raise EncodingError(f"{path}: integer {shown} is outside ±(2^53 − 1); write it as a string")
        return
    if isinstance(value, float):
        raise EncodingError(f"{path}: floats have no canonical form here; use an integer or a decimal string")
    if isinstance(value, (list, tuple, dict)) and depth >= MAX_DEPTH:
        raise EncodingError(f"{path}: arrays and objects nest deeper than {MAX_DEPTH} levels")
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key.isascii():
                raise EncodingError(f"{path}: object keys must be ASCII strings, got {key!r}")
            _check(item, f"{path}.{key}", depth + 1)
        return
    raise EncodingError(f"{path}: {type(value).__name__} has no canonical encoding")


def _plain(value: Any, depth: int) -> bool:
    """Whether `value` lies in the value set, built of exactly dict, list, tuple, str, int, bool
    and None (not their subclasses).  The common case, checked without building the JSON path
    of every item, which `_check` does to name the faulty one: on False (or a lone surrogate,
    which only the UTF-8 encoding finds) `canonical` runs `_check` for its message."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
    if depth >= MAX_DEPTH:
        return False
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not key.isascii() or not _plain(item, depth + 1):
                return False
        return True
    if kind is list or kind is tuple:
        for item in value:
            if not _plain(item, depth + 1):
                return False
        return True
    return False


# json.dumps with these arguments builds a new JSONEncoder per call (a few µs, five times per
# transaction); one made once does the same.  It keeps no state between calls.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# orjson.dumps, once `accelerate()` has been called in this process (a committing node); else None.
_fast_dumps = None


def accelerate() -> None:
    """Encode plain values with orjson from now on in this process: 5–20 times faster on a large
    payload (a 37 MiB problem document, a 100,000-entry allocation), where the standard library's
    encoder escapes a string one character at a time.

    Over the value set the bytes are the same: sorted ASCII keys, no whitespace, integers below
    2^53, and strings escaped exactly as JSON.stringify does (tests/chain/test_encoding.py checks
    every code point and random values against the standard library's encoder).  Only a committing
    node asks for it (chain.ledger.Ledger); the offline verifier never does, so it needs the standard
    library alone, and a missing orjson leaves the standard library's encoder in place.  `canonical_text`
    keeps the standard library: its strings are short (names, sentences), where orjson gains nothing."""
    global _fast_dumps
    try:
        import orjson
    except ImportError:
        return
    _fast_dumps = functools.partial(orjson.dumps, option=orjson.OPT_SORT_KEYS)


def canonical(value: Any) -> bytes:
    """The RFC 8785 bytes of `value`, which must lie in the value set above."""
    if not _plain(value, 0):
        _check(value, "$")  # raises, naming the item; or passes a subclass of a plain type
    elif _fast_dumps is not None:
        try:
            # Copied into bytes of their own size: orjson's keep a buffer of at least 4 KiB, and a block's
            # state entries live on in the ledger's caches (the market bench's peak RSS: 211 -> 332 MiB).
            return bytes(memoryview(_fast_dumps(value)))
        except TypeError:  # orjson.JSONEncodeError: a lone surrogate, which the path below names
            pass
    text = _ENCODER.encode(value)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        _check(value, "$")  # names the string with the lone surrogate
        raise


def canonical_text(value: str) -> bytes:
    """`canonical(value)` for a str (exactly a str, not a subclass): for objects whose fixed
    fields are written out around their values (receipts, transactions); UnicodeEncodeError
    for a lone surrogate, which such a writer answers by calling `canonical` for its message."""
    return _ENCODER.encode(value).encode("utf-8")


# A JSON string with its escapes; brackets inside one do not nest.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 and -1 as signed bytes


def _too_deep(data: bytes) -> bool:
    """Whether arrays and objects nest deeper than MAX_DEPTH, by a count of brackets outside strings.

    Decided before the parser runs, so that Python's RecursionError (whose depth is the
    interpreter's limit minus the caller's stack, different on replay than on production)
    never decides what a decoding says.  The same scan as models.strict_json's, which chain/
    does not import."""
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return False  # no more openers in all, strings included: not deeper (headers, most rows)
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKET)
    if brackets.count(b"[") + brackets.count(b"{") <= MAX_DEPTH:
        return False
    return max(accumulate(memoryview(brackets.translate(_BRACKET_STEP)).cast("b")), default=0) > MAX_DEPTH


def decode(data: bytes) -> Any:
    """Parse canonical bytes back, refusing anything that is not exactly canonical.

    Every refusal is an EncodingError (module docstring: bounded decoding)."""
    if not isinstance(data, (bytes, bytearray)):
        raise EncodingError(f"expected bytes to decode, got {type(data).__name__}")
    try:
        text = data.decode("utf-8")  # strict: invalid sequences and encoded surrogates are refused
    except UnicodeDecodeError as e:
        raise EncodingError(f"not UTF-8 text: {e.reason} at byte {e.start}") from None
    if _too_deep(bytes(data)):
        raise EncodingError(f"arrays and objects nest deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(text, parse_float=_no_float, parse_constant=_no_float, parse_int=_integer)
    except json.JSONDecodeError as e:
        raise EncodingError(f"not canonical JSON: {e}") from e
    if canonical(value) != data:
        raise EncodingError("the bytes are JSON but not in canonical form (RFC 8785)")
    return value


def _integer(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits > MAX_INTEGER_DIGITS:
        raise EncodingError(f"an integer of {digits} digits is outside ±(2^53 − 1)")
    return int(text)


def _no_float(text: str):
    raise EncodingError(f"floats have no canonical form here: {text}")


def hex_bytes(value: Any, field: str, length: int | None = None) -> bytes:
    """Bytes from a lowercase hex string field, with the field named on error."""
    if not isinstance(value, str) or value != value.lower():
        raise EncodingError(f"{field}: expected a lowercase hex string")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise EncodingError(f"{field}: not a hex string") from None
    if length is not None and len(raw) != length:
        raise EncodingError(f"{field}: expected {length} bytes, got {len(raw)}")
    return raw
