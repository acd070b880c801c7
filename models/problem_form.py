"""The problem's columns form, coopchain/problem-columns/v1: one byte string per canonical problem.

A canonical problem text proves itself canonical only by reading every number token and proving it
the shortest form of its double (models.number_text): at 100,000 enterprises, 1.5 million tokens and
most of `coopchain verify`'s time.  In this form the numbers are the doubles themselves, so reading
it is a copy, and a v3 certificate names its problem by the SHA-256 of these bytes.

The form is ``HEADER "\\n" BODY``:

* HEADER: the RFC 8785 text of one JSON object with exactly the members ``schema``
  ("coopchain/problem-columns/v1"), ``cooperative``, ``round``, ``indicators`` and ``resources``
  (their names, each list in RFC 8785 key order: by UTF-16 code units), ``ids`` (the enterprises' ids
  in document order) and ``names`` (each enterprise's name, or null).  RFC 8785 escapes every
  control character, so the first newline ends the header.
* BODY: little-endian IEEE 754 doubles, no padding: demand min and max, the indicator weights (K),
  the resource caps (R), the resource weights (R); then n enterprises' columns one after another:
  min, max, u0, g, reservation, alpha, benefit per indicator (K columns), use per resource (R), cap per
  resource (R; +inf where the enterprise has no cap of that resource).

Canonical: the header is exactly its RFC 8785 text, the body exactly its length, and no double is
NaN, −inf, −0.0, or +inf outside a cap column.  So the form and the canonical problem text are in
one-to-one correspondence (`encode` of the columns read from a canonical text; tests check both
ways), and one problem has one SHA-256 in each.

numpy and the standard library only: the certificate leaf reads it.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from coopchain.models.problem_rules import MAX_NAMES, SCHEMA as PROBLEM_SCHEMA, CanonicalProblem, Columns, ShapeError, _signs, _text, _utf16, read_head

FORM = "coopchain/problem-columns/v1"
SUFFIX = ".problem.bin"  # what `coopchain solve --certificate NAME.json` writes beside the certificate
MAX_FORM_BYTES = 1 << 30
MAX_ENTERPRISES = 2_000_000
MAX_HEADER_BYTES = 1 << 28  # 256 MiB: 2,000,000 ids and names of 60 bytes each
_HEADER_KEYS = ("cooperative", "ids", "indicators", "names", "resources", "round", "schema")
_ENTERPRISE_COLUMNS = ("min", "max", "u0", "g", "reservation", "alpha")
_LE = np.dtype("<f8")


class FormError(ValueError):
    """Bytes that are not a problem's columns form; ``code`` is the certificate verifier's
    (``malformed``, ``too_large``, ``not_canonical``, ``invalid_problem``), ``path`` where, when known."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


def _header_bytes(header: dict) -> bytes:
    # Members and list items are text, null or lists of them: json's separators and key order are RFC 8785's
    # for these (the keys are ASCII), and its escapes too (ensure_ascii off: \b \t \n \f \r, \" \\, \u00xx).
    return json.dumps(header, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def encode(problem: CanonicalProblem) -> bytes:
    """The columns form of a valid problem (as read from its canonical text, or built from its instance)."""
    c = problem.columns
    ind = sorted(range(len(c.indicators)), key=lambda k: _utf16(c.indicators[k]))
    res = sorted(range(len(c.resources)), key=lambda r: _utf16(c.resources[r]))
    header = {
        "schema": FORM, "cooperative": problem.cooperative, "round": problem.round,
        "indicators": [c.indicators[k] for k in ind], "resources": [c.resources[r] for r in res],
        "ids": list(c.ids), "names": list(problem.names),
    }
    head = np.concatenate([[c.demand_min, c.demand_max], c.weights[ind], c.resource_cap[res], c.resource_weight[res]])
    columns = [c.volume_min, c.volume_max, c.u0, c.g, c.reservation, c.alpha]
    columns += [c.benefit[:, k] for k in ind] + [c.use[:, r] for r in res] + [c.cap[:, r] for r in res]
    parts = [np.asarray(head, dtype=float), *columns]
    body = np.empty(sum(len(p) for p in parts), dtype=_LE)  # one array, written once (168 MB at 10^6 enterprises)
    np.concatenate(parts, out=body)
    body += 0.0  # −0.0 + 0.0 is +0.0, as the text writes "0"
    if np.isnan(body).any() or np.isneginf(body).any():
        raise ValueError("a problem's columns form holds no NaN and no −inf")
    return b"".join((_header_bytes(header), b"\n", memoryview(body).cast("B")))


def encode_instance(inst, cooperative: str, round_: str, names) -> bytes:
    """The columns form of a valid problem from its instance (models.certificate.Instance, as the solvers and
    the verifier hold it) and what the instance leaves out: the cooperative, the round, each enterprise's name."""
    names = tuple(names) if names is not None else (None,) * inst.n
    columns = Columns(
        ids=inst.ids, indicators=inst.indicators, resources=inst.resources, weights=inst.indicator_weight,
        resource_cap=inst.cooperative_cap, resource_weight=inst.resource_weight, demand_min=inst.demand_min,
        demand_max=inst.demand_max, volume_min=inst.volume_min, volume_max=inst.volume_max, u0=inst.u0, g=inst.g,
        reservation=inst.reservation, alpha=inst.alpha, benefit=inst.benefit, use=inst.use, cap=inst.enterprise_cap,
        broken=np.zeros(inst.n, dtype=bool),
    )
    return encode(CanonicalProblem(cooperative, round_, names, columns))


def looks_like_form(data: bytes) -> bool:
    """Whether `data` starts as a columns form does (its header's last member is the schema); `read` proves the rest."""
    end = data.find(b"\n", 0, MAX_FORM_BYTES)
    return end > 0 and data[:end].endswith(b',"schema":"' + FORM.encode() + b'"}')


def digest(form: bytes) -> str:
    """SHA-256 (hex) of a columns form: the problem's identity in a v3 certificate."""
    return hashlib.sha256(form).hexdigest()


def read(data: bytes) -> CanonicalProblem:
    """The problem a columns form holds, proven canonical and structurally valid (the problem model's shape
    rules; the caller checks `meaning_issues`, as for a text).  FormError otherwise."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise FormError("malformed", "the problem's columns form must be bytes")
    data = bytes(data)
    if len(data) > MAX_FORM_BYTES:
        raise FormError("too_large", f"the problem's columns form has {len(data):,} bytes; at most {MAX_FORM_BYTES:,} are read")
    end = data.find(b"\n")
    if end < 0:
        raise FormError("malformed", f"not a problem's columns form ({FORM}): no header line")
    header = _header(data[:end])
    K, R, n = len(header["indicators"]), len(header["resources"]), len(header["ids"])
    width = 6 + K + 2 * R
    expected = 8 * (2 + K + 2 * R + n * width)
    body = memoryview(data)[end + 1:]
    if len(body) != expected:
        raise FormError("not_canonical", f"the problem's columns form has {len(body):,} bytes of numbers; its header calls for {expected:,}")
    x = np.frombuffer(body, dtype=_LE).astype(float)  # a copy: aligned, native, owned
    nonfinite = ~np.isfinite(x)
    if nonfinite.any():
        caps = np.zeros(len(x), dtype=bool)
        at = 2 + K + 2 * R + n * (6 + K + R)
        caps[at:at + n * R] = True
        bad = nonfinite & ~(caps & (x == np.inf))
        if bad.any():
            raise FormError("not_canonical", f"the problem's columns form holds {float(x[np.argmax(bad)])!r} (double {int(np.argmax(bad))}): a problem's numbers are finite, but for +inf, an enterprise without a cap")
    if np.signbit(x[x == 0]).any():
        raise FormError("not_canonical", "the problem's columns form holds −0.0; the canonical form of zero is +0.0")
    return _problem(header, x, K, R, n)


def _header(raw: bytes) -> dict:
    from coopchain.models.strict_json import MAX_DEPTH, StrictJsonError, loads

    # Bounded before it is parsed: each text of the header costs a Python object (15 million two-letter ids in 75 MB
    # took 1.3 GB to read); the header lists ids and names, at most two per enterprise, and the names of K and R.
    if len(raw) > MAX_HEADER_BYTES or raw.count(b",") > 2 * MAX_ENTERPRISES + 2 * MAX_NAMES + 8:
        raise FormError("too_large", f"the problem's columns header lists more than {MAX_ENTERPRISES:,} enterprises, or exceeds {MAX_HEADER_BYTES:,} bytes")

    def constant(token: str):
        raise ValueError(f"{token} is not a JSON number")

    try:
        if raw.count(b"[") + raw.count(b"{") < MAX_DEPTH:
            # Nesting this shallow cannot reach the interpreter's stack, and a key given twice (read last-wins
            # here) makes the text differ from the canonical text of what was read: refused below.  (The strict
            # reader's checks cost as much as the parse: 10 ms at 100,000 ids.)
            header = json.loads(raw, parse_constant=constant)
        else:
            header = loads(raw, what="the problem's columns header")
    except UnicodeDecodeError as e:
        raise FormError("malformed", f"the problem's columns header is not UTF-8 text (byte {e.start} cannot be read)") from None
    except StrictJsonError as e:  # a key twice is not_canonical, as on the path above (the text is not the canonical text)
        raise FormError("not_canonical" if e.code == "duplicate_key" else "malformed", str(e)) from None
    except ValueError as e:  # json's JSONDecodeError; an integer past Python's digit limit
        raise FormError("malformed", f"the problem's columns header is not JSON: {e}") from None
    if not isinstance(header, dict) or tuple(sorted(header)) != _HEADER_KEYS:
        raise FormError("malformed", f"the problem's columns header has exactly the members {', '.join(_HEADER_KEYS)}")
    if header["schema"] != FORM:
        raise FormError("malformed", f"the problem's columns header's schema must be {json.dumps(FORM)}")
    for key in ("indicators", "resources", "ids", "names"):
        if not isinstance(header[key], list):
            raise FormError("malformed", f"the problem's columns header's {key} must be a list")
    for key in ("indicators", "resources"):
        if len(header[key]) > MAX_NAMES:
            raise FormError("too_large", f"the problem has {len(header[key])} {key}; at most {MAX_NAMES} are read")
    if len(header["ids"]) > MAX_ENTERPRISES:
        raise FormError("too_large", f"the problem has {len(header['ids']):,} enterprises; at most {MAX_ENTERPRISES:,} are read")
    if len(header["names"]) != len(header["ids"]):
        raise FormError("malformed", f"the problem's columns header has {len(header['names']):,} names for {len(header['ids']):,} ids")
    try:
        canonical = _header_bytes(header)
    except UnicodeEncodeError:
        raise FormError("not_canonical", "the problem's columns header holds a lone UTF-16 surrogate, which has no UTF-8 form") from None
    if canonical != raw:
        raise FormError("not_canonical", "the problem's columns header is not in RFC 8785 form (members sorted, no spaces, minimal escapes)")
    for key in ("indicators", "resources"):
        names = header[key]
        if any(not isinstance(k, str) for k in names) or [_utf16(k) for k in names] != sorted(set(map(_utf16, names))):
            raise FormError("not_canonical", f"the problem's {key} must be distinct names in RFC 8785 key order")
    return header


def _problem(header: dict, x: np.ndarray, K: int, R: int, n: int) -> CanonicalProblem:
    ind, res = tuple(header["indicators"]), tuple(header["resources"])
    head = {
        "schema": PROBLEM_SCHEMA, "cooperative": header["cooperative"], "round": header["round"],
        "demand": {"min": float(x[0]), "max": float(x[1])}, "enterprises": [None] * min(n, 1),
        "indicators": dict(zip(ind, x[2:2 + K].tolist())),
        "resources": {r: {"cap": c, "weight": w} for r, c, w in zip(res, x[2 + K:2 + K + R].tolist(), x[2 + K + R:2 + K + 2 * R].tolist())},
    }
    try:
        h = read_head(head)  # the document's rules for everything around the enterprises, written once
        ids = tuple(header["ids"])
        if set(map(type, ids)) != {str} or not all(ids):  # in C; the loop names the first bad one
            for j, eid in enumerate(ids):
                _text(eid, f"enterprises[{j}].id")
        if not set(map(type, header["names"])) <= {str, type(None)}:
            bad = next(j for j, name in enumerate(header["names"]) if name is not None and not isinstance(name, str))
            raise ShapeError(f"enterprises[{bad}].name", "must be text")
        at = 2 + K + 2 * R
        cols = x[at:].reshape(6 + K + 2 * R, n)
        for i, key in enumerate(_ENTERPRISE_COLUMNS):
            if key != "u0":
                _signs(cols[i], lambda j, key=key: f"enterprises[{j}].{key}")
        benefit, use, cap = cols[6:6 + K].T, cols[6 + K:6 + K + R].T, cols[6 + K + R:].T
        for group, table, names in (("benefit", benefit, ind), ("use", use, res), ("cap", cap, res)):
            _signs(table, lambda i, group=group, names=names: f"enterprises[{i // max(len(names), 1)}].{group}.{names[i % max(len(names), 1)]}")
    except ShapeError as e:
        raise FormError("invalid_problem", f"the problem: {e}") from None
    columns = Columns(
        ids=ids, indicators=ind, resources=res, weights=h.weights, resource_cap=h.resource_cap, resource_weight=h.resource_weight,
        demand_min=float(x[0]), demand_max=float(x[1]), volume_min=cols[0], volume_max=cols[1], u0=cols[2], g=cols[3],
        reservation=cols[4], alpha=cols[5], benefit=np.ascontiguousarray(benefit), use=np.ascontiguousarray(use),
        cap=np.ascontiguousarray(cap), broken=np.zeros(n, dtype=bool),
    )
    return CanonicalProblem(h.cooperative, h.round, tuple(header["names"]), columns)
