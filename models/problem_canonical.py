"""The problem document's text without its model: the refusal error, the canonical writer's helpers.

The solve fast path (models.problem_columns) reads, checks and writes a problem's
canonical text from columns; it needs these and not pydantic, whose import alone
costs 0.15-0.2 s of CPU on every `coopchain solve`.  models.problem re-exports them.
"""

from __future__ import annotations

import gc
import re
from contextlib import contextmanager
from typing import Iterable

import numpy as np
import orjson
import rfc8785

from coopchain.models.problem_rules import SCHEMA, Issue  # noqa: F401  (SCHEMA re-exported)


@contextmanager
def bulk():
    """Pause the cyclic garbage collector while many small objects are made.

    Reading 100,000 enterprises makes millions of dicts and floats; each
    generation-2 pass walks all of them, which more than doubles the time.  None
    of these objects form cycles, so nothing is lost by collecting afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class ProblemError(ValueError):
    """A problem document was refused; ``issues`` lists every reason found."""

    def __init__(self, issues: Iterable[Issue]):
        self.issues = tuple(issues)
        super().__init__("\n".join(f"{i.path}: {i.message}" if i.path else i.message for i in self.issues))

    def __reduce__(self):
        # Rebuild from the issues, not from the joined message (multiprocessing pickles errors).
        return (type(self), (self.issues,))


def _utf16(key: str) -> bytes:
    return key.encode("utf-16be")  # RFC 8785 §3.2.3 sorts keys by their UTF-16 code units


def sorted_names(names: Iterable[str]) -> list[str]:
    return sorted(names, key=_utf16)


# RFC 8785 §3.2.2.2 escapes exactly these; a string without them is written as is.
NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\]')


def string(s: str) -> str:
    return f'"{s}"' if NEEDS_ESCAPE.search(s) is None else rfc8785.dumps(s).decode()


def numbers(xs) -> list[str]:
    """Many floats in RFC 8785 form (§3.2.2.3), formatted in bulk by orjson (Rust, shortest digits).

    orjson and ECMAScript's Number::toString pick the same shortest round-trip digits;
    they differ only in layout: orjson writes integral values with ".0" and switches
    to exponent form much earlier (from 1e16, below 1e-4).  The ".0" is dropped here;
    every exponent form goes to rfc8785, which writes it as ECMAScript does (tests/models
    check this against rfc8785.dumps over magnitudes from 1e-12 to 1e25).
    NaN marks an absent value (a cap not given); its text is never used (written "null").
    """
    values = np.ascontiguousarray(xs, dtype=float) + 0.0  # -0.0 + 0.0 is 0.0, written "0"
    if len(values) == 0:
        return []
    text = orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY).decode()[1:-1]
    out = text.split(",")
    if ".0" in text:
        out = (text + ",").replace(".0,", ",")[:-1].split(",")
    if "e" in text:
        known: dict[float, str] = {}
        for i, token in enumerate(out):
            if "e" in token:
                x = float(values[i])
                out[i] = known.get(x) or known.setdefault(x, rfc8785.dumps(x).decode())
    return out
