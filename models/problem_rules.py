"""The numeric rules of a problem document (SPEC §1, §6), written once.

``models.problem``'s pydantic model checks a document's structure and then calls
`meaning_issues` here for what the numbers mean; the certificate verifier
(`models.certificate`) reads an embedded canonical problem into the same
`Columns` and calls the same function, so a document the service refuses can
never be certified.  This module imports numpy and the standard library only.

Magnitudes are bounded (`MAX_MAGNITUDE`, `MIN_COOPERATIVE_CAP`) because the
model multiplies and sums the numbers: with every number at most 1e15 and every
cooperative cap (a divisor of F3) at least 1e-15, a product of the model's at
most four factors summed over ten million enterprises stays below 1e75, far
inside the range of a double (1.8e308).  Without the bound a document that is
otherwise valid (benefits of 1e306) overflows F1 to infinity, and an infinity
passes every comparison a verifier makes.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

# Every number in a problem document is at most this in magnitude (see the module docstring), but for an
# enterprise's own cap R_j^r: it only lowers that enterprise's ceiling min(max_j, R_j^r / ρ_jr), which max_j bounds.
MAX_MAGNITUDE = 1e15
# A cooperative cap R_0^r divides F3's terms: at least this, so that ω_r ρ_jr W_j / R_0^r stays finite.
MIN_COOPERATIVE_CAP = 1e-15
# U_j = u0_j + g_j W_j may exceed 1 by this much at W = max before we refuse: a
# manager who sets u0 + g·max = 1 exactly in decimals can get 1 + 1 ulp in binary.
DEVELOPMENT_TOLERANCE = 1e-12
# Alpha within this of summing to 1 is kept as given; beyond it, it is rescaled.
ALPHA_SUM_TOLERANCE = 1e-9
# An enterprise's own box and the demand window are empty when lo − hi exceeds this × max(|hi|, |lo|).
BOX_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Issue:
    """One thing wrong with a problem document: where (a document path) and why."""

    path: str
    message: str


@dataclass(frozen=True, eq=False)
class Columns:
    """A problem's numbers as arrays, enterprises in document order (the input of `meaning_issues`).

    ``cap`` is inf where an enterprise has no cap; ``alpha`` is NaN where it is not
    given; ``broken`` marks enterprises whose benefit/use/cap names do not match the
    problem's indicators and resources (their numbers are left out of the sums).
    """

    ids: tuple[str, ...]
    indicators: tuple[str, ...]
    resources: tuple[str, ...]
    weights: np.ndarray  # a_k (K,)
    resource_cap: np.ndarray  # R_0^r (R,)
    resource_weight: np.ndarray  # ω_r (R,)
    demand_min: float
    demand_max: float
    volume_min: np.ndarray  # (n,)
    volume_max: np.ndarray
    u0: np.ndarray
    g: np.ndarray
    reservation: np.ndarray
    alpha: np.ndarray
    benefit: np.ndarray  # (n, K)
    use: np.ndarray  # (n, R)
    cap: np.ndarray  # (n, R)
    broken: np.ndarray  # (n,) bool


# --- words -----------------------------------------------------------------------------


def fmt(x: float) -> str:
    """A computed number for a sentence: 6 significant digits, no exponent in the usual range."""
    s = f"{x:.6g}"
    if "e" in s and 1e-4 <= abs(float(s)) < 1e16:
        s = f"{float(s):f}".rstrip("0").rstrip(".")
    return s


def given(x: float) -> str:
    """A number from the validated document, exactly, without a trailing ".0"."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def show(value: Any) -> str:
    """A value the user gave, as they would recognise it in their document."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, dict):
        return "an object {...}"
    if isinstance(value, list):
        return "a list [...]"
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- the rules ---------------------------------------------------------------------------


def magnitude_issues(c: Columns) -> list[Issue]:
    """Numbers beyond `MAX_MAGNITUDE`, and cooperative caps below `MIN_COOPERATIVE_CAP` (see the module docstring)."""
    out: list[Issue] = []
    limit = given(MAX_MAGNITUDE)
    why = f"is {{}}, beyond the largest magnitude accepted ({limit}); sums of such numbers over the enterprises could overflow: use a larger unit"

    def scan(values: np.ndarray, path) -> None:
        with np.errstate(invalid="ignore"):
            big = np.abs(values) > MAX_MAGNITUDE
        for index in zip(*np.nonzero(big)):
            out.append(Issue(path(*index), why.format(given(values[index]))))

    scan(c.weights, lambda k: f"indicators.{c.indicators[k]}")
    scan(c.resource_cap, lambda r: f"resources.{c.resources[r]}.cap")
    scan(c.resource_weight, lambda r: f"resources.{c.resources[r]}.weight")
    scan(np.array([c.demand_min]), lambda _: "demand.min")
    scan(np.array([c.demand_max]), lambda _: "demand.max")
    for name, column in (("min", c.volume_min), ("max", c.volume_max), ("u0", c.u0), ("g", c.g), ("reservation", c.reservation), ("alpha", c.alpha)):
        scan(column, lambda j, name=name: f"enterprises[{j}].{name}")
    scan(c.benefit, lambda j, k: f"enterprises[{j}].benefit.{c.indicators[k]}")
    scan(c.use, lambda j, r: f"enterprises[{j}].use.{c.resources[r]}")
    for r in np.flatnonzero((c.resource_cap > 0) & (c.resource_cap < MIN_COOPERATIVE_CAP)):
        out.append(Issue(f"resources.{c.resources[r]}.cap", f"is {given(c.resource_cap[r])}, below the smallest cooperative cap accepted ({given(MIN_COOPERATIVE_CAP)}); F3 divides by it: use a smaller unit"))
    return out


def id_issues(ids: Iterable[str]) -> list[Issue]:
    """Each enterprise id at most once."""
    out: list[Issue] = []
    ids = tuple(ids)
    if len(set(ids)) == len(ids):
        return out  # the usual case, in C; the loop below names each repeat
    first_seen: dict[str, int] = {}
    for j, eid in enumerate(ids):
        first = first_seen.setdefault(eid, j)
        if first != j:
            out.append(Issue(f"enterprises[{j}].id", f"the id {show(eid)} is used twice, by enterprises[{first}] and enterprises[{j}]; ids must be unique"))
    return out


def meaning_issues(c: Columns) -> tuple[list[Issue], list[float] | None, list[str]]:
    """The meaning checks of SPEC §1/§6 on numbers whose structure and signs are sound.

    Returns the issues, the rescaled alpha (None when alpha stays as given) and the notices.
    """
    with np.errstate(all="ignore"):  # overflowing numbers are reported by magnitude_issues, not raised
        return _meaning(c)


def _meaning(c: Columns) -> tuple[list[Issue], list[float] | None, list[str]]:
    issues = magnitude_issues(c)
    if issues:
        # The document is refused already; the checks below sum over enterprises, and math.fsum raises
        # OverflowError when numbers near 1.8e308 add past it (review R-1: a traceback, a contract fault).
        return issues, None, []
    n = len(c.ids)
    broken = c.broken
    lo_vol, hi_vol, u0, g, reservation = c.volume_min, c.volume_max, c.u0, c.g, c.reservation

    inverted = lo_vol > hi_vol
    for j in np.flatnonzero(inverted):
        issues.append(Issue(f"enterprises[{j}].max", f"must be at least min (got max = {given(hi_vol[j])}, min = {given(lo_vol[j])})"))

    # U is linear and non-decreasing in W (g >= 0): its extremes are at min and max.
    u_low, u_high = u0 + g * lo_vol, u0 + g * hi_vol
    # Each message says it twice: in a manager's words (which enterprise, at what volume, what to
    # change), then in the formula.
    for j in np.flatnonzero(u_low <= 0):
        issues.append(Issue(f"enterprises[{j}].u0", (
            f"enterprise {show(c.ids[j])} would have a development level of {fmt(u_low[j])} at its minimum volume of "
            f"{given(lo_vol[j])}, but a level must be above 0: raise u0 above {fmt(-g[j] * lo_vol[j])} "
            f"(U = u0 + g·W is {fmt(u_low[j])} at W = min = {given(lo_vol[j])}; development levels must stay in (0, 1])")))
    for j in np.flatnonzero(u_high > 1 + DEVELOPMENT_TOLERANCE):
        field = "g" if g[j] > 0 and u0[j] <= 1 else "u0"
        remedy = (f"lower its maximum to {fmt((1 - u0[j]) / g[j])}, or lower u0 or g" if field == "g"
                  else f"its starting level u0 = {given(u0[j])} is already above 1")
        issues.append(Issue(f"enterprises[{j}].{field}", (
            f"enterprise {show(c.ids[j])} would reach a development level of {fmt(u_high[j])} at its maximum volume of "
            f"{given(hi_vol[j])}, above 1 (fully developed): {remedy} "
            f"(U = u0 + g·W reaches {fmt(u_high[j])} at W = max = {given(hi_vol[j])}; development levels must stay in (0, 1])")))

    # Effective bounds: the reservation c_j W_j >= π_j raises the floor, own caps lower the ceiling.
    # Σ_k a_k e_jk term by term in a fixed order (a BLAS product may round differently on another machine).
    unit = np.zeros(n)
    for k in range(c.benefit.shape[1]):
        unit = unit + c.benefit[:, k] * c.weights[k]
    unmeetable = (reservation > 0) & (unit == 0) & ~broken
    for j in np.flatnonzero(unmeetable):
        issues.append(Issue(f"enterprises[{j}].reservation", f"a reservation of {given(reservation[j])} can never be met: this enterprise's weighted benefit per unit of volume (Σ a_k·e_jk) is 0"))
    floor = np.where(unit > 0, reservation / unit, 0.0)
    ceilings = np.where(c.use > 0, c.cap / c.use, math.inf)
    lo = np.maximum(lo_vol, floor)
    R = c.use.shape[1]
    binding = ceilings.argmin(axis=1) if R else np.zeros(n, dtype=int)
    ceiling = ceilings[np.arange(n), binding] if R else np.full(n, math.inf)
    hi = np.minimum(hi_vol, ceiling)
    empty = (lo - hi > BOX_TOLERANCE * np.maximum(1.0, np.abs(hi))) & ~inverted & ~broken & ~unmeetable
    for j in np.flatnonzero(empty):
        issues.append(_empty_box_issue(c, j, lo[j], hi[j], floor[j] > lo_vol[j], ceiling[j] < hi_vol[j], unit[j], binding[j]))

    # The demand window against what the bounds alone allow (only when every enterprise's own
    # bounds are sound: otherwise their sums mean nothing).
    if c.demand_min > c.demand_max:
        issues.append(Issue("demand.max", f"must be at least demand.min (got max = {given(c.demand_max)}, min = {given(c.demand_min)})"))
    elif not (broken | inverted | unmeetable | empty).any():
        # math.fsum: correctly rounded, so the verdict is the same on every machine.
        upper, lower = math.fsum(hi.tolist()), math.fsum(lo.tolist())
        if c.demand_min - upper > BOX_TOLERANCE * max(1.0, c.demand_min):
            issues.append(Issue("demand.min", f"The demand minimum of {given(c.demand_min)} cannot be met: the enterprises' upper limits (their maximums, lowered by their own resource caps) sum to {fmt(upper)}"))
        if lower - c.demand_max > BOX_TOLERANCE * max(1.0, c.demand_max):
            issues.append(Issue("demand.max", f"The demand maximum of {given(c.demand_max)} cannot be kept: the enterprises' lower limits (their minimums, raised by their reservations) already sum to {fmt(lower)}"))

    alpha, notices = _alpha(c.alpha, issues)
    return issues, alpha, notices


def _empty_box_issue(c: Columns, j: int, lo: float, hi: float, by_reservation: bool, by_cap: bool, unit: float, r: int) -> Issue:
    """An enterprise whose own lower limit is above its own upper limit, both named."""
    resource = c.resources[r] if c.resources else ""
    if by_reservation:
        path = f"enterprises[{j}].reservation"
        low = f"its reservation of {given(c.reservation[j])} needs a volume of at least {fmt(lo)} (it earns {fmt(unit)} per unit)"
    else:
        path = f"enterprises[{j}].cap.{resource}"
        low = f"its minimum is {given(c.volume_min[j])}"
    if by_cap:
        high = f"its {resource} cap of {given(c.cap[j, r])} allows at most {fmt(hi)} (it uses {given(c.use[j, r])} per unit)"
    else:
        high = f"its maximum is {given(c.volume_max[j])}"
    return Issue(path, f"enterprise {show(c.ids[j])} has no possible volume: {low}, but {high}")


def _alpha(alpha: np.ndarray, issues: list[Issue]) -> tuple[list[float] | None, list[str]]:
    """Alpha is given for every enterprise or for none; a positive sum other than 1 is rescaled."""
    missing = np.flatnonzero(np.isnan(alpha))
    n = len(alpha)
    if len(missing) == n:
        return None, []
    if len(missing):
        issues += [
            Issue(f"enterprises[{j}].alpha", f"is missing, but alpha is given for {n - len(missing)} of {n} enterprises; give it for every enterprise or for none (none means equal weights)")
            for j in missing
        ]
        return None, []
    given_alpha = alpha.tolist()
    total = math.fsum(given_alpha)
    if total == 0:
        issues.append(Issue("enterprises", "every alpha is 0; the coupling weights need at least one positive value (they are scaled to sum to 1)"))
        return None, []
    notices = [] if abs(total - 1.0) <= ALPHA_SUM_TOLERANCE else [f"alpha summed to {fmt(total)}; scaled to sum to 1"]
    if alpha.min() == alpha.max():  # exact, as on the list (no NaN is left here), without a Python step per number
        # Equal weights mean uniform: exactly 1/n, as when alpha is left out (the same identity).
        return (None if given_alpha[0] == 1.0 / n else [1.0 / n] * n), notices
    return ([a / total for a in given_alpha] if notices else None), notices


# --- the canonical document, read and written with numpy alone ----------------------------
#
# The certificate verifier needs both directions: it reads an embedded canonical problem
# into `Columns` (refusing anything that is not the canonical shape), and proves that the
# text is canonical by writing the canonical text of those columns and comparing.  The
# writer is column by column, as models.problem's is (a generic RFC 8785 writer takes
# seconds at 100,000 enterprises); tests check the two writers agree.

SCHEMA = "coopchain/problem/v1"
# Indicators, resources: at most this many are read from a problem text (a certificate verifier's bound;
# both readers check it on the head, before the per-enterprise work, whose cost grows with it).
MAX_NAMES = 256
_TOP = ("cooperative", "demand", "enterprises", "indicators", "resources", "round", "schema")
_ENTERPRISE = frozenset(("alpha", "benefit", "cap", "g", "id", "max", "min", "reservation", "u0", "use"))


class ShapeError(ValueError):
    """An embedded problem is not a canonical problem document; ``path`` says where."""

    def __init__(self, path: str, message: str):
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


@dataclass(frozen=True, eq=False)
class CanonicalProblem:
    """A canonical problem document read into columns, with what the columns leave out."""

    cooperative: str
    round: str
    names: tuple  # each enterprise's name, or None
    columns: Columns


def _text(x, path: str) -> str:
    if not isinstance(x, str) or not x:
        raise ShapeError(path, "must be non-empty text")
    return x


def _column(values: list, path) -> np.ndarray:
    """Numbers as a float array; a non-number (text, true/false, null, object) is refused with its path."""
    if not set(map(type, values)) <= {int, float}:  # true/false are not numbers here (bool is not int's type)
        bad = next(i for i, x in enumerate(values) if type(x) not in (int, float))
        raise ShapeError(path(bad), f"must be a number (got {show(values[bad])})")
    try:
        out = np.array(values, dtype=float)
    except OverflowError:
        out = np.array([float(x) if abs(x) < 2**1000 else math.inf for x in values])
    finite = np.isfinite(out)
    if not finite.all():
        i = int(np.argmin(finite))
        raise ShapeError(path(i), "must be a finite number")
    return out


def _signs(a: np.ndarray, path, positive: bool = False) -> None:
    broken = a <= 0 if positive else a < 0
    if broken.any():
        i = int(np.argmax(broken))
        raise ShapeError(path(i), f"must be {'positive' if positive else 'non-negative'} (got {given(a.flat[i])})")


@dataclass(frozen=True, eq=False)
class Head:
    """Everything of a canonical problem document but its enterprises."""

    cooperative: str
    round: str
    indicators: tuple[str, ...]
    resources: tuple[str, ...]
    weights: np.ndarray
    resource_cap: np.ndarray
    resource_weight: np.ndarray
    demand: np.ndarray  # [min, max]


def read_head(doc) -> Head:
    """The fields of a canonical problem document around its enterprises, or ShapeError (`read_canonical`'s first half)."""
    if not isinstance(doc, dict) or sorted(doc) != list(_TOP):
        raise ShapeError("", f"a canonical problem document has exactly the fields {', '.join(_TOP)}")
    if doc["schema"] != SCHEMA:
        raise ShapeError("schema", f"must be {json.dumps(SCHEMA)}")
    cooperative, round_ = _text(doc["cooperative"], "cooperative"), _text(doc["round"], "round")
    ind, res, demand, ents = doc["indicators"], doc["resources"], doc["demand"], doc["enterprises"]
    if not isinstance(ind, dict) or not ind:
        raise ShapeError("indicators", "must name at least one indicator")
    if not isinstance(res, dict):
        raise ShapeError("resources", "must be an object of resources")
    if not isinstance(demand, dict) or sorted(demand) != ["max", "min"]:
        raise ShapeError("demand", "must be {min, max}")
    if not isinstance(ents, list) or not ents:
        raise ShapeError("enterprises", "must list at least one enterprise")
    indicators, resources = tuple(ind), tuple(res)
    for k in indicators + resources:
        _text(k, "indicators" if k in ind else "resources")
    for r in resources:
        if not isinstance(res[r], dict) or sorted(res[r]) != ["cap", "weight"]:
            raise ShapeError(f"resources.{r}", "must be {cap, weight}")
    weights = _column([ind[k] for k in indicators], lambda i: f"indicators.{indicators[i]}")
    resource_cap = _column([res[r]["cap"] for r in resources], lambda i: f"resources.{resources[i]}.cap")
    resource_weight = _column([res[r]["weight"] for r in resources], lambda i: f"resources.{resources[i]}.weight")
    dem = _column([demand["min"], demand["max"]], lambda i: "demand." + ("min", "max")[i])
    _signs(weights, lambda i: f"indicators.{indicators[i]}")
    _signs(resource_cap, lambda i: f"resources.{resources[i]}.cap", positive=True)
    _signs(resource_weight, lambda i: f"resources.{resources[i]}.weight")
    _signs(dem, lambda i: "demand." + ("min", "max")[i])
    return Head(cooperative, round_, indicators, resources, weights, resource_cap, resource_weight, dem)


def read_canonical(doc) -> CanonicalProblem:
    """The columns of a canonical problem document (every default written out), or ShapeError.

    The structural rules of models.problem's model, for documents in canonical form:
    every field present, the types and signs the model requires, names that match.
    """
    head = read_head(doc)
    cooperative, round_, indicators, resources = head.cooperative, head.round, head.indicators, head.resources
    weights, resource_cap, resource_weight, dem = head.weights, head.resource_cap, head.resource_weight, head.demand
    ents = doc["enterprises"]
    n = len(ents)
    known_resources = set(resources)
    for j, e in enumerate(ents):
        if not isinstance(e, dict) or not (e.keys() == _ENTERPRISE or (e.keys() - {"name"} == _ENTERPRISE and isinstance(e["name"], str))):
            raise ShapeError(f"enterprises[{j}]", f"a canonical enterprise has exactly the fields {', '.join(sorted(_ENTERPRISE))} (and an optional name)")
        if not isinstance(e["id"], str) or not e["id"]:
            raise ShapeError(f"enterprises[{j}].id", "must be non-empty text")
        for group, known in (("benefit", indicators), ("use", resources)):
            if not isinstance(e[group], dict) or tuple(e[group]) != known:
                raise ShapeError(f"enterprises[{j}].{group}", f"must give a number for exactly {', '.join(known) or 'no names'}, in canonical order")
        if not isinstance(e["cap"], dict) or not e["cap"].keys() <= known_resources:
            raise ShapeError(f"enterprises[{j}].cap", "must name resources of this problem only")

    def col(key: str, nonneg: bool = True) -> np.ndarray:
        a = _column([e[key] for e in ents], lambda j: f"enterprises[{j}].{key}")
        if nonneg:
            _signs(a, lambda j: f"enterprises[{j}].{key}")
        return a

    def table(group: str, names: tuple) -> np.ndarray:
        flat = [e[group][k] for e in ents for k in names]
        a = _column(flat, lambda i: f"enterprises[{i // max(len(names), 1)}].{group}.{names[i % max(len(names), 1)]}")
        _signs(a, lambda i: f"enterprises[{i // max(len(names), 1)}].{group}")
        return a.reshape(n, len(names))

    caps = [e["cap"] for e in ents]
    cap_values = [c[r] for c in caps for r in resources if r in c]
    cap_column = _column(cap_values, lambda i: "an enterprise's cap")
    _signs(cap_column, lambda i: "an enterprise's cap")
    cap = np.full((n, len(resources)), math.inf)
    if cap_values:
        mask = np.array([[r in c for r in resources] for c in caps]).reshape(n, len(resources))
        cap[mask] = cap_column
    columns = Columns(
        ids=tuple(e["id"] for e in ents), indicators=indicators, resources=resources,
        weights=weights, resource_cap=resource_cap, resource_weight=resource_weight,
        demand_min=float(dem[0]), demand_max=float(dem[1]),
        volume_min=col("min"), volume_max=col("max"), u0=col("u0", nonneg=False), g=col("g"),
        reservation=col("reservation"), alpha=col("alpha"),
        benefit=table("benefit", indicators), use=table("use", resources), cap=cap,
        broken=np.zeros(n, dtype=bool),
    )
    return CanonicalProblem(cooperative, round_, tuple(e.get("name") for e in ents), columns)


def _utf16(key: str) -> bytes:
    return key.encode("utf-16be", "surrogatepass")  # RFC 8785 §3.2.3 sorts keys by their UTF-16 code units


_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\]')


def _string(s: str) -> str:
    # RFC 8785 §3.2.2.2 escapes what json.dumps escapes; most text needs no escape at all.
    return f'"{s}"' if _NEEDS_ESCAPE.search(s) is None else json.dumps(s, ensure_ascii=False)


def es_numbers(values: np.ndarray) -> list[str]:
    """Many doubles in RFC 8785 form (§3.2.2.3), formatted in bulk by json.dumps (C).

    repr and ECMAScript's Number::toString pick the same shortest digits and differ
    only in where they switch to exponent form and in repr's trailing ".0"; forms
    with an exponent are rewritten one by one.  NaN marks an absent value.
    """
    from coopchain.models.strict_json import es_number

    xs = (np.asarray(values, dtype=float) + 0.0).tolist()  # -0.0 + 0.0 is 0.0, written "0"
    out = (json.dumps(xs)[1:-1] + ",").replace(".0,", ",").split(", ")
    out[-1] = out[-1][:-1]
    if "e" in "".join(out):
        known: dict[float, str] = {}
        for i, text in enumerate(out):
            if "e" in text:
                x = xs[i]
                out[i] = known.get(x) or known.setdefault(x, es_number(x))
    return out


def _brace(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def enterprise_template(ind: list[str], res: list[str], caps) -> str:
    """A str.format template of one canonical enterprise object, keys in RFC 8785 order.

    Its positional fields: alpha, benefit (K), cap (R, only those in ``caps`` used),
    g, id, max, min, name (a whole ``"name":...,`` member or empty), reservation,
    u0, use (R).  Both canonical writers (this leaf's and models.problem's) use it.
    """
    K, R = len(ind), len(res)
    benefit = ",".join(f"{_brace(_string(k))}:{{{1 + i}}}" for i, k in enumerate(ind))
    cap = ",".join(f"{_brace(_string(r))}:{{{1 + K + i}}}" for i, r in enumerate(res) if r in caps)
    use = ",".join(f"{_brace(_string(r))}:{{{8 + K + R + i}}}" for i, r in enumerate(res))
    at = 1 + K + R
    return (
        f'{{{{"alpha":{{0}},"benefit":{{{{{benefit}}}}},"cap":{{{{{cap}}}}},'
        f'"g":{{{at}}},"id":{{{at + 1}}},"max":{{{at + 2}}},"min":{{{at + 3}}},{{{at + 4}}}'
        f'"reservation":{{{at + 5}}},"u0":{{{at + 6}}},"use":{{{{{use}}}}}}}}}'
    )


def canonical_head(head: Head) -> tuple[str, str]:
    """The canonical text before the enterprises' objects ('{"cooperative":…,"enterprises":[') and after them
    ('],"indicators":…}'): top-level keys in RFC 8785 order (cooperative, demand, enterprises, indicators, …)."""
    ind, res = sorted(head.indicators, key=_utf16), sorted(head.resources, key=_utf16)
    ki = {k: i for i, k in enumerate(head.indicators)}
    ri = {r: i for i, r in enumerate(head.resources)}
    before = (
        f'{{"cooperative":{_string(head.cooperative)},'
        f'"demand":{{"max":{es_numbers([head.demand[1]])[0]},"min":{es_numbers([head.demand[0]])[0]}}},"enterprises":['
    )
    indicators = "{" + ",".join(f"{_string(k)}:{v}" for k, v in zip(ind, es_numbers([head.weights[ki[k]] for k in ind]))) + "}"
    resources = "{" + ",".join(
        f'{_string(r)}:{{"cap":{es_numbers([head.resource_cap[ri[r]]])[0]},"weight":{es_numbers([head.resource_weight[ri[r]]])[0]}}}' for r in res
    ) + "}"
    after = f'],"indicators":{indicators},"resources":{resources},"round":{_string(head.round)},"schema":{_string(SCHEMA)}}}'
    return before, after


def canonical_problem_text(p: CanonicalProblem) -> str:
    """The RFC 8785 text of a canonical problem, written from its columns (what models.problem.canonical_json writes)."""
    c = p.columns
    ind, res = sorted(c.indicators, key=_utf16), sorted(c.resources, key=_utf16)
    ki = {k: i for i, k in enumerate(c.indicators)}
    ri = {r: i for i, r in enumerate(c.resources)}
    before, after = canonical_head(Head(p.cooperative, p.round, c.indicators, c.resources, c.weights, c.resource_cap, c.resource_weight,
                                        np.array([c.demand_min, c.demand_max])))
    columns = [es_numbers(c.alpha)]
    columns += [es_numbers(c.benefit[:, ki[k]]) for k in ind]
    columns += [es_numbers(c.cap[:, ri[r]]) for r in res]
    columns += [
        es_numbers(c.g), [_string(i) for i in c.ids], es_numbers(c.volume_max), es_numbers(c.volume_min),
        ["" if name is None else f'"name":{_string(name)},' for name in p.names],
        es_numbers(c.reservation), es_numbers(c.u0),
    ]
    columns += [es_numbers(c.use[:, ri[r]]) for r in res]
    given_caps = ~np.isinf(c.cap)
    shapes = [tuple(r for r, has in zip(c.resources, row) if has) for row in given_caps.tolist()]
    templates = {shape: enterprise_template(ind, res, shape) for shape in set(shapes)}
    return before + ",".join([templates[s].format(*row) for s, row in zip(shapes, zip(*columns))]) + after
