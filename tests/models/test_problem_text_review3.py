"""Review 3 of the problem text's proof over its bytes (models/number_text.py, models/problem_text.py).

Each test is a reproducer of one finding of /work/notes/reports3/review-number-proof.md; they fail on
the branch as reviewed (h1-number-proof at 69a264c).  Independent references: Python's float() and the
rfc8785 package; deterministic work counts (characters compiled into regular expressions), never a clock.
"""

import json
import re

import numpy as np
import rfc8785

from coopchain.models import problem_text
from coopchain.models.number_text import parse_shortest


# --- R3-1 (high for the API, not reachable through read_canonical_text): IndexError on a valid buffer ----------


def test_a_24_character_token_40_bytes_before_the_buffers_end_is_read_without_an_index_error():
    # parse_shortest pads the buffer only when starts.max() + 40 > len(buf), but reads the word 8 bytes past a
    # 24-character token's fraction start (position 25 + 8 = 33, bytes to 41) whenever most tokens of the call
    # have more than 8 fraction digits (`_field` then reads every token's second chunk at once): one byte
    # beyond a 40-byte tail.
    for last in (b"1" * 24, b"-" + b"1" * 23):
        tokens = [b"0.30000000000000004"] * 3 + [last]
        buf = b" " * 8 + b",".join(tokens) + b" " * 16
        starts = np.cumsum([8] + [len(t) + 1 for t in tokens[:-1]])
        ends = starts + np.array([len(t) for t in tokens])
        assert starts[-1] + 40 == len(buf)
        values, proven = parse_shortest(buf, starts, ends)
        # References: float() and the rfc8785 package.  The first three are canonical doubles' forms; the last
        # is not (RFC 8785 writes its double in exponent form), so it must not be proven.
        for t, v, p in zip(tokens[:3], values[:3], proven[:3]):
            assert rfc8785.dumps(float(t)) == t and (not p or v == float(t))
        assert rfc8785.dumps(float(last)) != last and not proven[3]


# --- R3-2 (medium, slow path): one regular expression compiled per head, its size the names' length ------------


def _mixed_shape_text(name_length: int) -> str:
    """A canonical text of 3 enterprises of two shapes (one named, caps on some resources): the regex path."""
    ind = {"k" * name_length: 1.0}
    res = {"r" * name_length: {"cap": 1e6, "weight": 1.0}, "s": {"cap": 1e6, "weight": 1.0}}
    ents = []
    for j in range(3):
        e = {"alpha": 1 / 3 if j < 2 else 1 - 2 / 3, "benefit": {k: 1.5 for k in ind}, "cap": {"s": 10.0} if j % 2 else {},
             "g": 0.01, "id": f"e{j}", "max": 10.0, "min": 0.0, "reservation": 0.0, "u0": 0.5,
             "use": {r: 0.25 for r in res}}
        if j == 1:
            e["name"] = "one"
        ents.append(e)
    doc = {"cooperative": "c", "demand": {"max": 5.0, "min": 1.0}, "enterprises": ents, "indicators": ind,
           "resources": res, "round": "r", "schema": "coopchain/problem/v1"}
    return rfc8785.dumps(doc).decode()


def test_the_regex_path_compiles_no_pattern_as_long_as_the_names(monkeypatch):
    # Measured (review-files/slow_many_names.py): a 36 MB text of enterprises of mixed shapes whose names are
    # 4 M characters costs 10.4 s of CPU here against 0.45 s for the generic reader; 256 indicators and 256
    # resources of 1,000 characters (3.1 MB): 1.6 s against 0.03 s.  Almost all of it is re.compile of the
    # enterprise and cap patterns, which hold every name (about 0.3 s of CPU per MB of names, ~25x the whole
    # generic read of the same bytes), compiled again for every distinct head (lru_cache of 16).
    text = _mixed_shape_text(200_000)
    assert json.loads(text)  # a valid, canonical document (the reference says so)
    compiled = []
    real = re.compile

    def counting(pattern, flags=0):
        compiled.append(len(pattern) if isinstance(pattern, (str, bytes)) else 0)
        return real(pattern, flags)

    problem_text._enterprise_pattern.cache_clear()
    problem_text._cap_pattern.cache_clear()
    monkeypatch.setattr(problem_text.re, "compile", counting)
    problem_text.read_canonical_text(text)
    assert sum(compiled) < 100_000, f"{sum(compiled):,} pattern characters compiled for {len(text):,} characters of text"
