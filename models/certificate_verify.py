"""The offline verifier of coopchain/certificate/v1, v2 and v3 documents: sound, deterministic, bounded (issue 10).

`verify` checks, in order, refusing with the first reason (`CertificateError`,
whose ``code`` is stable; docs/certificate.md lists the codes):

1. shape and size limits, before any heavy work (``malformed``, ``too_large``);
2. the embedded problem: its hash, its canonical text, and the problem model's own
   rules (models.problem_rules) (``hash_mismatch``, ``not_canonical``, ``invalid_problem``);
3. every number: finite, within the documented magnitudes (``non_finite``, ``out_of_range``);
4. the scalarisation, against the rules that keep it meaningful (``degenerate_scalarisation``);
5. feasibility of the allocation (``infeasible``);
6. each claimed value, the bound and each piece's bound against their recomputation
   (``value_mismatch``, ``bound_mismatch``), the gap (``gap_mismatch``, ``gap_exceeded``).

Every comparison is decided on exact values (models.exact): the floating-point
estimate decides only when its error bound does, so the verdict is the same on
every machine.  Tolerances are relative to magnitudes the problem itself sets (the
terms of a row, of an objective, of the bound), so rescaling a unit changes no verdict.
Imports numpy and the standard library only.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import math
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Context, Decimal, localcontext
from fractions import Fraction

import numpy as np

from coopchain.models import double_double as dd
from coopchain.models import exact as ex
from coopchain.models.certificate import (
    COORDINATION_CLASSES,
    GAP_LIMIT,
    LINEAR_OBJECTIVES,
    OBJECTIVES,
    SCHEMA,
    SCHEMA_V1,
    SCHEMA_V3,
    CertificateError,
    Instance,
    Values,
    coordination_class,
    coupling_rows,
    hashed_as_written,
    once_per_object,
    problem_hash,
)
from coopchain.models import portable_float as pf
from coopchain.models import problem_form
from coopchain.models.problem_rules import MAX_NAMES, ShapeError, canonical_problem_text, id_issues, meaning_issues, read_canonical
from coopchain.models.strict_json import StrictJsonError, loads, loads_fast

# --- limits (checked before any heavy work) ------------------------------------------------
MAX_PROBLEM_CHARS = 1 << 30  # 1 GiB of canonical text: about 2.8 million enterprises
MAX_ENTERPRISES = 2_000_000
MAX_PIECES = 2_000
MAX_PIECE_WORK = 50_000_000  # pieces × enterprises: each piece costs one pass over the enterprises
MAX_CONSTRAINTS = 8  # ε-constraints of a scalarisation
# Enterprise-evaluations the exact path may spend on one certificate (one decimal logarithm each, about
# 75 µs; a linear exact pass counts an eighth per enterprise): a certificate whose numbers sit on a
# threshold within rounding sends comparisons there, and without a budget one with many pieces
# costs pieces × enterprises logarithms (45 CPU-minutes at the piece limit; review F-2).
MAX_EXACT_WORK = 100_000
# Piece-enterprise evaluations the second filter (double-double, about a microsecond each) may spend on the
# pieces of one certificate; past it the exact path decides (and its budget refuses at scale).
MAX_REFINE_WORK = 10_000_000
# Multipliers, weights, κ, τ, μ, references and scales: at most this in magnitude, and a
# divisor (κ) at least its inverse; with the problem's own bound (1e15) every product the
# bounds form stays below 1e200 (docs/certificate.md).
MAX_NUMBER = 1e60

# --- tolerances (all relative to magnitudes of the problem's own rows and objectives) -------
FEASIBILITY = 1e-9  # a − b <= FEASIBILITY × (Σ|terms of a| + |b|)
DEVELOPMENT = 1e-9  # U_j <= 1 + DEVELOPMENT (U has no unit)
AGREEMENT = 1e-9  # |claimed − recomputed| <= AGREEMENT × magnitude of the recomputed number
GAP_AGREEMENT = 1e-9  # |claimed gap − gap|, a ratio
NEGATIVE_GAP = 1e-8  # a gap below −NEGATIVE_GAP means the "bound" lies below a feasible value

_FIELDS = {"schema", "objective", "problem_hash", "allocation", "rows", "values", "bound", "gap"}  # v1 adds "problem"
_OPTIONAL = {"multipliers", "pieces", "scalarisation", "scalarised_value", "mu"}
_SCALARISATION_FIELDS = {
    "weighted": {"method", "weights", "kappa", "constraints"},
    "epsilon": {"method", "weights", "kappa", "constraints", "coordination_at_least"},
    "lexicographic": {"method", "weights", "kappa", "constraints"},
    "chebyshev": {"method", "chebyshev", "constraints"},
}


def fail(code: str, message: str):
    raise CertificateError(message, code)


@dataclass(frozen=True)
class Verified:
    """What a valid certificate proves, and in words (``proven``).  The allocation proven: `ids` and their
    `volumes` in order; `allocation` is them as {id: W}."""

    objective: str
    problem_hash: str
    ids: tuple
    volumes: list
    values: Values
    bound: float
    gap: float
    proven: str = ""
    scalarisation: dict | None = None

    @functools.cached_property
    def allocation(self) -> dict:
        """{id: W}, built when first asked for (100,000 string keys: ~30 ms a `coopchain verify` does not need)."""
        return dict(zip(self.ids, self.volumes))


# --- reading ------------------------------------------------------------------------------------


def read_text(text: str | bytes, what: str = "the certificate"):
    """Parse a certificate (or a solve's output) strictly: duplicate keys, NaN, huge integers and deep
    nesting are refused with a code, never a traceback."""
    try:
        return loads(text, what=what)
    except StrictJsonError as e:
        fail(e.code, str(e))


def _number(x, where: str, *, limit: float | None = MAX_NUMBER) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        fail("malformed", f"{where} must be a number (got {type(x).__name__})")
    if isinstance(x, int) and abs(x) > 2**1000:
        fail("out_of_range", f"{where} is an integer beyond the range of a double")
    v = float(x)
    if not math.isfinite(v):
        fail("non_finite", f"{where} must be a finite number, not {v!r}")
    if limit is not None and abs(v) > limit:
        fail("out_of_range", f"{where} = {v!r} is beyond the largest magnitude a certificate may use ({limit:g})")
    return v


def _numbers(raw, m: int | None, where: str, *, nonneg: bool = False) -> np.ndarray:
    if not isinstance(raw, list) or (m is not None and len(raw) != m):
        fail("malformed", f"{where} must be a list of {m} numbers" if m is not None else f"{where} must be a list of numbers")
    out = None
    if set(map(type, raw)) <= {float, int}:  # the usual case, whole columns at once (bool is not int's type)
        try:
            out = np.array(raw, dtype=float).reshape(len(raw))
        except OverflowError:
            out = None
        if out is not None and not (np.isfinite(out).all() and (np.abs(out) <= MAX_NUMBER).all()):
            out = None  # _number says which, and why
    if out is None:
        out = np.array([_number(x, where) for x in raw], dtype=float).reshape(len(raw))
    if nonneg and np.any(out < 0):
        fail("negative_multiplier", f"{where} must be non-negative (a negative multiplier proves nothing)")
    return out + 0.0  # −0.0 is 0


def _claimed(x, where: str) -> float:
    return _number(x, where, limit=None)


def read_problem(text, data: bytes | None = None) -> tuple[Instance, object]:
    """A problem text: canonical, and valid under the problem model's rules (the instance and the
    `CanonicalProblem`).  The fast reader (models.problem_text) proves a canonical text canonical without
    rewriting it; anything it cannot vouch for is read generically, which says what is wrong."""
    if not isinstance(text, str):
        fail("malformed", "'problem' must be the canonical problem document as a string")
    if len(text) > MAX_PROBLEM_CHARS:
        fail("too_large", f"the embedded problem has {len(text):,} characters; at most {MAX_PROBLEM_CHARS:,} are read")
    if data is None:  # ``data``: the text's UTF-8 bytes, when the caller has them already
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            fail("not_canonical", "the embedded problem holds a lone UTF-16 surrogate, which has no UTF-8 form")
    from coopchain.models.problem_text import read_canonical_text  # the text's reader (and its number tables): text only

    problem = read_canonical_text(text, data)
    if problem is None:
        problem = _read_generic(text)
    return _checked_instance(problem, "the embedded problem"), problem


def read_problem_form(data) -> tuple[Instance, object]:
    """A problem's columns form (models.problem_form): canonical, and valid under the problem model's rules."""
    try:
        problem = problem_form.read(data)
    except problem_form.FormError as e:
        fail(e.code, str(e))
    return _checked_instance(problem, "the problem"), problem


def _checked_instance(problem, what: str) -> Instance:
    """The instance of a problem read canonical (from its text or its columns form), once the problem model's rules pass."""
    c = problem.columns
    if len(c.ids) > MAX_ENTERPRISES:
        fail("too_large", f"{what} has {len(c.ids):,} enterprises; at most {MAX_ENTERPRISES:,} are read")
    issues, alpha, notices = meaning_issues(c)
    issues = id_issues(c.ids) + issues
    if issues:
        first = issues[0]
        fail("invalid_problem", f"{what} is not valid: {first.path}: {first.message}" + (f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""))
    if alpha is not None or notices:
        fail("not_canonical", f"{what}'s alpha is not in canonical form (it would be rescaled to sum to 1)")
    return Instance(
        ids=c.ids, indicators=c.indicators, resources=c.resources, indicator_weight=c.weights, benefit=c.benefit,
        use=c.use, enterprise_cap=c.cap, cooperative_cap=c.resource_cap, resource_weight=c.resource_weight,
        volume_min=c.volume_min + 0.0, volume_max=c.volume_max + 0.0, u0=c.u0 + 0.0, g=c.g + 0.0, alpha=c.alpha + 0.0,
        reservation=c.reservation + 0.0, demand_min=c.demand_min + 0.0, demand_max=c.demand_max + 0.0,
    )


def _read_generic(text: str):
    """The problem text read as generic JSON, its rules checked, and its canonical text written again to compare."""
    try:
        doc = loads_fast(text, what="the embedded problem")  # a duplicated key is caught by the canonical comparison below
    except StrictJsonError as e:
        fail(e.code, str(e))
    ents = doc.get("enterprises") if isinstance(doc, dict) else None
    if isinstance(ents, list) and len(ents) > MAX_ENTERPRISES:
        fail("too_large", f"the embedded problem has {len(ents):,} enterprises; at most {MAX_ENTERPRISES:,} are read")
    for key in ("indicators", "resources"):
        if isinstance(doc, dict) and isinstance(doc.get(key), dict) and len(doc[key]) > MAX_NAMES:
            fail("too_large", f"the embedded problem has {len(doc[key])} {key}; at most {MAX_NAMES} are read")
    try:
        problem = read_canonical(doc)
    except ShapeError as e:
        fail("invalid_problem", f"the embedded problem: {e}")
    issues, alpha, notices = meaning_issues(problem.columns)
    issues = id_issues(problem.columns.ids) + issues
    if issues:  # the rules first (as before the fast reader): an invalid document is invalid_problem, canonical or not
        first = issues[0]
        fail("invalid_problem", f"the embedded problem is not valid: {first.path}: {first.message}" + (f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""))
    if alpha is not None or notices:
        fail("not_canonical", "the embedded problem's alpha is not in canonical form (it would be rescaled to sum to 1)")
    if canonical_problem_text(problem) != text:
        try:
            loads(text, what="the embedded problem")
        except StrictJsonError as e:  # the precise reason, when it is a duplicated key
            fail("not_canonical", str(e))
        fail("not_canonical", "the embedded problem is not in canonical form (RFC 8785 with every default written out)")
    return problem


@dataclass(frozen=True, eq=False)
class ProvenProblem:
    """A problem text proven canonical and valid: its SHA-256, its instance, its cooperative and round."""

    digest: str
    instance: Instance
    cooperative: str
    round: str
    names: tuple = ()  # each enterprise's name, or None (what the instance leaves out of the problem)
    form: bool = False  # `digest` is the SHA-256 of the problem's columns form, not of its text
    _form_digest: list = field(default_factory=list, repr=False)

    def form_digest(self) -> str:
        """The SHA-256 of the problem's columns form (a v3 certificate's `problem_hash`), computed once."""
        if self.form:
            return self.digest
        if not self._form_digest:
            self._form_digest.append(problem_form.digest(problem_form.encode_instance(self.instance, self.cooperative, self.round, self.names)))
        return self._form_digest[0]


# A few problems already proven canonical and valid, by SHA-256 of their text: a contract checks many
# allocations of one registered problem, and the hash (checked first) names the exact text.
# Up to _PROBLEMS_KEPT of them, and (beyond the newest) no more than _ENTERPRISES_KEPT enterprises
# in all: many cooperatives' small problems stay (blocks of commits of many rounds), few large ones.
# With 256, a node with more open rounds than that (400 cooperatives registering, then committing, in
# bench/bench_contracts.py) proved every problem again at its commit, in the least-recently-used
# order that always misses: half the commit throughput.  A 50-enterprise reading takes about 13 KB.
_PROBLEMS: "OrderedDict[str, ProvenProblem]" = OrderedDict()
_PROBLEMS_KEPT = 4096
_ENTERPRISES_KEPT = 1_000_000


def _problem(digest: str, text: str, data: bytes | None = None) -> Instance:
    known = _PROBLEMS.get(digest)
    if known is None:
        inst, problem = read_problem(text, data)
        _keep(ProvenProblem(digest, inst, problem.cooperative, problem.round, problem.names))
    else:
        _PROBLEMS.move_to_end(digest)
    return _PROBLEMS[digest].instance


def _key(digest: str, form: bool) -> str:
    """A kept problem's key: a form and a text with the same SHA-256 (a form's bytes may be UTF-8) are two entries."""
    return "columns:" + digest if form else digest


def _keep(known: ProvenProblem) -> None:
    _PROBLEMS[_key(known.digest, known.form)] = known
    while len(_PROBLEMS) > 1 and (len(_PROBLEMS) > _PROBLEMS_KEPT or sum(p.instance.n for p in _PROBLEMS.values()) > _ENTERPRISES_KEPT):
        _PROBLEMS.popitem(last=False)


def proven_form(data) -> ProvenProblem:
    """The problem whose columns form is `data` (bytes), proven canonical and valid once (then kept by the SHA-256
    of the form).  CertificateError (``not_canonical``, ``invalid_problem``, ...) otherwise."""
    if not isinstance(data, (bytes, bytearray)):
        fail("malformed", "a problem's columns form is bytes")
    proven = None
    if len(data) < 1 << 20:
        digest = problem_form.digest(data)
    else:  # hashlib releases the GIL on large inputs: hashed in a helper thread while this one reads the form
        digests: list = []
        helper = threading.Thread(target=lambda: digests.append(problem_form.digest(data)), name="proven_form")
        helper.start()
        try:
            proven = read_problem_form(data)
        finally:
            helper.join()
        digest = digests[0]
    key = _key(digest, True)
    if key not in _PROBLEMS:
        inst, problem = proven or read_problem_form(data)
        _keep(ProvenProblem(digest, inst, problem.cooperative, problem.round, problem.names, form=True))
    _PROBLEMS.move_to_end(key)
    return _PROBLEMS[key]


# The last problem text `decode_problem` read from bytes: (text, its UTF-8 bytes, their SHA-256), taken (and
# forgotten) by the next verification, which then neither encodes nor hashes that very str object again.
_DECODED: list = []


def decode_problem(data: bytes) -> tuple[str, str]:
    """A problem file's text (strict UTF-8: UnicodeDecodeError otherwise) and the SHA-256 of its bytes (hex).
    Strict decoding leaves no surrogate, so the text's UTF-8 is `data` itself: `verify` of this very str takes
    the bytes and the hash from here (the command line hashes a problem file to tell its canonical text from a
    document: the 37 MiB at n = 100,000 were encoded and hashed twice)."""
    if len(data) < 1 << 20:
        text, digest = data.decode("utf-8"), hashlib.sha256(data).hexdigest()
    else:  # hashlib releases the GIL on large inputs: the hash in a helper thread while this one decodes
        digests: list = []
        helper = threading.Thread(target=lambda: digests.append(hashlib.sha256(data).hexdigest()), name="decode_problem")
        helper.start()
        try:
            text = data.decode("utf-8")
        finally:
            helper.join()
        digest = digests[0]
    _DECODED[:] = [(text, data, digest)]
    return text, digest


def _utf8_and_digest(text: str) -> tuple[bytes, str]:
    """The UTF-8 bytes of `text` and their SHA-256 (hex); UnicodeEncodeError for a lone surrogate."""
    decoded = _DECODED[:]
    _DECODED.clear()
    if decoded and decoded[0][0] is text:  # identity: a str is immutable, so these are its bytes and their hash
        return decoded[0][1], decoded[0][2]
    data = text.encode("utf-8")
    return data, hashlib.sha256(data).hexdigest()


def proven_problem(digest: str, text) -> ProvenProblem:
    """The problem whose canonical text has SHA-256 `digest`, proven canonical and valid once (then kept by
    hash).  `text`: the text, or a function giving it (called only when the problem is not kept already);
    its hash is checked.  CertificateError (``not_canonical``, ``invalid_problem``, ...) otherwise."""
    if digest not in _PROBLEMS:
        text = text() if callable(text) else text
        if not isinstance(text, str):
            fail("malformed", "the problem must be its canonical text")
        try:
            data, actual = _utf8_and_digest(text)  # problem_hash(text)
        except UnicodeEncodeError:
            fail("not_canonical", "the problem holds a lone UTF-16 surrogate, which has no UTF-8 form")
        if actual != digest:
            fail("hash_mismatch", f"the problem text's SHA-256 is {actual}, not {digest}")
        _problem(digest, text, data)
    _PROBLEMS.move_to_end(digest)
    return _PROBLEMS[digest]


# --- exact views of an instance ---------------------------------------------------------------


class Exact:
    """The instance and allocation as Fractions, built only when a filter cannot decide."""

    def __init__(self, inst: Instance, W: np.ndarray):
        self.inst, self.Wf = inst, W
        self._cache = {}
        self.work = 0.0

    def spend(self, units: float, what: str) -> None:
        """Count exact work before doing it; past MAX_EXACT_WORK refuse (``too_large``) rather than hang."""
        self.work += units
        if self.work > MAX_EXACT_WORK:
            fail("too_large", f"deciding {what} needs exact arithmetic beyond the verifier's budget ({MAX_EXACT_WORK:,} "
                              "enterprise-evaluations): the certificate's numbers sit on a threshold within rounding; "
                              "a certificate written from a solve's own numbers is decided without it")

    def refine_allowed(self, units: float) -> bool:
        """Count the second filter's work (a double-double pass over the enterprises per piece); past
        MAX_REFINE_WORK it declines and the exact path (with its own budget) decides."""
        self.refine_work = getattr(self, "refine_work", 0.0) + units
        return self.refine_work <= MAX_REFINE_WORK

    def get(self, name, build):
        if name not in self._cache:
            self._cache[name] = build()
        return self._cache[name]

    @property
    def W(self):
        return self.get("W", lambda: [Fraction(x) for x in self.Wf.tolist()])

    @property
    def c(self):
        """c_j = Σ_k a_k e_jk."""
        inst = self.inst
        return self.get("c", lambda: [ex.exact_dot(inst.indicator_weight.tolist(), row) for row in inst.benefit.tolist()])

    @property
    def f(self):
        """f_j = Σ_r (ω_r / R_0^r) ρ_jr."""
        inst = self.inst
        ratio = [Fraction(w) / Fraction(cap) for w, cap in zip(inst.resource_weight.tolist(), inst.cooperative_cap.tolist())]
        return self.get("f", lambda: [sum((q * Fraction(x) for q, x in zip(ratio, row)), Fraction(0)) for row in inst.use.tolist()])

    @property
    def box(self):
        """The verifier's box (`outward_box`) as Fractions: dyadic, so exact sums stay fast."""

        def build():
            lo, hi = outward_box(self.inst)
            return [Fraction(x) for x in lo.tolist()], [Fraction(x) for x in hi.tolist()]

        return self.get("box", build)

    def U(self):
        inst = self.inst
        return self.get("U", lambda: [Fraction(u) + Fraction(g) * w for u, g, w in zip(inst.u0.tolist(), inst.g.tolist(), self.W)])


# --- feasibility ---------------------------------------------------------------------------------


def _first_violation(lhs: np.ndarray, lhs_err: np.ndarray, tol: np.ndarray, tol_err: np.ndarray, exact_at) -> int | None:
    """The first index where lhs > tol exactly (lhs, tol: float estimates with error bounds)."""
    # The callers' error bounds are zero where the floating-point operations were exact (a difference
    # that comes out 0 is exactly 0), so the usual case W_j = min_j is decided without exact arithmetic.
    margin = lhs_err + tol_err
    with np.errstate(invalid="ignore"):
        broken = lhs > tol + margin
        unsure = ~broken & ~(lhs <= tol - margin)
    for j in np.flatnonzero(broken | unsure):
        if broken[j]:
            return int(j)
        x, t = exact_at(int(j))
        if x > t:
            return int(j)
    return None


def check_feasible(inst: Instance, W: np.ndarray, E: np.ndarray | None = None, e: np.ndarray | None = None, names=()) -> None:
    """Every constraint of SPEC §1 (and ε-rows E W >= e... as −f <= −e) within FEASIBILITY of its own terms; else ``infeasible``."""
    W = np.asarray(W, dtype=float)
    bad = np.flatnonzero(~np.isfinite(W))
    if len(bad):
        # Called directly by the allocation contract (a volume "1e400" reads as inf): no exact view of inf
        # exists (Fraction(inf) raises), and no constraint holds for it (review R-2).
        j = int(bad[0])
        fail("infeasible", f"{inst.ids[j]}: W = {float(W[j])!r} is not a finite volume")
    X = Exact(inst, W)
    u = ex.UNIT
    absW = np.abs(W)
    ids = inst.ids
    # W_j >= min_j and W_j <= max_j.
    j = _first_violation(inst.volume_min - W, u * np.abs(inst.volume_min - W), FEASIBILITY * (absW + inst.volume_min), 3 * u * FEASIBILITY * (absW + inst.volume_min),
                         lambda j: (Fraction(inst.volume_min[j]) - X.W[j], FEASIBILITY_F * (abs(X.W[j]) + Fraction(inst.volume_min[j]))))
    if j is not None:
        fail("infeasible", f"{ids[j]}: W = {float(W[j])!r} gives below its minimum ({float(W[j])!r} against {float(inst.volume_min[j])!r})")
    j = _first_violation(W - inst.volume_max, u * np.abs(W - inst.volume_max), FEASIBILITY * (absW + inst.volume_max), 3 * u * FEASIBILITY * (absW + inst.volume_max),
                         lambda j: (X.W[j] - Fraction(inst.volume_max[j]), FEASIBILITY_F * (abs(X.W[j]) + Fraction(inst.volume_max[j]))))
    if j is not None:
        fail("infeasible", f"{ids[j]}: W = {float(W[j])!r} gives above its maximum ({float(W[j])!r} against {float(inst.volume_max[j])!r})")
    # c_j W_j >= π_j, c_j = Σ_k a_k e_jk.
    terms = inst.benefit * inst.indicator_weight * W[:, None]
    mag = np.abs(terms).sum(axis=1)
    got = terms.sum(axis=1)
    K = len(inst.indicators)
    j = _first_violation(inst.reservation - got, ex.SAFETY * (K + 2) * u * mag + u * np.abs(inst.reservation - got) + ex.TINY * (mag > 0), FEASIBILITY * (mag + inst.reservation), 4 * u * FEASIBILITY * (mag + inst.reservation),
                         lambda j: (Fraction(inst.reservation[j]) - X.c[j] * X.W[j], FEASIBILITY_F * (abs(X.c[j] * X.W[j]) + Fraction(inst.reservation[j]))))
    if j is not None:
        fail("infeasible", f"{ids[j]}: W = {float(W[j])!r} gives a benefit below its reservation ({float(got[j])!r} against {float(inst.reservation[j])!r})")
    # ρ_jr W_j <= R_j^r where a cap is given.
    if inst.use.shape[1]:
        capped = np.isfinite(inst.enterprise_cap)
        cap = np.where(capped, inst.enterprise_cap, 0.0)
        usage = inst.use * W[:, None]
        lhs = np.where(capped, usage - cap, -1.0).ravel()
        tol = np.where(capped, FEASIBILITY * (np.abs(usage) + cap), 0.0).ravel()
        R = inst.use.shape[1]
        k = _first_violation(lhs, 2 * u * (np.abs(usage) + cap).ravel() + ex.TINY * (usage != 0).ravel(), tol, 4 * u * tol,
                             lambda k: (Fraction(inst.use.flat[k]) * X.W[k // R] - Fraction(cap.flat[k]),
                                        FEASIBILITY_F * (abs(Fraction(inst.use.flat[k]) * X.W[k // R]) + Fraction(cap.flat[k]))))
        if k is not None:
            j, r = divmod(k, R)
            fail("infeasible", f"{ids[j]}: {inst.resources[r]} use {float(usage[j, r])!r} exceeds its cap {float(inst.enterprise_cap[j, r])!r}")
    # 0 < U_j <= 1 (+ DEVELOPMENT): U has no unit.
    U = inst.u0 + inst.g * W
    U_err = 2 * u * (np.abs(inst.u0) + np.abs(inst.g * W)) + ex.TINY
    j = _first_violation(U - 1.0, U_err, np.full(inst.n, DEVELOPMENT), np.zeros(inst.n), lambda j: (X.U()[j] - 1, Fraction(DEVELOPMENT)))
    if j is None:
        j = _first_violation(-U, U_err, np.zeros(inst.n), np.zeros(inst.n), lambda j: (-X.U()[j], Fraction(0)))
        if j is None and np.any(U == 0):
            j = int(np.argmax(U == 0))
        if j is not None and X.U()[j] > 0:
            j = None
    if j is not None:
        fail("infeasible", f"{ids[j]}: the development level U = {float(U[j])!r} leaves (0, 1]")
    # The coupling rows G W <= h, then the ε-rows.
    row_names, G, h = coupling_rows(inst)
    rows = [(row_names[i], G[i], h[i]) for i in range(len(h))]
    if E is not None:
        rows += [(names[i], E[i], e[i]) for i in range(len(e))]
    for name, coef, limit in rows:
        _check_row(X, name, coef, limit, W)


FEASIBILITY_F = Fraction(FEASIBILITY)


def _check_row(X: Exact, name: str, coef: np.ndarray, limit: float, W: np.ndarray) -> None:
    prod = coef * W
    mag = float(np.abs(prod).sum())
    activity = float(prod.sum())
    err = ex.summation_error(len(W) + 1, mag + abs(limit))

    def exact():
        a = ex.exact_dot(coef.tolist(), X.Wf.tolist())
        m = ex.exact_dot(np.abs(coef).tolist(), np.abs(X.Wf).tolist())
        return a - Fraction(limit), FEASIBILITY_F * (m + abs(Fraction(limit)))

    if not ex.decide_le(activity - limit, err, FEASIBILITY * (mag + abs(limit)), FEASIBILITY * err, exact):
        fail("infeasible", f"{name}: activity {float(abs(activity))!r} breaks its limit {float(abs(limit))!r}")


# --- values -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """A computed number: its floating-point value, a bound on its error, its magnitude, and how to get it exactly."""

    value: float
    error: float
    magnitude: float
    exact: object  # () -> Fraction | Decimal
    # The second filter (double-double, models.double_double): () -> (lo, hi), Fractions with lo <= exact() <= hi,
    # or None when it cannot say; None when there is none (the exact path decides at once).
    refine: object = None

    def __post_init__(self):
        for name in ("exact", "refine"):
            compute = getattr(self, name)
            if compute is None:
                continue
            cache = []

            def once(compute=compute, cache=cache):  # a check may ask several times; it is computed once
                if not cache:
                    cache.append(compute())
                return cache[0]

            object.__setattr__(self, name, once)


# --- the second filter: intervals from double-double arithmetic --------------------------------------
#
# When the float filter cannot decide, an interval [lo, hi] around the exact path's number, from
# double-double arithmetic (models.double_double: IEEE +, −, ×, ÷ only, the same bits everywhere, and
# error bounds that hold on any machine), decides unless the threshold lies inside it: about 10^-28 wide,
# relative, where the float filter's is 10^-13.  The exact path (decimal logarithms, one per enterprise)
# then runs only for numbers within that band of a threshold, which no solver's numbers are: an honest
# certificate at n = 100,000 placed on a threshold is decided without it (review F-2 left such certificates
# refused as too_large).  Where the exact path works in 60-digit decimal, its number is within 10^-45
# (relative) of the exact one, and the intervals are widened by REFINE_SLACK to hold it too.
REFINE_SLACK = Fraction(1, 10**44)
_D60 = Context(prec=ex.DECIMAL_DIGITS)


def _interval(est: Estimate):
    return None if est.refine is None else est.refine()


def _point(est_exact):
    """The refinement of a number whose exact value is cheap (a few Fractions): the exact value itself."""
    return lambda: (lambda x: (Fraction(x), Fraction(x)) if isinstance(x, Fraction) else None)(est_exact())


def _widen(lo: Fraction, hi: Fraction) -> tuple[Fraction, Fraction]:
    """[lo, hi] widened to hold a 60-digit decimal result: REFINE_SLACK relative, and 10^-300 absolute."""
    pad = REFINE_SLACK * max(abs(lo), abs(hi)) + Fraction(1, 10**300)
    return lo - pad, hi + pad


def _dec_fn(fn, q: Fraction) -> Fraction:
    """A monotone decimal function (ln, exp, sqrt) of a rational, at the decimal path's 60 digits."""
    with localcontext(_D60):
        return Fraction(fn(Decimal(q.numerator) / Decimal(q.denominator)))


def _dd_levels(inst: Instance, W: np.ndarray):
    """U_j = u0_j + g_j W_j in double-double, and a bound on each one's error (absolute)."""
    U = dd.add(dd.of(inst.u0), dd.two_prod(inst.g, W))
    err = 4 * dd.U2 * (np.abs(inst.u0) + np.abs(inst.g * W)) * (1 + 2.0**-40) + ex.TINY
    return U, err


def _dd_logs(U, U_err):
    """ln U_j in double-double and a bound on each one's error (the log's own, and U's error relative to U)."""
    if not np.all(U[0] > 0) or not np.all(U[0] - 2 * U_err > 0):
        return None, None
    L, err = dd.log(U)
    return L, err + 2 * U_err / U[0]


def _sum_up(x: np.ndarray) -> Fraction:
    """Σ of non-negative error terms, rounded up: the float sum within n u of itself."""
    return Fraction(float(np.sum(x))) * (1 + Fraction(1, 2**30)) + Fraction(ex.TINY) * len(x)


def linear_value(coef: np.ndarray, const: float, W: np.ndarray, exact_coef=None) -> Estimate:
    """coef·W + const (coef exact as doubles, or given exactly by `exact_coef`)."""
    prod = coef * W
    mag = float(np.abs(prod).sum()) + abs(const)
    coef_err = 0.0 if exact_coef is None else ex.SAFETY * 16 * ex.UNIT * mag

    def exact():
        if exact_coef is None:
            return ex.exact_dot(coef.tolist(), W.tolist()) + Fraction(const)
        return sum((cj * Fraction(w) for cj, w in zip(exact_coef(), W.tolist())), Fraction(0)) + Fraction(const)

    est = Estimate(float(prod.sum()) + const, ex.summation_error(len(W) + 1, mag) + coef_err, mag, exact)
    return Estimate(est.value, est.error, est.magnitude, est.exact, _point(est.exact))


def _logs_error(U: np.ndarray, u0: np.ndarray, gW: np.ndarray) -> np.ndarray:
    """Per term, a bound on |computed log U_j − log U_j|: U's rounding relative to U, and libm's."""
    return 3 * ex.UNIT * (np.abs(u0) + np.abs(gW)) / U + ex.LIBM_RELATIVE * np.abs(_log(U)) + ex.TINY


def coupling_values(inst: Instance, W: np.ndarray, X: Exact):
    """C, T and D = sqrt(C T) with error bounds; exact values by the decimal path."""
    gW = inst.g * W
    U = inst.u0 + gW
    n = inst.n
    logs = _log(U)
    log_err = float(_logs_error(U, inst.u0, gW).sum()) / n + ex.summation_error(n, float(np.abs(logs).sum())) / n
    mean_U = float(U.mean())
    mean_err = (ex.summation_error(n, float(np.abs(U).sum())) + 3 * ex.UNIT * float((np.abs(inst.u0) + np.abs(gW)).sum())) / n
    log_mean = _ln(mean_U)
    e = float(logs.mean()) - log_mean
    e_err = log_err + mean_err / mean_U + ex.LIBM_RELATIVE * abs(log_mean) + 4 * ex.UNIT * abs(e)
    C = _exp(e)
    C_rel = e_err + ex.LIBM_RELATIVE + 4 * ex.UNIT
    Tv = linear_value(inst.alpha * inst.g, _dot(inst.alpha, inst.u0), W)
    T = Tv.value
    T_err = Tv.error + ex.summation_error(n, float(np.abs(inst.alpha * inst.u0).sum())) + ex.SAFETY * ex.UNIT * float(np.abs(inst.alpha * gW).sum())
    D = math.sqrt(C * T)
    D_rel = (C_rel + T_err / T) / 2 + ex.LIBM_RELATIVE + 4 * ex.UNIT

    def exact_CTD():
        X.spend(n, "C, T and D")
        with ex.decimal_context():
            Us = [ex.dec(x) for x in X.U()]
            total = sum(Us, Decimal(0))
            mean_log = sum((x.ln() for x in Us), Decimal(0)) / n
            Cx = (mean_log - (total / n).ln()).exp()
            Tx = sum((ex.dec(a) * x for a, x in zip(inst.alpha.tolist(), Us)), Decimal(0))
            return Cx, Tx, (Cx * Tx).sqrt()

    cache = {}

    def get(i):
        if "v" not in cache:
            cache["v"] = exact_CTD()
        return cache["v"][i]

    def refine_CTD():
        """C, T, D as intervals: Σ log U, Σ U and Σ α U in double-double, then the few scalar steps in decimal
        on the ends (ln, exp, sqrt are monotone)."""
        U, U_err = _dd_levels(inst, W)
        L, L_err = _dd_logs(U, U_err)
        if L is None:
            return None
        Ls, Ls_err = dd.total(L)
        Ss, Ss_err = dd.total(U)
        aU = dd.mul_d(U, inst.alpha)
        Ts, Ts_err = dd.total(aU)
        Lx, Sx, Tx = dd.exact(Ls), dd.exact(Ss), dd.exact(Ts)
        Le = Fraction(Ls_err) + _sum_up(L_err)
        Se = Fraction(Ss_err) + _sum_up(U_err)
        Te = Fraction(Ts_err) + _sum_up(8 * dd.U2 * np.abs(U[0] * inst.alpha) * 1.01 + inst.alpha * U_err)
        if not (Sx - Se > 0 and Tx - Te > 0):
            return None
        C_lo = _dec_fn(Decimal.exp, (Lx - Le) / n - _dec_fn(Decimal.ln, (Sx + Se) / n))
        C_hi = _dec_fn(Decimal.exp, (Lx + Le) / n - _dec_fn(Decimal.ln, (Sx - Se) / n))
        C_i = _widen(C_lo, C_hi)
        T_i = _widen(Tx - Te, Tx + Te)
        D_i = _widen(_dec_fn(Decimal.sqrt, C_i[0] * T_i[0]), _dec_fn(Decimal.sqrt, C_i[1] * T_i[1]))
        return C_i, T_i, D_i

    def refined(i):
        if "r" not in cache:
            cache["r"] = refine_CTD()
        return None if cache["r"] is None else cache["r"][i]

    return (
        Estimate(C, C * C_rel, C, lambda: get(0), lambda: refined(0)),
        Estimate(T, T_err, Tv.magnitude, lambda: get(1), lambda: refined(1)),
        Estimate(D, D * D_rel, D, lambda: get(2), lambda: refined(2)),
    )


def _abs_interval(i):
    lo, hi = i
    return (lo, hi) if lo >= 0 else (-hi, -lo) if hi <= 0 else (Fraction(0), max(-lo, hi))


# Allocation contract v1 computed the float filter with the platform's BLAS products and libm logarithms, and
# wrote some refusals with its estimate of a recomputed number: their last digits depend on the machine (SPEC §4
# allows neither, and the sentence is in the receipt), and which comparisons the filter left to exact
# arithmetic (and so whether a work budget ran out) could too.  Its ledgers' receipts hold what it wrote, so
# that contract still asks for it (`verify(..., legacy=True)`).  Everything else computes the filter with
# models.portable_float (the same bits everywhere) and shows `figure`'s.
_LEGACY = contextvars.ContextVar("coopchain_verify_legacy", default=False)


def _log(x: np.ndarray) -> np.ndarray:
    return np.log(x) if _LEGACY.get() else pf.log(x)


def _ln(x: float) -> float:
    return math.log(x) if _LEGACY.get() else pf.ln(x)


def _ln1p(x: float) -> float:
    return math.log1p(x) if _LEGACY.get() else pf.ln1p(x)


def _exp(x: float) -> float:
    return math.exp(x) if _LEGACY.get() else pf.exp(x)


def _rows_dot(rows: np.ndarray, w: np.ndarray) -> np.ndarray:
    """rowsᵀw."""
    return rows.T @ w if _LEGACY.get() else pf.rows_dot(rows, w)


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b) if _LEGACY.get() else pf.dot(a, b)


FIGURE_DIGITS = 12


def figure(refined, exact, legacy) -> float:
    """A recomputed number as a refusal's sentence shows it: FIGURE_DIGITS significant digits of the middle of its
    double-double interval (`refined()`, when narrower than 10^-12 relative) or of its exact value (`exact()`).
    Both are computed with IEEE +, −, ×, ÷ and decimal arithmetic only: the same figure on every machine.
    In legacy mode, `legacy()`: what allocation contract v1 showed, as its receipts hold it."""
    if _LEGACY.get():
        return legacy()
    near = refined()
    if near is not None and near[1] - near[0] <= Fraction(1, 10**12) * abs(near[0] + near[1]):
        x = float((near[0] + near[1]) / 2)
    else:
        x = float(exact())
    return float(f"{x:.{FIGURE_DIGITS}g}")


def agree(claimed: float, est: Estimate, scales: tuple, what: str, code: str = "value_mismatch") -> None:
    """|claimed − recomputed| <= AGREEMENT × max_k |scales_k| (Estimates: the recomputed number, or the value and
    the bound), decided exactly: the float filter, then the double-double intervals, then the exact path."""
    tol = AGREEMENT * max(abs(x.value) for x in scales)
    # The tolerance's own error: each scale's (allocation contract v1 counted the claimed number's alone).
    tol_err = AGREEMENT * 2 * (est.error if _LEGACY.get() else max(x.error for x in (est, *scales)))

    def tolerance_exact():
        xs = [x.exact() for x in scales]
        if any(isinstance(x, Decimal) for x in xs):
            with ex.decimal_context():
                return max(abs(_dec_of(x)) for x in xs)
        return max(abs(x) for x in xs)

    def exact_pair(sign):
        def run():
            x = est.exact()
            t = tolerance_exact()
            if isinstance(x, Decimal) or isinstance(t, Decimal):
                with ex.decimal_context():
                    x, t = _dec_of(x), _dec_of(t)
                    return sign * (Decimal(claimed) - x), Decimal(AGREEMENT) * t
            return sign * (Fraction(claimed) - x), Fraction(AGREEMENT) * t
        return run

    def refined(sign):
        def run():
            x = _interval(est)
            ts = [_interval(e) for e in scales]
            if x is None or any(t is None for t in ts):
                return None
            ts = [_abs_interval(t) for t in ts]
            t_lo, t_hi = AGREEMENT_F * max(t[0] for t in ts), AGREEMENT_F * max(t[1] for t in ts)
            c = Fraction(claimed)
            worst, best = (c - x[0], c - x[1]) if sign > 0 else (x[1] - c, x[0] - c)
            return True if worst <= t_lo else False if best > t_hi else None
        return run

    for sign in (1, -1):
        if not ex.decide_le(sign * (claimed - est.value), est.error + ex.UNIT * abs(claimed), tol, tol_err, exact_pair(sign), refined(sign)):
            shown = figure(lambda: _interval(est), est.exact, lambda: _v1_figure(est))
            fail(code, f"the certificate claims {what} = {claimed!r}, but it is {shown!r}")


AGREEMENT_F = Fraction(AGREEMENT)


def _v1_figure(est: Estimate) -> float:
    """Allocation contract v1's figure: the float estimate when its error bound is small (its last digits depend
    on the BLAS), else the double-double interval's middle, else the exact value."""
    if est.error <= 1e-12 * abs(est.value):
        return est.value
    near = _interval(est) if est.error > 1e-12 * abs(est.value) else None  # (a NaN error: neither, the exact value)
    if near is not None and near[1] - near[0] <= Fraction(1, 10**12) * abs(near[0] + near[1]):
        return float((near[0] + near[1]) / 2)
    return float(est.exact())


# --- dual bounds ---------------------------------------------------------------------------------
#
# Each returns an Estimate of the bound's exact value (for the multipliers as given):
# the floating-point value, an error bound valid for any summation order and any libm
# within LIBM_RELATIVE, and the exact value on demand (Fraction for the linear bound,
# decimal for bounds with logarithms).


@once_per_object
def outward_box(inst: Instance) -> tuple[np.ndarray, np.ndarray]:
    """Each enterprise's box lo_j <= W_j <= hi_j as doubles rounded outward: lo_j = max(min_j, π_j / c_j)
    rounded down, hi_j = min(max_j, min_r R_j^r / ρ_jr) rounded up.

    A box slightly larger than the exact one only loosens the dual bounds, so they stay
    bounds; its ends are dyadic (exact sums of them are fast) and come from elementwise
    IEEE operations in a fixed order (the same doubles on every machine).
    """
    K = len(inst.indicators)
    c = np.zeros(inst.n)
    for k in range(K):  # Σ_k a_k e_jk in a fixed order, within (K + 1) u of the exact sum (all terms >= 0)
        c = c + inst.benefit[:, k] * inst.indicator_weight[k]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        reserve = np.where((c > 0) & (inst.reservation > 0), inst.reservation / c, 0.0)
        reserve = np.nextafter(reserve * (1 - 4 * (K + 2) * ex.UNIT), -np.inf)
        reserve = np.where(inst.reservation > 0, reserve, 0.0)
        ceilings = np.where((inst.use > 0) & np.isfinite(inst.enterprise_cap), inst.enterprise_cap / inst.use, np.inf)
        ceilings = np.nextafter(ceilings, np.inf)  # a correctly rounded quotient is within half an ulp
    lo = np.maximum(inst.volume_min, np.maximum(reserve, 0.0) if inst.reservation.any() else inst.volume_min)
    hi = np.minimum(inst.volume_max, ceilings.min(axis=1) if inst.use.shape[1] else np.inf)
    return lo + 0.0, hi + 0.0


def _float_box(inst: Instance) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lo, hi = outward_box(inst)
    return lo, hi, np.maximum(np.abs(lo), np.abs(hi))


def linear_bound(inst: Instance, X: Exact, c: np.ndarray, c_mag: np.ndarray, c_exact, lam: np.ndarray, G: np.ndarray, h: np.ndarray) -> Estimate:
    """max {c·W : G W <= h, lo <= W <= hi} <= λ·h + Σ_j max(r_j lo_j, r_j hi_j), r = c − Gᵀλ (LP weak duality)."""
    lo, hi, xmax = _float_box(inst)
    reduced = c - _rows_dot(G, lam)
    terms = np.where(reduced > 0, reduced * hi, reduced * lo)
    fixed = _dot(lam, h)
    k_mag = c_mag + _rows_dot(np.abs(G), lam)
    mag = float(np.abs(lam * h).sum()) + float((k_mag * xmax).sum())
    # Each term carries at most m + K + R + 4 roundings relative to its own magnitude (the reduced cost, the
    # box), and the sum of n + m terms adds its own: (n + m + K + R + 8) u times the total magnitude.
    err = ex.summation_error(inst.n + 2 * len(h) + len(inst.indicators) + len(inst.resources) + 8, mag)

    def exact():
        X.spend(inst.n / 8, "a linear bound")
        lo_x, hi_x = X.box
        lam_x = [Fraction(x) for x in lam.tolist()]
        Gl = G.tolist()
        cx = c_exact()
        total = sum((l * Fraction(b) for l, b in zip(lam_x, h.tolist())), Fraction(0))
        for j in range(inst.n):
            r = cx[j] - sum((l * Fraction(row[j]) for l, row in zip(lam_x, Gl) if l), Fraction(0))
            total += r * (hi_x[j] if r > 0 else lo_x[j])
        return total

    return Estimate(fixed + float(terms.sum()), err, mag, exact)


def _stationary(k: np.ndarray, u0: np.ndarray, g: np.ndarray, lo: np.ndarray, hi: np.ndarray, U_lo=None, U_hi=None) -> np.ndarray:
    """The maximiser of log(u0 + g W) − k W on [lo, hi]: hi where the slope g/U − k is >= 0 there,
    lo where it is <= 0 at lo, else (g/k − u0)/g (no overflow: g/k lies between U(lo) and U(hi)).
    U_lo and U_hi (the levels at the box's ends) may be passed when several calls share the box."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if U_hi is None:
            U_hi, U_lo = u0 + g * hi, u0 + g * lo
        up = g >= k * U_hi
        down = g <= k * U_lo
        W = g / k
        W -= u0
        W /= g
        np.maximum(W, lo, out=W)  # np.clip's order: the floor, then the ceiling
        np.minimum(W, hi, out=W)
    np.copyto(W, lo, where=down)
    np.copyto(W, hi, where=up)  # after `down`: where both hold, the slope's sign at hi decides
    return W


def log_terms(k: np.ndarray, k_err: np.ndarray, inst: Instance, lo, hi, xmax, shared: dict | None = None) -> tuple[float, float, float]:
    """Σ_j max_W [log(u0_j + g_j W) − k_j W] over the box: value, error bound, magnitude.  `shared` holds what
    does not depend on k (`log_shared`), when several calls share the instance and box."""
    s = shared if shared is not None else log_shared(inst, lo, hi, xmax)
    W = _stationary(k, inst.u0, inst.g, lo, hi, s["U_lo"], s["U_hi"])
    gW = inst.g * W
    U = inst.u0 + gW
    logs = _log(U)
    kW = k * W
    terms = logs - kW
    # Per term: U's rounding and the logarithm's error; k's error times W; the box's rounding (2u·|x|) times the
    # slope; a maximiser off by its rounding loses only second order (8u²·(1 + cond)²).  Written in place,
    # with the operations and their order of the formula as the module first wrote it: the same bits, so
    # the same sentences where a receipt shows a figure (allocation contract v1).
    u = ex.UNIT
    cond = np.abs(gW)
    cond += s["abs_u0"]
    per = np.multiply(3 * u, cond)
    per /= U
    cond /= U
    per += ex.LIBM_RELATIVE * np.abs(logs, out=logs)
    per += ex.TINY
    per += np.multiply(k_err, np.abs(W, out=W), out=W)
    per += u * np.abs(kW, out=kW)
    slope = np.divide(s["abs_g"], U, out=U)
    slope += np.abs(k)
    per += np.multiply(2 * u * xmax, slope, out=slope)
    cond += 1
    cond **= 2
    cond *= 8 * u**2
    per += cond
    err = float(per.sum())
    mag = float(np.abs(terms).sum())
    err += ex.summation_error(inst.n, mag)
    return float(terms.sum()), ex.SAFETY * err, mag


def log_shared(inst: Instance, lo, hi, xmax) -> dict:
    """What `log_terms` needs of the instance and box alone: the levels at the box's ends, |u0| and |g|."""
    return {"U_lo": inst.u0 + inst.g * lo, "U_hi": inst.u0 + inst.g * hi, "abs_u0": np.abs(inst.u0), "abs_g": np.abs(inst.g)}


# The exact path of the log bounds (review F-1, F-2).  Everything linear (λ·h, k_j = Gᵀλ − …, k_j W_j,
# τ α·u0, β·S) is summed exactly in Fractions over dyadic rationals: huge multipliers that cancel
# cancel exactly.  Each enterprise's max_W φ_j(W), φ_j = log(u0 + g W) − k W (concave), is bounded
# above at a double W' near its exact maximiser W* by the tangent line: max φ_j <= φ_j(W') + φ_j'(W')
# (W* − W'), that last (second-order) term rounded up to a double, so every linear part stays dyadic
# (fast exact sums) and the bound holds whichever W' is used.  Only logarithms are evaluated
# in decimal (DECIMAL_DIGITS digits, correctly rounded), then widened outward by LOG_SLACK·(|ln| + 1).
LOG_SLACK = Fraction(1, 10**(ex.DECIMAL_DIGITS - 5))
_SUM_CONTEXT = Context(prec=2 * ex.DECIMAL_DIGITS)


def _ln_up(x: Fraction) -> Fraction:
    """An upper bound on ln x (x > 0), within 10^-55 of it relative to |ln x| + 1."""
    with ex.decimal_context():
        d = ex.dec(x).ln()
    v = Fraction(d)
    return v + LOG_SLACK * (abs(v) + 1)


def _ln_down(x: Fraction) -> Fraction:
    with ex.decimal_context():
        d = ex.dec(x).ln()
    v = Fraction(d)
    return v - LOG_SLACK * (abs(v) + 1)


def _up(q: Fraction) -> Fraction:
    """A double >= q, as a Fraction (dyadic)."""
    f = float(q)
    return Fraction(f if Fraction(f) >= q else math.nextafter(f, math.inf))


def _log_terms_exact(ks: list, inst: Instance, X: Exact) -> Fraction:
    """An upper bound on Σ_j max_{lo_j <= W <= hi_j} [log(u0_j + g_j W) − k_j W], k_j exact (Fractions)."""
    X.spend(len(ks), "a bound with logarithms")
    lo_x, hi_x = X.box
    lo, hi = outward_box(inst)
    kf = np.array([float(k) for k in ks])
    Wf = _stationary(kf, inst.u0, inst.g, lo, hi)
    u0 = X.get("u0_x", lambda: [Fraction(x) for x in inst.u0.tolist()])
    g = X.get("g_x", lambda: [Fraction(x) for x in inst.g.tolist()])
    logs = X.get("logs", dict)
    linear = Fraction(0)
    log_values = []
    for j, w in enumerate(Wf.tolist()):
        W, k = Fraction(w), ks[j]
        U = u0[j] + g[j] * W
        if U <= 0:
            fail("bound_mismatch", f"{inst.ids[j]}: the development level leaves (0, 1] on the verifier's box")
        linear -= k * W
        slope = g[j] / U - k
        if slope != 0:
            # The exact maximiser W* (the stationary point g/k − u0)/g clipped to the box): by concavity
            # φ(W*) <= φ(W') + φ'(W') (W* − W'), a second-order amount, rounded up to a double.
            a, b = lo_x[j], hi_x[j]
            if g[j] >= k * (u0[j] + g[j] * b):
                best = b
            elif g[j] <= k * (u0[j] + g[j] * a):
                best = a
            else:
                best = (g[j] / k - u0[j]) / g[j]
            linear += _up(slope * (best - W))
        log = logs.get(U)
        if log is None:
            with ex.decimal_context():
                log = logs[U] = ex.dec(U).ln()
        log_values.append(log)
    with localcontext(_SUM_CONTEXT):
        total = sum(log_values, Decimal(0))
        spread = sum((abs(x) for x in log_values), Decimal(0)) + len(log_values)
    # Each log within 10^-59 (|ln| + 1), the sum at 2·DECIMAL_DIGITS digits: LOG_SLACK covers both.
    return linear + Fraction(total) + LOG_SLACK * (Fraction(spread) + 1)


def _log_terms_refined(lam: np.ndarray, rows: np.ndarray, linear: np.ndarray, inst: Instance, extra=None, extra_err=None):
    """An interval holding `_log_terms_exact` for k = rowsᵀλ − n ℓ (or rowsᵀλ + `extra`, a double-double array
    within `extra_err` of the exact path's), from double-double arithmetic (the second filter): k_j, U_j,
    log U_j and k_j W_j in double-double at the same point W'_j as the exact path (the float maximiser for
    k_j rounded), the tangent correction (second order) bounded by its size."""
    n = inst.n
    u2 = dd.U2
    k = dd.of(np.zeros(n))
    k_mag = np.zeros(n)
    for i in np.flatnonzero(lam):  # in row order: a fixed sequence of IEEE operations
        term = dd.two_prod(np.full(n, lam[i]), rows[i])
        k = dd.add(k, term)
        k_mag = k_mag + np.abs(term[0]) * 2
    if extra is None and np.any(linear):
        extra, extra_err = dd.two_prod(np.full(n, -float(n)), linear), 0.0
    if extra is not None:
        k = dd.add(k, extra)
        k_mag = k_mag + np.abs(extra[0]) * 2
    k_err = 4 * u2 * (len(lam) + 2) * k_mag + ex.TINY * (len(lam) + 2) + (0.0 if extra_err is None else extra_err)
    lo, hi = outward_box(inst)
    W = _stationary(k[0] + k[1], inst.u0, inst.g, lo, hi)
    U, U_err = _dd_levels(inst, W)
    L, L_err = _dd_logs(U, U_err)
    if L is None or not np.all(np.isfinite(k[0])):
        return None
    kW = dd.mul_d(k, W)
    phi = dd.add(L, dd.neg(kW))
    absL, abskW = np.abs(L[0]) * 1.01 + 1e-300, np.abs(kW[0]) * 1.01 + 1e-300
    cond = (np.abs(inst.u0) + np.abs(inst.g * W)) / U[0]
    # The exact path's W' is the float maximiser for float(k_j) (perhaps an ulp from ours), and its tangent
    # correction is at most 9u²(1 + cond)² (docs/certificate.md): 256u²(1 + cond)² covers both.
    per = L_err + k_err * np.abs(W) + 8 * u2 * abskW + 4 * u2 * (absL + abskW) + 256 * u2 * (1 + cond) ** 2
    value, sum_err = dd.total(phi)
    # The exact path's decimal logs (60 digits) and its LOG_SLACK: within 10^-50 (Σ|ln| + n + 1).
    slack = Fraction(1, 10**50) * (Fraction(float(absL.sum())) + n + 1)
    err = Fraction(sum_err) + _sum_up(per) + slack
    x = dd.exact(value)
    return x - err, x + err


def _exact_k(lam: np.ndarray, rows: np.ndarray, extra) -> list:
    """k_j = Σ_i λ_i rows_ij + extra_j exactly (λ, rows: doubles; extra: Fractions)."""
    active = [(int(i), Fraction(float(lam[i]))) for i in np.flatnonzero(lam)]
    cols = [rows[i].tolist() for i, _ in active]
    out = []
    for j in range(rows.shape[1]):
        out.append(sum((l * Fraction(col[j]) for (_, l), col in zip(active, cols)), extra[j]))
    return out


def uniform_psi_bound(inst: Instance, X: Exact, lam: np.ndarray, G: np.ndarray, h: np.ndarray, linear: np.ndarray, linear_mag: np.ndarray) -> Estimate:
    """Uniform α: ψ = mean log U, and ψ + ℓ·W <= (λ·h + Σ_j max_W [log U_j − k_j W]) / n, k = Gᵀλ − n ℓ."""
    n = inst.n
    lo, hi, xmax = _float_box(inst)
    k = _rows_dot(G, lam) - n * linear
    k_err = ex.SAFETY * (len(h) + 4) * ex.UNIT * (_rows_dot(np.abs(G), lam) + n * linear_mag)
    total, err, mag = log_terms(k, k_err, inst, lo, hi, xmax)
    fixed = _dot(lam, h)
    err += ex.summation_error(len(h), float(np.abs(lam * h).sum()))

    def exact():
        ks = _exact_k(lam, G, [-n * Fraction(x) for x in linear.tolist()])
        return (ex.exact_dot(lam.tolist(), h.tolist()) + _log_terms_exact(ks, inst, X)) / n

    def refine():
        terms = _log_terms_refined(lam, G, linear, inst)
        if terms is None:
            return None
        fixed_x = ex.exact_dot(lam.tolist(), h.tolist())
        return (fixed_x + terms[0]) / n, (fixed_x + terms[1]) / n

    return Estimate((fixed + total) / n, err / n, (mag + float(np.abs(lam * h).sum())) / n, exact, refine)


def piece_shared(inst: Instance, X: Exact, G: np.ndarray, h: np.ndarray) -> dict:
    """What every piece of one certificate shares (the box, Σu0, the rows with the piece's two, α·u0), built once:
    at n = 100,000 with 13 pieces, rebuilding them was a fifth of the pieces' time.  Built before the pieces are
    bounded side by side (`_pieces`), so that no two threads build it."""
    kept = X.get("piece_shared", dict)
    if kept.get("G") is not G or kept.get("h") is not h:  # the very arrays (kept alive here), not equal ones
        n = inst.n
        lo, hi, xmax = X.get("float_box", lambda: _float_box(inst))
        base, base_err = X.get("level_base", lambda: (float(inst.u0.sum()), ex.summation_error(n, float(np.abs(inst.u0).sum()))))
        # The multipliers follow the rows: coupling rows, the piece's two rows, then ε-rows (in G after the coupling rows).
        names_count = len(coupling_rows(inst)[0])
        order = np.r_[0:names_count, len(h):len(h) + 2, names_count:len(h)]
        stacked = np.vstack([G, inst.g, -inst.g])[order]
        kept.update(
            G=G, h=h, box=(lo, hi, xmax), base=(base, base_err), names_count=names_count, order=order,
            rows=stacked, abs_rows=np.abs(stacked), abs_g=np.abs(inst.g),
            alpha_u0=_dot(inst.alpha, inst.u0), alpha_u0_err=ex.summation_error(n, float(np.abs(inst.alpha * inst.u0).sum())),
            log=log_shared(inst, lo, hi, xmax),
        )
    return kept


def piece_psi_bound(inst: Instance, X: Exact, a: float, b: float, tau: float, lam: np.ndarray, G: np.ndarray, h: np.ndarray, linear: np.ndarray, linear_mag: np.ndarray) -> Estimate:
    """General α, S = Σ U_j in [a, b]: ψ + ℓ·W <= log n − log τ − 1 − log a + β a + τ α·u0 − β Σu0
    + (λ·h' + Σ_j max_W [log U_j − k_j W]) / n, β the chord slope of log S on [a, b],
    k = G'ᵀλ − n (τ α − β) g − n ℓ, G' the coupling rows with g·W <= b − Σu0 and −g·W <= Σu0 − a
    (models.certificate.coupling_piece_bound)."""
    n = inst.n
    u = ex.UNIT
    shared = piece_shared(inst, X, G, h)
    lo, hi, xmax = shared["box"]
    base, base_err = shared["base"]
    names_count, order = shared["names_count"], shared["order"]
    full_rows, abs_rows, abs_g = shared["rows"], shared["abs_rows"], shared["abs_g"]
    full_rhs = np.append(h, [b - base, base - a])[order]
    if b > a:
        beta = _ln1p((b - a) / a) / (b - a)
    else:
        beta = 1.0 / a
    beta_err = (ex.LIBM_RELATIVE + 8 * u) * beta
    # k as the formula reads, in place (the same bits, the same overflows as written out).
    k = _rows_dot(full_rows, lam)
    step = tau * inst.alpha
    step -= beta
    step *= n
    step *= inst.g
    k -= step
    if linear.any():
        k -= n * linear
    k_mag = _rows_dot(abs_rows, lam)
    step = n * tau * inst.alpha
    step *= abs_g
    k_mag += step
    k_mag += n * beta * abs_g
    k_mag += n * linear_mag
    k_err = ex.SAFETY * (len(lam) + 8) * u * k_mag
    k_err += n * beta_err * abs_g
    total, err, mag = log_terms(k, k_err, inst, lo, hi, xmax, shared["log"])
    alpha_u0 = shared["alpha_u0"]
    log_n, log_tau, log_a = _ln(n), _ln(tau), _ln(a)
    parts = [log_n, -log_tau - 1.0, -log_a, beta * a, tau * alpha_u0, -beta * base]
    fixed = _dot(lam, full_rhs)
    parts_err = (
        ex.LIBM_RELATIVE * (abs(log_n) + abs(log_tau) + abs(log_a))
        + beta_err * (a + abs(base))
        + beta * base_err
        + tau * shared["alpha_u0_err"]
        + 8 * u * sum(abs(x) for x in parts)
    )
    fixed_err = ex.summation_error(len(lam), float(np.abs(lam * full_rhs).sum())) + float(lam[names_count] + lam[names_count + 1]) * (base_err + u * (abs(a) + abs(b)))
    value = sum(parts) + (fixed + total) / n
    error = ex.SAFETY * (parts_err + (fixed_err + err) / n)

    def exact():
        a_x, b_x, tau_x = Fraction(a), Fraction(b), Fraction(tau)
        # Any slope β' <= β (the chord's) keeps log a + β'(S − a) below log S on [a, b], so the bound
        # stays valid with a double just below the chord slope (dyadic: exact sums stay fast).
        beta_x = (_ln_down(b_x) - _ln_up(a_x)) / (b_x - a_x) if b_x > a_x else 1 / a_x
        beta_x = -_up(-beta_x)
        g = X.get("g_x", lambda: [Fraction(x) for x in inst.g.tolist()])
        alpha = X.get("alpha_x", lambda: [Fraction(x) for x in inst.alpha.tolist()])
        base_x = X.get("base_x", lambda: ex.exact_sum(inst.u0.tolist()))
        alpha_u0 = X.get("alpha_u0_x", lambda: ex.exact_dot(inst.alpha.tolist(), inst.u0.tolist()))
        stacked = np.vstack([G, inst.g, -inst.g])[order]
        rhs = [Fraction(x) for x in np.append(h, [0.0, 0.0])[order].tolist()]
        rhs[names_count], rhs[names_count + 1] = b_x - base_x, base_x - a_x
        extra = [-n * (tau_x * al - beta_x) * gj - n * Fraction(l) for al, gj, l in zip(alpha, g, linear.tolist())]
        ks = _exact_k(lam, stacked, extra)
        fixed_x = sum((Fraction(l) * r for l, r in zip(lam.tolist(), rhs) if l), Fraction(0))
        consts = _ln_up(Fraction(n)) - _ln_down(tau_x) - 1 - _ln_down(a_x) + beta_x * a_x + tau_x * alpha_u0 - beta_x * base_x
        return consts + (fixed_x + _log_terms_exact(ks, inst, X)) / n

    def refine():
        """The exact path's scalars (a few decimal logarithms and exact sums, as it computes them) and its log
        terms as a double-double interval, with k_j's extra −n (τ α_j − β) g_j − n ℓ_j in double-double."""
        if not X.refine_allowed(n):
            return None
        a_x, b_x, tau_x = Fraction(a), Fraction(b), Fraction(tau)
        beta_x = (_ln_down(b_x) - _ln_up(a_x)) / (b_x - a_x) if b_x > a_x else 1 / a_x
        beta_x = -_up(-beta_x)  # a double, as in the exact path
        beta_d = float(beta_x)
        base_x = X.get("base_x", lambda: ex.exact_sum(inst.u0.tolist()))
        alpha_u0 = X.get("alpha_u0_x", lambda: ex.exact_dot(inst.alpha.tolist(), inst.u0.tolist()))
        rhs = [Fraction(x) for x in np.append(h, [0.0, 0.0])[order].tolist()]
        rhs[names_count], rhs[names_count + 1] = b_x - base_x, base_x - a_x
        fixed_x = sum((Fraction(l) * r for l, r in zip(lam.tolist(), rhs) if l), Fraction(0))
        consts = _ln_up(Fraction(n)) - _ln_down(tau_x) - 1 - _ln_down(a_x) + beta_x * a_x + tau_x * alpha_u0 - beta_x * base_x
        u2 = dd.U2
        ta = dd.two_prod(np.full(n, tau), inst.alpha)  # τ α_j exactly
        diff = dd.add(ta, dd.of(np.full(n, -beta_d)))  # τ α_j − β
        scaled = dd.mul_d(dd.mul_d(diff, inst.g), np.full(n, -float(n)))
        extra = dd.add(scaled, dd.two_prod(np.full(n, -float(n)), linear)) if np.any(linear) else scaled
        mag = (np.abs(ta[0]) + abs(beta_d)) * np.abs(inst.g) * n * 1.01
        extra_err = u2 * (4 * mag + 8 * mag + 8 * mag + 4 * (mag + n * np.abs(linear) * 1.01)) + 4 * ex.TINY
        terms = _log_terms_refined(lam, np.vstack([G, inst.g, -inst.g])[order], linear, inst, extra, extra_err)
        if terms is None:
            return None
        return consts + (fixed_x + terms[0]) / n, consts + (fixed_x + terms[1]) / n

    return Estimate(value, error, abs(value) + (mag + float(np.abs(lam * full_rhs).sum())) / n, exact, refine)


# --- scalarisations ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Spec:
    """A scalarisation read from a certificate, checked against the degeneracy rules (docs/certificate.md)."""

    method: str
    weights: dict  # name -> weight, linear objectives in max sense (F1, F3 negated, T)
    kappa: float
    constraints: tuple  # ((name, at_least), ...)
    floor: float | None  # coordination_at_least
    chebyshev: dict | None  # {"reference", "scale", "rho"}
    mu: np.ndarray | None


def linear_objective_exact(X: Exact, name: str):
    """coef and constant of F1, F3 (negated) or T, as Fractions."""
    inst = X.inst
    if name == "F1":
        return X.c, Fraction(0)
    if name == "F3":
        return [-x for x in X.f], Fraction(0)
    coef = [Fraction(a) * Fraction(g) for a, g in zip(inst.alpha.tolist(), inst.g.tolist())]
    return coef, ex.exact_dot(inst.alpha.tolist(), inst.u0.tolist())


def _objective_parts(inst: Instance, name: str) -> tuple[np.ndarray, np.ndarray, float]:
    """coef, |coef| as a magnitude (before cancellation), constant, in floating point."""
    if name == "F1":
        c, mag = _fixed_order_rows(inst.benefit, inst.indicator_weight)
        return c, mag, 0.0
    if name == "F3":
        f, mag = _fixed_order_rows(inst.use, inst.resource_weight / inst.cooperative_cap)
        return -f, mag, 0.0
    return inst.alpha * inst.g, np.abs(inst.alpha * inst.g), math.fsum((inst.alpha * inst.u0).tolist())


def _fixed_order_rows(M: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """M @ w and |M| @ |w| summed column by column in a fixed order: elementwise IEEE operations give the
    same doubles on every machine, where a BLAS matvec may sum in another order (review F-1b: the ε-rows
    and the dual bounds' rows are these doubles, so a verdict must not depend on the BLAS)."""
    out, mag = np.zeros(M.shape[0]), np.zeros(M.shape[0])
    for k in range(M.shape[1]):
        out = out + M[:, k] * w[k]
        mag = mag + np.abs(M[:, k]) * abs(w[k])
    return out, mag


def read_spec(cert: dict) -> Spec:
    """The scalarisation, refused (``degenerate_scalarisation``) when it cannot prove anything about the objectives:

    D1 weights and κ are non-negative (a negative weight rewards the opposite of the objective);
    D2 at least one weight or κ is positive (with all zero, every feasible allocation is optimal);
    D3 weights, constraints and references name F1, F3 or T only, each once;
    D4 an F2 floor lies in (0, 1]; κ > 0 is at least 1/MAX_NUMBER (it divides);
    D5 Chebyshev: a reference and a positive scale per objective, ρ >= 0, μ >= 0 not all zero.
    """
    spec = cert.get("scalarisation")
    if not isinstance(spec, dict) or spec.get("method") not in _SCALARISATION_FIELDS:
        fail("malformed", f"'scalarisation.method' must be one of {', '.join(_SCALARISATION_FIELDS)}")
    method = spec["method"]
    extra = set(spec) - _SCALARISATION_FIELDS[method]
    if extra:
        fail("malformed", f"'scalarisation' of method {method} has unknown fields: {', '.join(sorted(map(str, extra)))}")
    constraints = spec.get("constraints", [])
    if not isinstance(constraints, list) or len(constraints) > MAX_CONSTRAINTS or any(not isinstance(c, list) or len(c) != 2 for c in constraints):
        fail("malformed", f"'scalarisation.constraints' must be a list of at most {MAX_CONSTRAINTS} [objective, at_least]")
    names = [c[0] for c in constraints]
    if any(nm not in LINEAR_OBJECTIVES for nm in names) or len(set(names)) != len(names):
        fail("degenerate_scalarisation", "each ε-constraint must name F1, F3 or T, each at most once (rule D3)")
    constraints = tuple((nm, _number(c[1], f"scalarisation.constraints[{i}]")) for i, (nm, c) in enumerate(zip(names, constraints)))
    if method == "chebyshev":
        cheb = spec.get("chebyshev")
        if not isinstance(cheb, dict) or set(cheb) != {"reference", "scale", "rho"}:
            fail("malformed", "a Chebyshev scalarisation needs 'chebyshev': {reference, scale, rho}")
        ref, scale = cheb["reference"], cheb["scale"]
        if not isinstance(ref, dict) or not isinstance(scale, dict) or not ref or list(ref) != list(scale):
            fail("degenerate_scalarisation", "Chebyshev needs a reference and a scale for the same objectives, at least one (rule D5)")
        if any(k not in LINEAR_OBJECTIVES for k in ref):
            fail("degenerate_scalarisation", "Chebyshev reference points name F1, F3 or T only (rule D3)")
        reference = {k: _number(ref[k], f"chebyshev.reference.{k}") for k in ref}
        scales = {k: _number(scale[k], f"chebyshev.scale.{k}") for k in ref}
        if any(v < 1 / MAX_NUMBER for v in scales.values()):
            fail("degenerate_scalarisation", "every Chebyshev scale must be positive (rule D5)")
        rho = _number(cheb["rho"], "chebyshev.rho")
        if rho < 0:
            fail("degenerate_scalarisation", "Chebyshev's rho must be non-negative (rule D5)")
        mu = _numbers(cert.get("mu"), len(ref), "mu", nonneg=True)
        if not mu.sum() > 0:
            fail("degenerate_scalarisation", "'mu' must not be all zero (rule D5)")
        return Spec(method, {}, 0.0, constraints, None, {"reference": reference, "scale": scales, "rho": rho}, mu)
    weights = spec.get("weights", {})
    if not isinstance(weights, dict) or any(k not in LINEAR_OBJECTIVES for k in weights):
        fail("degenerate_scalarisation", "'scalarisation.weights' must map F1, F3 or T to a number (rule D3)")
    weights = {k: _number(w, f"scalarisation.weights.{k}") for k, w in weights.items()}
    if any(w < 0 for w in weights.values()):
        fail("degenerate_scalarisation", "scalarisation weights must be non-negative (rule D1): a negative weight rewards the opposite of its objective")
    kappa = _number(spec.get("kappa", 0.0), "scalarisation.kappa")
    if kappa < 0:
        fail("degenerate_scalarisation", "'scalarisation.kappa' must be non-negative (rule D1)")
    if 0 < kappa < 1 / MAX_NUMBER:
        fail("out_of_range", f"'scalarisation.kappa' = {kappa!r} is below the smallest positive value a certificate may use ({1 / MAX_NUMBER:g})")
    floor = spec.get("coordination_at_least")
    if floor is not None:
        floor = _number(floor, "scalarisation.coordination_at_least")
        if not 0 < floor <= 1:
            fail("degenerate_scalarisation", "'scalarisation.coordination_at_least' must lie in (0, 1] (rule D4)")
    if not (kappa > 0 or any(w > 0 for w in weights.values())):
        fail("degenerate_scalarisation", "every weight and kappa is zero: any feasible allocation maximises that, so it proves nothing (rule D2)")
    return Spec(method, weights, kappa, constraints, floor, None, None)


def objective_range(inst: Instance, name: str) -> tuple[float, float]:
    """The range of f_k (F1, −F3 or T, max sense) over the verifier's box, from elementwise products summed
    by math.fsum (correctly rounded: the same on every machine)."""
    coef, _, const = _objective_parts(inst, name)
    lo, hi = outward_box(inst)
    with np.errstate(invalid="ignore"):
        a, b = np.where(coef == 0, 0.0, coef * lo), np.where(coef == 0, 0.0, coef * hi)
    return math.fsum(np.minimum(a, b).tolist()) + const, math.fsum(np.maximum(a, b).tolist()) + const


def check_reference(inst: Instance, spec: Spec) -> None:
    """Rule D6: a Chebyshev reference lies within the objective's own magnitude of its attainable range.

    The gap is relative to the scalarised value, and s_k z_k shifts that value: a reference far
    beyond the range (z_F1 = 1e30) makes every allocation's relative gap ~0 (review F-3)."""
    for name, z in spec.chebyshev["reference"].items():
        lo, hi = objective_range(inst, name)
        own = max(abs(lo), abs(hi), hi - lo)
        if math.isfinite(own) and (z > hi + own or z < lo - own):
            fail("degenerate_scalarisation",
                 f"the Chebyshev reference {name} = {z!r} lies beyond the range {name} can reach ({lo!r} … {hi!r}) by more than "
                 f"its own magnitude ({own!r}): the gap, relative to the shifted value, would prove nothing (rule D6)")


def spec_linear(inst: Instance, X: Exact, spec: Spec):
    """The linear part ℓ·W + constant of the scalarised objective: floats, magnitude, and exact on demand."""
    linear, mag, const, const_mag = np.zeros(inst.n), np.zeros(inst.n), 0.0, 0.0
    if spec.chebyshev is None:
        items = [(name, w, 0.0) for name, w in spec.weights.items()]
    else:
        mu = spec.mu / spec.mu.sum()
        cheb = spec.chebyshev
        items = [(name, (m + cheb["rho"]) * cheb["scale"][name], m * cheb["scale"][name] * cheb["reference"][name]) for m, name in zip(mu, cheb["reference"])]
    for name, w, shift in items:
        coef, coef_mag, c0 = _objective_parts(inst, name)
        linear = linear + w * coef
        mag = mag + abs(w) * coef_mag
        const += w * c0 - shift
        const_mag += abs(w * c0) + abs(shift)

    def exact():
        lin = [Fraction(0)] * inst.n
        c = Fraction(0)
        if spec.chebyshev is None:
            ex_items = [(name, Fraction(w), Fraction(0)) for name, w in spec.weights.items()]
        else:
            mus = [Fraction(m) for m in spec.mu.tolist()]
            total = sum(mus, Fraction(0))
            cheb = spec.chebyshev
            rho = Fraction(cheb["rho"])
            ex_items = [(name, (m / total + rho) * Fraction(cheb["scale"][name]), (m / total) * Fraction(cheb["scale"][name]) * Fraction(cheb["reference"][name]))
                        for m, name in zip(mus, cheb["reference"])]
        for name, w, shift in ex_items:
            coef, c0 = linear_objective_exact(X, name)
            lin = [a + w * b for a, b in zip(lin, coef)]
            c += w * c0 - shift
        return lin, c

    return linear, mag, const, const_mag, exact


# --- the verdict -------------------------------------------------------------------------------


# An exact gap over a size of exactly 0 with B != v: beyond any claim and any limit (no double reaches it).
_UNMEASURABLE = Fraction(10) ** 400


def _gap(objective: str, v: Estimate, B: Estimate, size: Estimate | None):
    """gap = (B − v) / den in max sense, den = max(|v|, |B|) (F2: v; a scalarisation: its objective's own size,
    `size`): the float gap, a radius the exact gap lies within, and the exact gap on demand."""
    spread = v.error + B.error
    if size is not None:
        den, den_err = size.value, size.error
    elif objective == "F2":
        den, den_err = v.value, spread
    else:
        den, den_err = max(abs(v.value), abs(B.value)), spread
    gap = (B.value - v.value) / den if den > 0 else 0.0
    if den > 2 * den_err and math.isfinite(den):
        # |(B − v) − (B* − v*)| <= spread and |den − den*| <= den_err: the exact gap is within this radius.
        radius = (spread + abs(gap) * den_err) / (den - den_err) + 8 * ex.UNIT * (1 + abs(gap))
    else:
        radius = math.inf
    cache = {}

    def exact_gap():
        if "g" not in cache:
            b, x = B.exact(), v.exact()
            d = size.exact() if size is not None else x if objective == "F2" else max(abs(x), abs(b))
            if any(isinstance(y, Decimal) for y in (b, x, d)):
                with ex.decimal_context():
                    b, x, d = _dec_of(b), _dec_of(x), _dec_of(d)
                    cache["g"] = (b - x) / d if d != 0 else Decimal(0) if b == x else Decimal(_UNMEASURABLE.numerator) * (1 if b > x else -1)
            else:
                cache["g"] = (b - x) / d if d != 0 else Fraction(0) if b == x else _UNMEASURABLE * (1 if b > x else -1)
        return cache["g"]

    def refined_gap():
        """An interval holding the exact gap (None: the second filter cannot say)."""
        if "r" not in cache:
            cache["r"] = None
            b, x = _interval(B), _interval(v)
            if b is not None and x is not None:
                if size is not None:
                    d = _interval(size)
                elif objective == "F2":
                    d = x
                else:
                    ab, ax = _abs_interval(b), _abs_interval(x)
                    d = (max(ab[0], ax[0]), max(ab[1], ax[1]))
                if d is not None and d[0] > 0:
                    num = (b[0] - x[1], b[1] - x[0])
                    lo = num[0] / (d[1] if num[0] >= 0 else d[0])
                    hi = num[1] / (d[0] if num[1] >= 0 else d[1])
                    cache["r"] = (lo, hi)
        return cache["r"]

    return gap, radius, exact_gap, refined_gap


def _le_refined(interval, threshold):
    """A decider for `decide_le`: is the number in `interval()` (or None) <= threshold?  None when undecided."""
    def run():
        i = interval()
        if i is None:
            return None
        t = Fraction(threshold)
        return True if i[1] <= t else False if i[0] > t else None
    return run


def _num(t: float, like):
    return Decimal(t) if isinstance(like, Decimal) else Fraction(t)


def _gap_checks(objective: str, claimed_gap: float, v: Estimate, B: Estimate, limit: float, size: Estimate | None = None,
                also_size: Estimate | None = None) -> float:
    """The claimed gap (over `size`, or max(|v|, |B|) / v): its agreement, sign and limit, decided exactly.
    `also_size`: the gap over it must be within the limit too (a v1 scalarisation, written with the old gap)."""
    gap, radius, exact_gap, refined_gap = _gap(objective, v, B, size)
    agreement = GAP_AGREEMENT
    if size is not None and size.value > 0:
        # The writer's B and v are doubles of the shifted values: when a constant dwarfs the size, their
        # difference carries its rounding, 64u (|v| + |B|) / size at most.  The limit below is decided on
        # the exact gap, so this only bounds how far the stated gap may be from it.
        agreement = GAP_AGREEMENT + float(Fraction(64) * Fraction(ex.UNIT) * (Fraction(abs(v.value)) + Fraction(abs(B.value))) / Fraction(size.value))

    def off_by(sign):  # sign·(claimed − gap) as an interval
        def run():
            i = refined_gap()
            if i is None:
                return None
            c = Fraction(claimed_gap)
            return (c - i[1], c - i[0]) if sign > 0 else (i[0] - c, i[1] - c)
        return run

    for sign in (1, -1):
        if not ex.decide_le(sign * (claimed_gap - gap), radius + ex.UNIT * abs(claimed_gap), agreement, 0.0,
                            lambda: (sign * (_num(claimed_gap, exact_gap()) - exact_gap()), _num(agreement, exact_gap())),
                            _le_refined(off_by(sign), agreement)):
            shown = figure(refined_gap, exact_gap, lambda: gap)
            fail("gap_mismatch", f"the certificate claims gap = {claimed_gap!r}, but it is {shown!r}")
    # gap < −NEGATIVE_GAP (exactly) means the "bound" lies below a feasible value.
    threshold = -NEGATIVE_GAP
    negated = lambda: (lambda i: None if i is None else (-i[1], -i[0]))(refined_gap())  # noqa: E731
    if not ex.decide_le(-gap, radius, -threshold, 0.0, lambda: (-exact_gap(), -_num(threshold, exact_gap())), _le_refined(negated, -threshold)):
        shown = figure(refined_gap, exact_gap, lambda: gap)
        fail("bound_mismatch", f"the bound lies below the allocation's value: it is not a bound (gap {shown:.3g})")
    checks = [(gap, radius, exact_gap, refined_gap)] + ([_gap(objective, v, B, also_size)] if also_size is not None else [])
    for g, r, exact, refined in checks:
        if not ex.decide_le(g, r, limit, 0.0, lambda: (exact(), _num(limit, exact())), _le_refined(refined, limit)):
            what = " relative to the objective's own size" if exact is not exact_gap or size is not None else ""
            shown = figure(refined, exact, lambda: g)
            fail("gap_exceeded", f"the gap {shown:.3g}{what} exceeds the limit {limit:g} for {objective}: optimality is not proven")
    return gap


def _class_of(D: Estimate) -> str:
    """The class of D (0.1-wide bins), decided exactly when D·10 is near an integer."""
    x = D.value * 10.0
    near = round(x)
    if abs(x - near) > 10 * D.error + 8 * ex.UNIT * x:
        return coordination_class(D.value)
    i = _interval(D)
    if i is not None and math.floor(i[0] * 10) == math.floor(i[1] * 10):
        return COORDINATION_CLASSES[min(math.floor(i[0] * 10), 9)]
    with ex.decimal_context():
        d = D.exact() * 10
        return COORDINATION_CLASSES[min(int(d), 9)]


def _dec_of(x):
    return x if isinstance(x, Decimal) else ex.dec(x)


def combine(parts: list, const: float = 0.0) -> Estimate:
    """Σ coef·Estimate + const, coefficients exact doubles; exact in Fractions, or decimal if any part is."""
    value = sum(c * e.value for c, e in parts) + const
    error = sum(abs(c) * e.error for c, e in parts) + ex.SAFETY * (len(parts) + 2) * ex.UNIT * (sum(abs(c * e.value) for c, e in parts) + abs(const))
    mag = sum(abs(c) * e.magnitude for c, e in parts) + abs(const)

    def exact():
        xs = [(c, e.exact()) for c, e in parts]
        if any(isinstance(x, Decimal) for _, x in xs):
            with ex.decimal_context():
                return sum((ex.dec(c) * _dec_of(x) for c, x in xs), Decimal(0)) + ex.dec(const)
        return sum((Fraction(c) * x for c, x in xs), Fraction(0)) + Fraction(const)

    def refine():
        lo = hi = Fraction(const)
        size = abs(Fraction(const))
        for c, e in parts:
            i = _interval(e)
            if i is None:
                return None
            a, b = Fraction(c) * i[0], Fraction(c) * i[1]
            lo, hi = lo + min(a, b), hi + max(a, b)
            size += max(abs(a), abs(b))
        # The exact path sums in 60-digit decimal when a part is decimal: its rounding is relative to the
        # terms, which may cancel, so the interval is widened relative to them.
        pad = REFINE_SLACK * size + Fraction(1, 10**300)
        return lo - pad, hi + pad

    return Estimate(value, error, mag, exact, refine)


def _exp_half(psi: Estimate) -> Estimate:
    """exp(ψ / 2), for F2's bound."""
    # D <= 1, so a ψ-bound above 2·CLAMP proves nothing; clamping keeps exp finite (math.exp would
    # overflow past 709, the decimal exp past 10^999999) and changes no comparison with a double.
    clamp = 1000
    half = psi.value / 2
    v = _exp(min(half, 700.0))

    def exact():
        x = psi.exact()
        with ex.decimal_context():
            return min(_dec_of(x) / 2, Decimal(clamp)).exp()

    def refine():
        i = _interval(psi)
        if i is None:
            return None
        return _widen(*(_dec_fn(Decimal.exp, min(x / 2, Fraction(clamp))) for x in i))

    if not half < 700:
        return Estimate(v, math.inf, v, exact, refine)
    return Estimate(v, v * (psi.error / 2 * 1.01 + ex.LIBM_RELATIVE + 4 * ex.UNIT), v, exact, refine)


def _max_estimate(estimates: list[Estimate]) -> Estimate:
    best = max(estimates, key=lambda e: e.value)

    def exact():
        xs = [e.exact() for e in estimates]
        if all(isinstance(x, Fraction) for x in xs):
            return max(xs)
        with ex.decimal_context():
            return max(_dec_of(x) for x in xs)

    def refine():
        xs = [_interval(e) for e in estimates]
        if any(x is None for x in xs):
            return None
        return max(x[0] for x in xs), max(x[1] for x in xs)

    # The float max is within max error of the exact max.
    return Estimate(best.value, max(e.error for e in estimates), max(e.magnitude for e in estimates), exact, refine)


# From this many enterprises the pieces' bounds are computed in threads (below it a thread costs more than it saves).
_PIECES_IN_THREADS = 20_000


def _pieces(inst: Instance, X: Exact, cert: dict, G: np.ndarray, h: np.ndarray, linear: np.ndarray, linear_mag: np.ndarray,
            scale: float, with_floor: float | None) -> Estimate:
    """The bound of general α over pieces of S that cover its range: max over pieces of
    scale·ψ-bound(ℓ/scale) (no floor), or κ_p (ψ-bound(ℓ/κ_p) − 2 log floor) (a floor priced per piece)."""
    pieces = cert.get("pieces")
    if not isinstance(pieces, list) or not pieces:
        fail("malformed", "with general alpha the certificate needs a non-empty list 'pieces'")
    m = len(h) + 2
    lo, hi, _ = _float_box(inst)
    S_lo = float((inst.u0 + inst.g * lo).sum())
    S_hi = float((inst.u0 + inst.g * hi).sum())
    S_err = ex.summation_error(inst.n * 3, float((np.abs(inst.u0) + np.abs(inst.g) * (np.abs(lo) + np.abs(hi))).sum()))
    prev_hi = None
    c = None if with_floor is None else 2.0 * _ln(with_floor)
    # Each piece is read, then bounded, then its claim checked, and the first failure is the verdict.  The
    # bounds (a pass over the enterprises each) are computed side by side in threads (numpy releases the
    # interpreter's lock in its loops), the checks then run in the pieces' order: the verdict is the one a
    # piece-by-piece reading gives, a malformed piece refused only after the pieces before it were checked.
    read, malformed = [], None
    try:
        for i, piece in enumerate(pieces):
            where = f"pieces[{i}]"
            keys = {"s", "tau", "multipliers", "bound"} | ({"kappa"} if with_floor is not None else set())
            if not isinstance(piece, dict) or set(piece) != keys or not isinstance(piece["s"], list) or len(piece["s"]) != 2:
                fail("malformed", f"{where} needs exactly {', '.join(sorted(keys))} ('s': [lo, hi])")
            a, b = (_number(x, f"{where}.s") for x in piece["s"])
            if not 0 < a <= b:
                fail("malformed", f"{where}.s must be an interval of positive level sums: {a!r}, {b!r}")
            if prev_hi is not None and a > prev_hi:
                fail("malformed", f"{where} starts at S = {a!r}, after the previous piece ends ({prev_hi!r}): the pieces leave a gap")
            prev_hi = b if prev_hi is None else max(prev_hi, b)
            tau = _number(piece["tau"], f"{where}.tau")
            if tau < 1 / MAX_NUMBER:
                fail("malformed", f"{where}.tau must be positive")
            lam = _numbers(piece["multipliers"], m, f"{where}.multipliers", nonneg=True)
            kappa = None
            if with_floor is not None:
                kappa = _number(piece["kappa"], f"{where}.kappa")
                if kappa < 1 / MAX_NUMBER:
                    fail("malformed", f"{where}.kappa must be positive")
            read.append((where, piece, a, b, tau, lam, kappa))
    except CertificateError as e:
        malformed = e

    def bound(item):
        where, piece, a, b, tau, lam, kappa = item
        # The piece states its bound on ψ + (ℓ/κ)·W (κ = `scale` with no floor); the scalarisation's is κ times it.
        divisor = scale if kappa is None else kappa
        return piece_psi_bound(inst, X, a, b, tau, lam, G, h, linear / divisor, linear_mag / divisor)

    if read:
        piece_shared(inst, X, G, h)  # built here, once, before any thread reads it
    if len(read) > 1 and inst.n >= _PIECES_IN_THREADS:
        pool = ThreadPoolExecutor(max_workers=min(len(read), os.cpu_count() or 1, 4), thread_name_prefix="pieces")
        # Each in a copy of the caller's context: numpy's error state (np.errstate) lives there, and a pool
        # thread would otherwise run with numpy's defaults, warning or raising where the caller's would not.
        bounds = [pool.submit(contextvars.copy_context().run, bound, item) for item in read]
    else:
        pool, bounds = None, None  # each bounded in turn below, once the pieces before it hold
    out = []
    try:
        for i, (where, piece, a, b, tau, lam, kappa) in enumerate(read):
            est = bounds[i].result() if bounds is not None else bound(read[i])
            if kappa is not None:
                log_floor_x = lambda: 2 * _ln_down(Fraction(with_floor))  # noqa: E731  (subtracted: rounded down)
                log_floor = Estimate(c, ex.LIBM_RELATIVE * abs(c) * 2, abs(c), log_floor_x, _point(log_floor_x))
                est = combine([(kappa, est), (-kappa, log_floor)])
            if not math.isfinite(est.value) or not math.isfinite(est.error):
                fail("non_finite", f"{where}: its bound is not a finite number")
            claimed = _claimed(piece["bound"], f"{where}.bound")
            agree(claimed, est, (est,), f"{where}.bound", "bound_mismatch")
            out.append(est if with_floor is not None else combine([(scale, est)]))
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if malformed is not None:
        raise malformed
    first, last = float(pieces[0]["s"][0]), prev_hi
    X_range = {}

    def exact_range():
        if "r" not in X_range:
            lo_x, hi_x = X.box
            u0, g = [Fraction(x) for x in inst.u0.tolist()], [Fraction(x) for x in inst.g.tolist()]
            X_range["r"] = (sum((a + b * x for a, b, x in zip(u0, g, lo_x)), Fraction(0)), sum((a + b * x for a, b, x in zip(u0, g, hi_x)), Fraction(0)))
        return X_range["r"]

    if not ex.decide_le(first, 0.0, S_lo, S_err, lambda: (Fraction(first), exact_range()[0])):
        fail("malformed", f"the pieces start at S = {first!r}, above the smallest level sum {S_lo!r}: part of the range is not covered")
    if not ex.decide_le(S_hi, S_err, last, 0.0, lambda: (exact_range()[1], Fraction(last))):
        fail("malformed", f"the pieces end at S = {last!r}, below the largest level sum {S_hi!r}: part of the range is not covered")
    return _max_estimate(out)


def _v3_problem(claimed_hash: str, problem) -> Instance:
    """The problem a v3 certificate names by the SHA-256 of its columns form: given as that form (bytes), as its
    canonical text (proven, then written in columns form to compare hashes), or as a `ProvenProblem`."""
    what = "the problem given with the certificate"
    if problem is None:
        fail("problem_missing", f"the certificate is for the problem whose columns form has SHA-256 {claimed_hash}: give that form "
                                f"(NAME{problem_form.SUFFIX} beside NAME.json, as `coopchain solve --certificate` writes it) or the problem's text "
                                "(coopchain verify CERT --problem FILE)")
    if isinstance(problem, (bytes, bytearray)):
        problem = proven_form(problem)
    elif isinstance(problem, str):
        if len(problem) > MAX_PROBLEM_CHARS:
            fail("too_large", f"{what} has {len(problem):,} characters; at most {MAX_PROBLEM_CHARS:,} are read")
        try:
            data, digest = _utf8_and_digest(problem)
        except UnicodeEncodeError:
            fail("not_canonical", f"{what} holds a lone UTF-16 surrogate, which has no UTF-8 form")
        _problem(digest, problem, data)  # the bytes and hash just taken (proven_problem would encode and hash them again)
        problem = _PROBLEMS[digest]
    elif not isinstance(problem, ProvenProblem):
        fail("malformed", f"{what} must be its columns form (bytes) or its canonical text")
    if problem.form_digest() != claimed_hash:
        fail("hash_mismatch", f"{what} does not match 'problem_hash' (the SHA-256 of its columns form): it was altered, or it is another problem")
    return problem.instance


def _text_problem(schema: str, cert: dict, claimed_hash: str, problem) -> Instance:
    """The problem a v1 certificate embeds, or a v2 names by the SHA-256 of its canonical text."""
    if schema == SCHEMA_V1:
        text = cert["problem"]
        what = "the embedded problem"
        # A problem given beside a v1 certificate is the one the caller means: the certificate proves
        # nothing about it unless it is the embedded one (review R-4: "valid" for another problem).
        if problem is not None and not (problem == text if isinstance(problem, str) else isinstance(problem, ProvenProblem) and problem.digest == claimed_hash):
            fail("hash_mismatch", "the problem given with the certificate is not the one it embeds: it proves nothing about the problem given")
    else:
        text = problem
        what = "the problem given with the certificate"
    if isinstance(text, ProvenProblem):
        # A handle from `proven_problem`: proven canonical and valid when it was made, named by its hash
        # (of its text: a handle of a columns form is named by the form's, which v1 and v2 do not use).
        if text.form or text.digest != claimed_hash:
            fail("hash_mismatch", f"{what} does not match 'problem_hash': it is another problem")
        inst = text.instance
    elif text is None:
        # Never from the memo of proven problems: a verdict must not depend on what this process
        # verified before (review R-7).  The memo only spares proving a text twice.
        fail("problem_missing", f"the certificate is for problem {claimed_hash}: give its canonical text beside it "
                                "(a solve's output holds it as 'problem_text'; coopchain verify CERT --problem FILE, or NAME.problem.json beside NAME.json)")
    else:
        if not isinstance(text, str):
            fail("malformed", f"{what} must be the canonical problem document as a string")
        if len(text) > MAX_PROBLEM_CHARS:
            fail("too_large", f"{what} has {len(text):,} characters; at most {MAX_PROBLEM_CHARS:,} are read")
        try:
            data, digest = _utf8_and_digest(text)  # once: hashed, then read by the fast reader (36 MiB at n = 100,000)
        except UnicodeEncodeError:
            fail("not_canonical", f"{what} holds a lone UTF-16 surrogate, which has no UTF-8 form")
        hashed_as_written(text, digest)  # a solve output's check (check_solve_output) hashes this very str again
        if digest != claimed_hash:
            fail("hash_mismatch", f"{what} does not match 'problem_hash': it was altered, or it is another problem")
        inst = _problem(digest, text, data)
    return inst


def verify(cert, problem: "str | bytes | ProvenProblem | None" = None, *, legacy: bool = False) -> Verified:
    """Check a certificate (parsed): coopchain/certificate/v3, which names its problem by the hash of its columns
    form (`problem`: the form's bytes, the canonical text, or a `ProvenProblem`), v2, which names it by the hash
    of its canonical text (`problem`: the text, or a `ProvenProblem` from `proven_problem`; for either, None is
    ``problem_missing``), or v1, which embeds it (a `problem` given must then be the embedded one, else
    ``hash_mismatch``).  Raise CertificateError with
    a code and the first reason.  The verdict depends on the arguments only, never on what was proven before.

    The float filter's numbers are models.portable_float's and a refusal's sentence shows recomputed numbers as
    `figure` gives them: the same on every machine.  `legacy`: the platform's BLAS and libm and the filter's
    estimate in sentences, as allocation contract v1 had them, whose receipts hold them (`_LEGACY`)."""
    token = _LEGACY.set(legacy)
    try:
        return _verify(cert, problem)
    finally:
        _LEGACY.reset(token)


def _verify(cert, problem) -> Verified:
    schema = cert.get("schema") if isinstance(cert, dict) else None
    if schema not in (SCHEMA, SCHEMA_V1, SCHEMA_V3):
        fail("malformed", f"not a certificate: 'schema' must be {SCHEMA_V3!r} (or the older {SCHEMA!r} or {SCHEMA_V1!r})")
    objective = cert.get("objective")
    if objective not in OBJECTIVES + ("scalarised",):
        fail("malformed", f"'objective' must be one of {', '.join(OBJECTIVES)} or 'scalarised'")
    fields = _FIELDS if schema != SCHEMA_V1 else _FIELDS | {"problem"}
    missing, unknown = fields - set(cert), set(cert) - fields - _OPTIONAL
    if missing or unknown:
        fail("malformed", f"the certificate's fields: missing {', '.join(sorted(missing)) or 'none'}, unknown {', '.join(sorted(map(str, unknown))) or 'none'}")
    pieces = cert.get("pieces")
    if pieces is not None and (not isinstance(pieces, list) or len(pieces) > MAX_PIECES):
        fail("too_large" if isinstance(pieces, list) else "malformed", f"'pieces' must be a list of at most {MAX_PIECES:,} pieces")
    claimed_hash = cert["problem_hash"]
    if not isinstance(claimed_hash, str):
        # (The sentence is in the receipts of ledgers made with allocation contract v1: kept as it was.)
        fail("malformed", "'problem_hash' must be the SHA-256 of the canonical problem text, in hex")
    if schema == SCHEMA_V3:
        inst = _v3_problem(claimed_hash, problem)
    else:
        inst = _text_problem(schema, cert, claimed_hash, problem)
    n = inst.n
    if pieces is not None and len(pieces) * n > MAX_PIECE_WORK:
        fail("too_large", f"{len(pieces):,} pieces over {n:,} enterprises is more work than a certificate may ask ({MAX_PIECE_WORK:,} piece-enterprises)")

    allocation = cert["allocation"]
    if schema == SCHEMA_V1:
        if not isinstance(allocation, dict) or list(allocation) != list(inst.ids):
            fail("malformed", "'allocation' must map every enterprise id, in document order, to its volume")
        W = _numbers(list(allocation.values()), n, "allocation")
    else:
        W = _numbers(allocation, n, "allocation (one volume per enterprise, in the problem's order)")
    spec = read_spec(cert) if objective == "scalarised" else None
    if spec is None and ("scalarisation" in cert or "scalarised_value" in cert or "mu" in cert):
        fail("malformed", f"a certificate for {objective} has no 'scalarisation', 'scalarised_value' or 'mu'")
    if spec is not None and spec.chebyshev is None and "mu" in cert:
        fail("malformed", "'mu' belongs to a Chebyshev scalarisation only")
    if spec is not None and spec.chebyshev is not None:
        check_reference(inst, spec)
    row_names, G0, h0 = coupling_rows(inst)
    eps_names = tuple(f"epsilon[{name}]" for name, _ in (spec.constraints if spec else ()))
    expected_rows = list(row_names)
    if pieces is not None:
        expected_rows[len(row_names):len(row_names)] = ["level_sum_max", "level_sum_min"]
    if cert["rows"] != expected_rows + list(eps_names):
        fail("malformed", f"'rows' must name the rows of the multipliers, in order: {', '.join(expected_rows + list(eps_names))}")

    # ε-rows f_k(W) >= e_k as −coef_k·W <= const_k − e_k.
    E_rows, e_rhs = [], []
    for name, at_least in (spec.constraints if spec else ()):
        coef, _, const = _objective_parts(inst, name)
        E_rows.append(-coef)
        e_rhs.append(const - at_least)
    E = np.array(E_rows).reshape(len(E_rows), n)
    e = np.array(e_rhs, dtype=float)
    check_feasible(inst, W, E, e, eps_names)

    X = Exact(inst, W)
    claimed = cert["values"]
    if not isinstance(claimed, dict) or set(claimed) != {"F1", "F2", "C", "T", "F3", "class"}:
        fail("malformed", "'values' must hold exactly F1, F2, C, T, F3 and class")
    F1 = linear_value(inst.unit_benefit if _LEGACY.get() else _objective_parts(inst, "F1")[0], 0.0, W, exact_coef=lambda: X.c)
    F3 = linear_value(inst.unit_footprint if _LEGACY.get() else -_objective_parts(inst, "F3")[0], 0.0, W, exact_coef=lambda: X.f)
    C, T, D = coupling_values(inst, W, X)
    for key, est in (("F1", F1), ("F2", D), ("C", C), ("T", T), ("F3", F3)):
        if not (math.isfinite(est.value) and math.isfinite(est.error)) or (key in ("F2", "C") and not est.value > 0):
            shown = f" ({est.value!r})" if _LEGACY.get() else ""  # a float's overflow or underflow: no figure to show
            fail("non_finite", f"{key} of this allocation is not a finite positive number in floating point{shown}")
        agree(_claimed(claimed[key], f"values.{key}"), est, (est,), key)
    klass = _class_of(D)
    if claimed["class"] != klass:
        fail("value_mismatch", f"the certificate claims class {claimed['class']!r}, but D gives {klass!r}")
    # What a verdict reports is the certificate's own numbers once proven to agree: the recomputed
    # floats' last bits depend on the BLAS, the certificate's do not (review F-1).
    values = Values(*(float(claimed[k]) for k in ("F1", "F2", "C", "T", "F3")), klass)

    # The bound, in max sense (F3 as max −F3).
    G, h = np.vstack([G0, E]), np.append(h0, e)
    m = len(h)
    uniform = inst.uniform_alpha
    psi = None
    sentence_extra = ""
    if objective in ("F1", "F3"):
        if pieces is not None:
            fail("malformed", f"a certificate for {objective} has 'multipliers', not 'pieces'")
        lam = _numbers(cert.get("multipliers"), len(h0), "multipliers", nonneg=True)
        if objective == "F1":
            coef, coef_mag, _ = _objective_parts(inst, "F1")
            B = linear_bound(inst, X, coef, coef_mag, lambda: X.c, lam, G0, h0)
            v = F1
        else:
            coef, coef_mag, _ = _objective_parts(inst, "F3")
            B = linear_bound(inst, X, coef, coef_mag, lambda: [-x for x in X.f], lam, G0, h0)
            v = combine([(-1.0, F3)])
        limit = GAP_LIMIT[objective]
    elif objective == "F2":
        zero = np.zeros(n)
        if uniform:
            if pieces is not None:
                fail("malformed", "with uniform alpha an F2 certificate has 'multipliers', not 'pieces'")
            lam = _numbers(cert.get("multipliers"), len(h0), "multipliers", nonneg=True)
            psi_B = uniform_psi_bound(inst, X, lam, G0, h0, zero, zero)
        else:
            if "multipliers" in cert:
                fail("malformed", "with general alpha an F2 certificate has 'pieces', not 'multipliers'")
            psi_B = _pieces(inst, X, cert, G0, h0, zero, zero, 1.0, None)
        B, v = _exp_half(psi_B), D
        limit = GAP_LIMIT["F2-uniform" if uniform else "F2-general"]
    else:
        linear, linear_mag, const, const_mag, lin_exact = spec_linear(inst, X, spec)
        lin_est = linear_value(linear, const, W, exact_coef=lambda: lin_exact()[0])
        lin_exact_value = lambda: (lambda pair: sum((a * Fraction(w) for a, w in zip(pair[0], W.tolist())), Fraction(0)) + pair[1])(lin_exact())  # noqa: E731
        lin_est = Estimate(lin_est.value, lin_est.error + ex.SAFETY * 8 * ex.UNIT * (float((linear_mag * np.abs(W)).sum()) + const_mag), lin_est.magnitude,
                           lin_exact_value, _point(lin_exact_value))
        f2_part = spec.kappa > 0 or (spec.floor is not None and pieces is not None)
        if spec.kappa == 0 and pieces is None:
            lam = _numbers(cert.get("multipliers"), m, "multipliers", nonneg=True)
            B = linear_bound(inst, X, linear, linear_mag, lambda: lin_exact()[0], lam, G, h)
            B = combine([(1.0, B)], const)
            f2_part = spec.floor is not None
        elif spec.kappa > 0 and uniform:
            if pieces is not None:
                fail("malformed", "with uniform alpha a scalarisation with kappa has 'multipliers', not 'pieces'")
            lam = _numbers(cert.get("multipliers"), m, "multipliers", nonneg=True)
            psi_B = uniform_psi_bound(inst, X, lam, G, h, linear / spec.kappa, linear_mag / spec.kappa)
            parts = [(spec.kappa, psi_B)]
            if spec.floor is not None:
                c = 2.0 * _ln(spec.floor)
                floor_x = lambda: 2 * _ln_down(Fraction(spec.floor))  # noqa: E731
                parts.append((-spec.kappa, Estimate(c, ex.LIBM_RELATIVE * abs(c) * 2, abs(c), floor_x, _point(floor_x))))
            B = combine(parts, const)
        elif spec.kappa > 0 and spec.floor is None:
            if "multipliers" in cert:
                fail("malformed", "with general alpha a scalarisation with kappa has 'pieces', not 'multipliers'")
            B = combine([(1.0, _pieces(inst, X, cert, G, h, linear, linear_mag, spec.kappa, None))], const)
        elif spec.kappa == 0 and spec.floor is not None and not uniform:
            if "multipliers" in cert:
                fail("malformed", "an F2 floor priced per piece has 'pieces', not 'multipliers'")
            B = combine([(1.0, _pieces(inst, X, cert, G, h, linear, linear_mag, 1.0, spec.floor))], const)
        else:
            fail("malformed", "this scalarisation's bound needs 'multipliers' (uniform alpha, or no F2) or 'pieces' (general alpha)")
        # The scalarised value at the allocation.
        if spec.chebyshev is not None:
            v = chebyshev_value(inst, X, spec, W)
        elif spec.kappa > 0 and spec.floor is None:
            psi = log_coupling_estimate(D)
            v = combine([(1.0, lin_est), (spec.kappa, psi)])
        else:
            v = lin_est
        if spec.floor is not None:
            threshold = spec.floor * (1 - 1e-9)
            floor_refined = lambda: (lambda i: None if i is None else (True if i[0] >= Fraction(threshold) else False if i[1] < Fraction(threshold) else None))(_interval(D))  # noqa: E731
            if not ex.decide_le(threshold, 0.0, D.value, D.error, lambda: (ex.dec(threshold), _dec_of(D.exact())), floor_refined):
                shown = figure(lambda: _interval(D), D.exact, lambda: D.value)
                fail("infeasible", f"F2 = {shown!r} is below the scalarisation's limit {spec.floor!r}")
        agree(_claimed(cert.get("scalarised_value"), "scalarised_value"), v, (v, B), "scalarised_value")
        limit = GAP_LIMIT[("F2-uniform" if uniform else "F2-general") if f2_part else "F1"]
        sentence_extra = describe(spec)
    if not (math.isfinite(B.value) and math.isfinite(B.error)):
        fail("non_finite", "the bound these multipliers give is not a finite number")
    reported = -B.value if objective == "F3" else B.value
    claimed_bound = _claimed(cert["bound"], "bound")
    B_reported = combine([(-1.0, B)]) if objective == "F3" else B
    agree(claimed_bound, B_reported, (v,) if objective == "F2" else (v, B), "bound", "bound_mismatch")
    # A v2 scalarisation's gap is relative to its objective's own size, which no constant shifts (review
    # F-3); v1 certificates state the gap relative to max(|v|, |B|), which a constant inflates.
    # (A v1 certificate's claimed gap is checked as written, and its gap over the size must meet the limit too.)
    size = scalarised_size_estimate(inst, X, spec, W) if spec is not None else None
    if schema != SCHEMA_V1:  # v2 and v3
        _gap_checks(objective, _claimed(cert["gap"], "gap"), v, B, limit, size)
    else:
        _gap_checks(objective, _claimed(cert["gap"], "gap"), v, B, limit, also_size=size)
    reported, gap = claimed_bound, float(cert["gap"])
    proven = {
        "F1": "max F1 (economic benefit)",
        "F2": "max F2 (coupling coordination degree)",
        "F3": "min F3 (ecological footprint)",
    }.get(objective) or sentence_extra
    ids, volumes = (list(allocation), list(allocation.values())) if schema == SCHEMA_V1 else (inst.ids, W.tolist())
    return Verified(objective, claimed_hash, tuple(ids), volumes, values, reported, gap, proven,
                    None if spec is None else cert["scalarisation"])


def objective_size_estimate(inst: Instance, X: Exact, name: str, W: np.ndarray) -> Estimate:
    """m_k(W) = Σ_j |coef_kj W_j| of F1, F3 or T (T's constant α·u0 left out; models.certificate.objective_size)."""
    _, coef_mag, _ = _objective_parts(inst, name)
    terms = coef_mag * np.abs(W)
    mag = float(terms.sum())
    # Each coefficient carries at most K + R + 4 roundings (the fixed-order rows, α·g), the sum n + 1 more.
    err = ex.summation_error(inst.n + len(inst.indicators) + len(inst.resources) + 8, mag)

    def exact():
        coef, _ = linear_objective_exact(X, name)
        return sum((abs(c) * abs(Fraction(w)) for c, w in zip(coef, W.tolist())), Fraction(0))

    est = Estimate(mag, err, mag, exact)
    return Estimate(mag, err, mag, est.exact, _point(est.exact))  # one exact computation serves both


def scalarised_size_estimate(inst: Instance, X: Exact, spec: Spec, W: np.ndarray) -> Estimate:
    """The size of the scalarised objective at W, the denominator of a v2 scalarisation's gap
    (models.certificate.scalarised_size): Σ_k w_k m_k + 2κ (κ weighing ψ), or, Chebyshev,
    max_k s_k m_k + ρ Σ_k s_k m_k.  No constant and no level of ψ enters it (review F-3)."""
    if spec.chebyshev is not None:
        cheb = spec.chebyshev
        sized = [combine([(cheb["scale"][k], objective_size_estimate(inst, X, k, W))]) for k in cheb["reference"]]
        return combine([(1.0, _max_estimate(sized)), (cheb["rho"], combine([(1.0, e) for e in sized]))])
    parts = [(w, objective_size_estimate(inst, X, k, W)) for k, w in spec.weights.items() if w]
    return combine(parts, 2.0 * spec.kappa if spec.kappa > 0 and spec.floor is None else 0.0)


def log_coupling_estimate(D: Estimate) -> Estimate:
    """ψ = log(C·T) = 2 log D."""
    v = 2 * _ln(D.value)

    def exact():
        with ex.decimal_context():
            return 2 * _dec_of(D.exact()).ln()

    def refine():
        i = _interval(D)
        if i is None or not i[0] > 0:
            return None
        lo, hi = (2 * _dec_fn(Decimal.ln, x) for x in i)
        pad = REFINE_SLACK * (max(abs(lo), abs(hi)) + 1)
        return lo - pad, hi + pad

    return Estimate(v, 2 * (D.error / D.value) * 1.01 + ex.LIBM_RELATIVE * abs(v) + 4 * ex.UNIT * abs(v), abs(v), exact, refine)


def chebyshev_value(inst: Instance, X: Exact, spec: Spec, W: np.ndarray) -> Estimate:
    """−max_k s_k (z_k − f_k(W)) + ρ Σ_k s_k f_k(W), the augmented Chebyshev value (max sense)."""
    cheb = spec.chebyshev
    fs = {}
    for name in cheb["reference"]:
        coef, coef_mag, const = _objective_parts(inst, name)
        est = linear_value(coef, const, W, exact_coef=(lambda name=name: linear_objective_exact(X, name)[0]))
        fs[name] = Estimate(est.value, est.error + ex.SAFETY * 16 * ex.UNIT * float((coef_mag * np.abs(W)).sum()), est.magnitude,
                            (lambda est=est, name=name: sum((a * Fraction(w) for a, w in zip(linear_objective_exact(X, name)[0], W.tolist())), Fraction(0)) + linear_objective_exact(X, name)[1]))
    shortfalls = [combine([(-cheb["scale"][k], fs[k])], cheb["scale"][k] * cheb["reference"][k]) for k in cheb["reference"]]
    worst = max(shortfalls, key=lambda e: e.value)
    aug = combine([(cheb["rho"] * cheb["scale"][k], fs[k]) for k in cheb["reference"]])
    value = -worst.value + aug.value
    error = max(s.error for s in shortfalls) + aug.error + ex.SAFETY * ex.UNIT * (abs(worst.value) + abs(aug.value)) * 4

    def exact():
        # The shortfall constants s_k z_k are products of doubles: exact in Fractions.
        worst_x = max(Fraction(cheb["scale"][k]) * (Fraction(cheb["reference"][k]) - fs[k].exact()) for k in cheb["reference"])
        aug_x = sum((Fraction(cheb["rho"]) * Fraction(cheb["scale"][k]) * fs[k].exact() for k in cheb["reference"]), Fraction(0))
        return -worst_x + aug_x

    return Estimate(value, error, abs(worst.magnitude) + aug.magnitude, exact)


def describe(spec: Spec) -> str:
    """What a scalarised certificate proves, in words: the objective, its weights, limits and order."""
    if spec.chebyshev is not None:
        cheb = spec.chebyshev
        # Numbers are printed exactly (repr: the shortest text that reads back as the same double), so two
        # different scalarisations never print the same verdict (review F-5).
        ref = ", ".join(f"{k} {cheb['reference'][k]!r}" for k in cheb["reference"])
        scl = ", ".join(f"{k} {cheb['scale'][k]!r}" for k in cheb["reference"])
        what = f"augmented Chebyshev: min max_k s_k (z_k − f_k) − ρ Σ s_k f_k with reference z = ({ref}), scales s = ({scl}), ρ = {cheb['rho']!r}"
    else:
        terms = [f"{w!r}·{'(−F3)' if k == 'F3' else k}" for k, w in spec.weights.items() if w]
        if spec.kappa > 0 and spec.floor is None:  # with an F2 floor, κ is the floor's multiplier, not a weight
            terms.append(f"{spec.kappa!r}·log F2²")
        # A lexicographic certificate proves its last stage only: the earlier stages' optima are limits it
        # takes as given, so the verdict names an ε-constraint problem, never "lexicographic" (review F-4).
        method = "ε-constraint" if spec.method in ("epsilon", "lexicographic") else spec.method
        what = f"{method}: max {' + '.join(terms) or '0'}"
    limits = [f"{k} >= {v!r}" if k != "F3" else f"F3 <= {-v!r}" for k, v in spec.constraints]
    if spec.floor is not None:
        limits.append(f"F2 >= {spec.floor!r}")
    out = what + (f" subject to {', '.join(limits)}" if limits else "")
    if spec.method == "lexicographic":
        out += " (the limits as given: that they are the earlier lexicographic stages' optima is not proven by this certificate)"
    return out


def check_solve_output(document: dict, cert: dict, verified: Verified | None = None) -> None:
    """A solve's output (SPEC §6) around a verified certificate: its top-level allocation, values, bound
    and gap must be exactly the certificate's, or the output is refused (``output_mismatch``).  A v2
    certificate's allocation is an array: the output's {id: volume} is compared with `verified.allocation`."""
    for key in ("allocation", "values", "bound", "gap"):
        if key not in document:
            continue
        if key == "allocation" and isinstance(cert.get(key), list) and verified is not None:
            # {id: W} equal to the proven one, in its order: the same keys in order and the same volumes (two list
            # comparisons; building the dict and comparing it cost ~40 ms at n = 100,000).
            given = document[key]
            differs = not isinstance(given, dict) or tuple(given) != verified.ids or list(given.values()) != verified.volumes
        else:
            ours = cert[key]
            differs = document[key] != ours or (key == "allocation" and isinstance(ours, dict) and list(document[key]) != list(ours))
        if differs:
            fail("output_mismatch", f"the output's top-level {key!r} differs from its certificate's: only the certificate's is proven")
    # The top-level objective (a scalarisation's method) and status describe the certificate: an F1
    # certificate inside an output that says "objective": "F2" would lend F1's proof to an F2 claim.
    named = cert["scalarisation"].get("method") if cert.get("objective") == "scalarised" and isinstance(cert.get("scalarisation"), dict) else cert.get("objective")
    if "objective" in document and document["objective"] != named:
        fail("output_mismatch", f"the output's top-level objective {document['objective']!r} is not its certificate's ({named!r}): only the certificate's is proven")
    if "status" in document and document["status"] != "optimal":
        fail("output_mismatch", f"the output's status is {document['status']!r}, but it holds a certificate that proves an optimum")
    if "problem_text" in document:
        # The output names its problem beside the certificate: it must be the problem the certificate proves (R-4).
        text = document["problem_text"]
        try:
            same = isinstance(text, str) and problem_hash(text) == cert.get("problem_hash")
        except UnicodeEncodeError:
            same = False
        if not same:
            fail("hash_mismatch", "the output's 'problem_text' is not the problem its certificate is for: the certificate proves nothing about it")
    missing = [key for key in ("allocation", "values") if key not in document]
    if missing:
        fail("output_mismatch", f"the output holds a certificate but no top-level {', '.join(missing)}")


# --- front documents -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrontPointVerdict:
    """One point of a front: its index, and what its certificate proves (`verified`), why it does not
    (`error`), or neither when the point carries no certificate."""

    index: int
    verified: Verified | None = None
    error: CertificateError | None = None


def front_problem(front: dict, problem=None):
    """The problem a front document is of, proven once: its own `problem_text` (the canonical text, written
    once at the top), or `problem` given beside it (its canonical text or a `ProvenProblem`), which must then be
    the front's.  The text must hash to the front's `problem_hash` and to every certified point's
    (``hash_mismatch``); ``problem_missing`` when there is none."""
    if not isinstance(front, dict) or not isinstance(front.get("points"), list):
        fail("malformed", "not a front: a front document holds a list 'points' (coopchain front PROBLEM writes one)")
    named = {front["problem_hash"]} if isinstance(front.get("problem_hash"), str) else set()
    for point in front["points"]:
        cert = point.get("certificate") if isinstance(point, dict) else None
        if isinstance(cert, dict) and isinstance(cert.get("problem_hash"), str):
            named.add(cert["problem_hash"])
    own = front.get("problem_text")
    if own is not None and not isinstance(own, str):
        fail("malformed", "the front's 'problem_text' must be the canonical problem text, a string")
    if problem is not None and not isinstance(problem, str) and not (isinstance(problem, ProvenProblem) and not problem.form):
        fail("malformed", "a front's certificates name its problem's canonical text: give the text or the document, not its columns form")
    if problem is None:
        problem = own
    elif own is not None and not (problem == own if isinstance(problem, str) else problem_hash_of(own) == problem.digest):
        fail("hash_mismatch", "the problem given is not the front's own 'problem_text': the front is of another problem")
    if problem is None:
        fail("problem_missing", "the front carries no 'problem_text' (fronts written before it did): give the problem with --problem FILE")
    digest = problem.digest if isinstance(problem, ProvenProblem) else problem_hash_of(problem)
    if len(named) > 1 or (named and digest not in named):
        fail("hash_mismatch", f"the front's problem text has SHA-256 {digest}, but its points (or 'problem_hash') name "
                              f"{', '.join(sorted(named))}: it is not the problem they are for")
    return problem if isinstance(problem, ProvenProblem) else proven_problem(digest, problem)


def problem_hash_of(text) -> str:
    if not isinstance(text, str):
        fail("malformed", "the problem must be its canonical text")
    try:
        return problem_hash(text)
    except UnicodeEncodeError:
        fail("not_canonical", "the problem holds a lone UTF-16 surrogate, which has no UTF-8 form")


def verify_front(front: dict, problem=None, point: int | None = None) -> list[FrontPointVerdict]:
    """Check a front document (SPEC §6 `coopchain front`): its problem (`front_problem`), then each point's
    certificate (or only point `point`) against that problem, and each point's own allocation and values
    against its certificate's (``output_mismatch``).  A point without a certificate is reported as such:
    nothing proves it optimal.  CertificateError for the front as a whole (its problem, a bad index)."""
    handle = front_problem(front, problem)
    points = front["points"]
    if point is not None and not 0 <= point < len(points):
        fail("malformed", f"the front has points 0 .. {len(points) - 1}; there is no point {point}")
    out = []
    for index in range(len(points)) if point is None else (point,):
        item = points[index]
        cert = item.get("certificate") if isinstance(item, dict) else None
        if cert is None:
            out.append(FrontPointVerdict(index))
            continue
        try:
            from coopchain.models.certificate import verify_certificate  # its exception net: a verdict or a code

            verified = verify_certificate(cert, handle)
            check_solve_output(item, cert, verified)  # the point's allocation and values are its certificate's
            out.append(FrontPointVerdict(index, verified))
        except CertificateError as e:
            out.append(FrontPointVerdict(index, error=e))
    return out
