"""A canonical problem text read fast: columns straight from the text, proven canonical without rewriting it.

The certificate verifier and the allocation contract must know that a problem text is
exactly the canonical (RFC 8785) text of what it means (docs/certificate.md).  Reading it
as generic JSON (one dict per enterprise), checking it and writing its canonical text
again to compare took about 4.5 s of CPU at n = 100,000.  Here the text is read with one
compiled regular expression shaped after the canonical writer's own enterprise template
(`models.problem_rules.enterprise_template`): the keys are literal, in canonical order,
and each value is captured, column by column.  A text is accepted only when

- the part around the enterprises is, character for character, what the canonical writer
  writes for the values it holds (`canonical_head`);
- the enterprises' objects tile the array exactly, each matching the template;
- every number is the ECMAScript form of the double it reads as (the tokens of a column
  equal `es_numbers` of the parsed column), and every string RFC 8785's form of its text;
- the values have the types and signs `read_canonical` requires.

Together these say that the text equals `canonical_problem_text` of what was read, without
writing it.  Anything else gives None, and the caller reads the text the generic way
(`models.certificate_verify.read_problem`), which says precisely what is wrong: this path
never words an error.  numpy and the standard library only (the certificate leaf).
"""

from __future__ import annotations

import functools
import json
import math
import re

import numpy as np

from coopchain.models.problem_rules import (
    MAX_NAMES,
    CanonicalProblem,
    Columns,
    ShapeError,
    _string,
    canonical_head,
    enterprise_template,
    es_numbers,
    read_head,
)
from coopchain.models.strict_json import loads, loads_fast

_ENTERPRISES = ',"enterprises":['
_AFTER = '],"indicators":{'
# A number token: any run of number characters (the round trip through es_numbers decides the form).
_NUM = r"([-+.0-9eE]+)"
# A string token: no raw quote or control character; an escape is checked against RFC 8785's form later.
_STR = r'("[^"\\\x00-\x1f]*(?:\\[^\x00-\x1f][^"\\\x00-\x1f]*)*")'  # unrolled: no alternation per character


@functools.lru_cache(maxsize=16)
def _enterprise_pattern(indicators: tuple, resources: tuple):
    """One canonical enterprise object (and its trailing comma), each value a group; the skeleton's length."""
    q = lambda name: re.escape(_string(name))  # noqa: E731
    benefit = ",".join(f"{q(k)}:{_NUM}" for k in indicators)
    use = ",".join(f"{q(r)}:{_NUM}" for r in resources)
    pattern = re.compile(
        r'\{"alpha":' + _NUM + r',"benefit":\{' + benefit + r'\},"cap":\{([^{}]*)\},"g":' + _NUM + ',"id":' + _STR
        + ',"max":' + _NUM + ',"min":' + _NUM + ',(?:"name":' + _STR + ',)?"reservation":' + _NUM + ',"u0":' + _NUM
        + r',"use":\{' + use + r'\}\}(,(?=\{)|\Z)'
    )
    # The characters of one enterprise that are not captured (no name: a name adds '"name":' and ',').
    fields = 1 + len(indicators) + len(resources) + 9 + len(resources)
    skeleton = len(enterprise_template(list(indicators), list(resources), ()).format(*[""] * fields))
    return pattern, skeleton


@functools.lru_cache(maxsize=16)
def _cap_pattern(resources: tuple):
    """The cap object of an enterprise that caps every resource, the bodies joined by NUL."""
    body = ",".join(f"{re.escape(_string(r))}:{_NUM}" for r in resources)
    return re.compile(body + r"(?:\x00|\Z)"), len(",".join(f"{_string(r)}:" for r in resources))


def _numbers(tokens) -> np.ndarray | None:
    """The doubles of number tokens, or None unless each token is the canonical form of its double."""
    tokens = list(tokens)
    values = np.array(tokens, dtype=float)
    if not np.isfinite(values).all() or es_numbers(values) != tokens:
        return None
    return values


def _strings(tokens) -> list | None:
    """The texts of string tokens (quotes included), or None unless each is RFC 8785's form of its text."""
    if "\\" not in "".join(tokens):
        return [t[1:-1] for t in tokens]  # no escape: the pattern left out raw quotes and control characters
    out = []
    for t in tokens:
        s = json.loads(t)
        if _string(s) != t:
            return None
        out.append(s)
    return out


def read_canonical_text(text: str) -> CanonicalProblem | None:
    """The columns of a canonical problem text, or None when this fast path cannot vouch for it (read it generically)."""
    try:
        return _read(text)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError, ShapeError):
        return None


def _read(text: str) -> CanonicalProblem | None:
    at = text.find(_ENTERPRISES)
    if at < 0:
        return None
    start = at + len(_ENTERPRISES)
    end = text.find(_AFTER, start)
    if end < 0 or end == start:
        return None
    head = read_head(loads(text[:start] + "0" + text[end:], what="the problem"))  # strict: a duplicated key is refused
    if len(head.indicators) > MAX_NAMES or len(head.resources) > MAX_NAMES:
        # The generic reader refuses it (too_large) and says so; here, a regex of one group per name would
        # cost seconds to compile at 100,000 names (review R-3), and two readers must give one verdict.
        return None
    before, after = canonical_head(head)
    if not (len(before) == start and text.startswith(before) and text.endswith(after) and len(after) == len(text) - end):
        return None
    span = text[start:end]
    pattern, skeleton = _enterprise_pattern(head.indicators, head.resources)
    found = pattern.findall(span)
    if not found:
        return None
    K, R, n = len(head.indicators), len(head.resources), len(found)
    cols = list(zip(*found))
    names_given = sum(1 for t in cols[6 + K] if t)
    # Each match holds its trailing comma, so no character lies between matches when the lengths add up.
    if n * skeleton + len('"name":,') * names_given + sum(sum(map(len, col)) for col in cols) != len(span):
        return None
    alpha = _numbers(cols[0])
    benefit = [_numbers(cols[1 + k]) for k in range(K)]
    bodies = cols[1 + K]
    g, ids, vmax, vmin = _numbers(cols[2 + K]), _strings(cols[3 + K]), _numbers(cols[4 + K]), _numbers(cols[5 + K])
    names = _strings([t for t in cols[6 + K] if t]) if names_given else []
    reservation, u0 = _numbers(cols[7 + K]), _numbers(cols[8 + K])
    use = [_numbers(cols[9 + K + r]) for r in range(R)]
    parts = [alpha, g, vmax, vmin, reservation, u0, *benefit, *use]
    if any(p is None for p in parts) or ids is None or names is None or any(len(i) == 0 for i in ids):
        return None
    cap = _caps(bodies, head.resources, n)
    if cap is None:
        return None
    benefit_m = np.column_stack(benefit) if K else np.zeros((n, 0))
    use_m = np.column_stack(use) if R else np.zeros((n, 0))
    nonneg = [alpha, g, vmax, vmin, reservation, benefit_m, use_m, np.where(np.isinf(cap), 0.0, cap)]
    if any((a < 0).any() for a in nonneg):
        return None  # read_canonical says which, and where
    name_iter = iter(names)
    columns = Columns(
        ids=tuple(ids), indicators=head.indicators, resources=head.resources,
        weights=head.weights, resource_cap=head.resource_cap, resource_weight=head.resource_weight,
        demand_min=float(head.demand[0]), demand_max=float(head.demand[1]),
        volume_min=vmin, volume_max=vmax, u0=u0, g=g, reservation=reservation, alpha=alpha,
        benefit=benefit_m, use=use_m, cap=cap, broken=np.zeros(n, dtype=bool),
    )
    return CanonicalProblem(head.cooperative, head.round, tuple(next(name_iter) if t else None for t in cols[6 + K]), columns)


def _caps(bodies: tuple, resources: tuple, n: int) -> np.ndarray | None:
    """The enterprises' own caps (inf where none), from the bodies of their cap objects."""
    cap = np.full((n, len(resources)), math.inf)
    if not any(bodies):
        return cap
    if all(bodies) and resources:
        # The usual case: every enterprise caps every resource.
        pattern, skeleton = _cap_pattern(resources)
        joined = "\x00".join(bodies)
        found = pattern.findall(joined)
        if len(found) == n and n * skeleton + (n - 1) + sum(sum(map(len, col)) for col in zip(*found)) == len(joined):
            for r, col in enumerate(zip(*found)):
                values = _numbers(col)
                if values is None:
                    return None
                cap[:, r] = values
            return cap
    index = {_string(r): i for i, r in enumerate(resources)}
    rows, where, tokens = [], [], []
    for j, body in enumerate(bodies):
        if not body:
            continue
        last = -1
        for item in body.split(","):
            key, _, token = item.rpartition(":")
            i = index[key]  # an unknown key (or a name holding ',' or ':') is for the generic reader
            if i <= last:
                return None
            last = i
            rows.append(j)
            where.append(i)
            tokens.append(token)
    values = _numbers(tokens)
    if values is None:
        return None
    cap[rows, where] = values
    return cap


def problem_identity(text: str) -> tuple:
    """(cooperative, round) a problem text names, read from its head alone (the text around the enterprises),
    or from the whole text when it has no canonical head.  Not a proof of anything: the certificate leaf
    proves the text (`models.certificate_verify.proven_problem`); this tells a client where to commit."""
    at = text.find(_ENTERPRISES)
    end = text.find(_AFTER, at + 1) if at >= 0 else -1
    # loads_fast: nesting bounded by a count of brackets, never by the stack (a contract's verdict rests on it).
    try:
        doc = loads_fast(text[: at + len(_ENTERPRISES)] + text[end:]) if at >= 0 and end >= 0 else loads_fast(text)
    except ValueError:
        doc = loads_fast(text, what="the problem")  # raises StrictJsonError (a ValueError): not JSON at all
    if not isinstance(doc, dict):
        return None, None
    return doc.get("cooperative"), doc.get("round")
