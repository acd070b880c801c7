"""Why a problem has no feasible allocation, by name and in words (SPEC §1, §6 `conflicts`).

HiGHS finds an irreducible infeasible subsystem (IIS): a set of constraints that
cannot hold together although any proper subset can.  Its members are rows (the
cooperative caps and the demand window) and column bounds, each with the side
that takes part.  The array LP of models.formulation folds every per-enterprise
family (volume limits, reservation, enterprise caps) into one interval per W_j,
so a column bound is mapped back to the family that sets it: the family whose
implied bound on W_j is the tightest (`bound_setters`).

The lead sentence is derived from the members, not written per case: one member
leads (a cooperative cap, else the demand window, else an enterprise's lower
limit), a small LP over the other rows among them and the enterprises' intervals
gives the range they allow the lead's activity, and the sentence says that range
misses the lead's limit, then lists the members' bounds grouped by kind:
"The water cap of the cooperative (2,000) cannot be met: to meet the demand
minimum of 380 within the enterprises' limits, the cooperative's water use is at
least 2,312 (upper limits: e04 at most 133.3 by its energy cap, ...)".

HiGHS's IIS removes members one at a time and re-solves, about n LPs of n
columns: 0.03 s at n = 100, 1.2 s at 1,000, 12 s at 3,000 here.  Above
`IIS_COLUMN_LIMIT` columns the conflict is read off the data and the solve
instead (`farkas_members`): an enterprise whose own bounds cross, a row that the
intervals alone cannot satisfy (one pass of numpy), else HiGHS's Farkas ray: rows
with a non-zero ray entry and, per column, the bound its sign selects, checked to
prove infeasibility before it is used.  That set is irreducible whenever the ray
is an extreme ray (Gleeson & Ryan, ORSA J. Computing 2(1), 1990), which simplex
rays usually are.  At n = 100,000 an explanation with 39,000 to 100,000 conflicts
takes 1.3 to 1.8 s here, most of it writing their sentences.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import highspy
import numpy as np

from coopchain.models.certificate import Instance, once_per_object
from coopchain.models.formulation import Formulation, column_bounds, formulate, highs_lp, new_highs
from coopchain.models.solution import Conflict

# Largest LP (columns) for which HiGHS's own IIS is computed; see the module docstring.
IIS_COLUMN_LIMIT = 500
# HiGHS's dual simplex on these dense rows costs about n²; interior point stays linear.
_INTERIOR_POINT_FROM = 10_000
# How many limits of one kind a lead sentence lists before "and N more".
_LISTED = 4

_LOWER, _UPPER = "lower", "upper"
_IIS_SIDES = {
    int(highspy.IisBoundStatus.kIisBoundStatusLower): (_LOWER,),
    int(highspy.IisBoundStatus.kIisBoundStatusUpper): (_UPPER,),
    int(highspy.IisBoundStatus.kIisBoundStatusBoxed): (_LOWER, _UPPER),
}
# HiGHS's IisModelStatus (not exported by highspy 1.16): 3 = irreducible, 2 = reducible.
_IIS_IRREDUCIBLE = 3


@dataclass(frozen=True)
class Member:
    """One side of one constraint taking part in a conflict: a coupling row, or a bound of W_j set by a family."""

    side: str  # "lower" or "upper"
    row: int | None = None  # index in Formulation.rows
    column: int | None = None  # enterprise index, for a bound
    family: int | None = None  # index in Formulation.limits that sets that bound


# --- which family sets each column bound ---------------------------------------------------


def implied_bounds(form: Formulation) -> tuple[np.ndarray, np.ndarray]:
    """Per family and enterprise, the bounds on W_j it implies alone: two (families, n) arrays.

    The same arithmetic as `formulation.column_bounds`, kept per family instead of
    folded: column_bounds(form) == (lower.max(axis=0), upper.min(axis=0)).
    """
    lower, upper = [], []
    for fam in form.limits:
        positive = fam.coef > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            lower.append(np.where(positive, fam.lower / fam.coef, np.where(fam.lower > 0, np.inf, -np.inf)))
            upper.append(np.where(positive, fam.upper / fam.coef, np.where(fam.upper < 0, -np.inf, np.inf)))
    return np.array(lower).reshape(len(form.limits), len(form.ids)), np.array(upper).reshape(len(form.limits), len(form.ids))


_implied = once_per_object(implied_bounds)


def bound_setters(form: Formulation) -> tuple[np.ndarray, np.ndarray]:
    """For each W_j, the index of the family that sets its lower bound and of the one that sets its upper bound.

    The tightest implied bound wins (argmax of the lower ones, argmin of the upper
    ones; on a tie the family listed first).  A bound no family sets (±inf) gets -1.
    """
    lower, upper = _implied(form)
    lo_family, hi_family = lower.argmax(axis=0), upper.argmin(axis=0)
    columns = np.arange(len(form.ids))
    lo_family[~np.isfinite(lower[lo_family, columns])] = -1
    hi_family[~np.isfinite(upper[hi_family, columns])] = -1
    return lo_family, hi_family


# --- numbers and names in sentences ------------------------------------------------------------


def readable(x: float, digits: int = 4) -> str:
    """A number for a manager: `digits` significant digits, thousands separated, no exponent."""
    if not math.isfinite(x):
        return "unlimited" if x > 0 else "minus unlimited"
    text = format(x, f",.{digits}g")  # the usual case; 'g' turns to an exponent past `digits` or below 1e-4
    if "e" not in text:
        return text
    rounded = float(f"{x:.{digits}g}")
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(rounded))))
    text = f"{rounded:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def given(x: float) -> str:
    """A number from the problem document: up to 8 significant digits, all that typed data carry."""
    return readable(x, 8)


def _apart(x: float, limit: float) -> str:
    """`x` with enough digits that it does not read as the limit it breaks."""
    for digits in range(4, 13):
        if readable(x, digits) != given(limit):
            break
    return readable(x, digits)


def split_name(name: str) -> tuple[str, str | None]:
    """``enterprise_cap[water]`` -> ("enterprise_cap", "water"); ``demand`` -> ("demand", None)."""
    m = re.fullmatch(r"(\w+)\[(.*)\]", name)
    return (m.group(1), m.group(2)) if m else (name, None)


@once_per_object
def _two_sided(form: Formulation) -> tuple[list[bool], list[bool]]:
    """Per family and per row, whether it limits from both sides: only then a name says "(minimum)"/"(maximum)"."""

    def both(c) -> bool:
        return bool(np.isfinite(c.lower).any() and np.isfinite(c.upper).any())

    return [both(fam) for fam in form.limits], [both(row) for row in form.rows]


def constraint_name(form: Formulation, m: Member) -> str:
    """The member's name: "cooperative_cap[water]", "demand (minimum)", "e03: enterprise_cap[water]", "e07: volume (maximum)"."""
    side = " (minimum)" if m.side == _LOWER else " (maximum)"
    if m.row is not None:
        return form.rows[m.row].name + (side if _two_sided(form)[1][m.row] else "")
    return f"{form.ids[m.column]}: {form.limits[m.family].name}" + (side if _two_sided(form)[0][m.family] else "")


def _limit(form: Formulation, m: Member) -> float:
    """The member's own limit, in its own units (a cap, a reservation, a volume, a demand)."""
    if m.row is not None:
        row = form.rows[m.row]
        return row.lower if m.side == _LOWER else row.upper
    fam = form.limits[m.family]
    return float(fam.lower[m.column] if m.side == _LOWER else fam.upper[m.column])


def _bound(form: Formulation, m: Member) -> float:
    """The bound the member puts on its activity: on the row's value, or on W_j."""
    if m.row is not None:
        return _limit(form, m)
    lower, upper = _implied(form)
    return float(lower[m.family, m.column] if m.side == _LOWER else upper[m.family, m.column])


def _title(form: Formulation, m: Member) -> str:
    """The member as the subject of a sentence: "the demand minimum of 380", "e05's reservation of 1,500"."""
    limit = given(_limit(form, m))
    if m.row is not None:
        kind, arg = split_name(form.rows[m.row].name)
        if kind == "cooperative_cap":
            return f"the {arg} cap of the cooperative ({limit})"
        if kind == "demand":
            return f"the demand {'minimum' if m.side == _LOWER else 'maximum'} of {limit}"
        return f"the {'lower' if m.side == _LOWER else 'upper'} limit {limit} of {form.rows[m.row].name}"
    eid, bound = form.ids[m.column], readable(_bound(form, m))
    kind, arg = split_name(form.limits[m.family].name)
    at = "at least" if m.side == _LOWER else "at most"
    if kind == "volume":
        return f"{eid}'s {'minimum' if m.side == _LOWER else 'maximum'} volume of {limit}"
    if kind == "reservation":
        return f"{eid}'s reservation of {limit} (a volume of {at} {bound})"
    if kind == "enterprise_cap":
        return f"{eid}'s {arg} cap of {limit} (a volume of {at} {bound})"
    return f"{eid}'s {form.limits[m.family].name} limit of {limit} (a volume of {at} {bound})"


def _by(form: Formulation, m: Member) -> str:
    """What sets a column bound, after "by its": "maximum", "water cap", "reservation"."""
    kind, arg = split_name(form.limits[m.family].name)
    if kind == "volume":
        return "minimum" if m.side == _LOWER else "maximum"
    if kind == "enterprise_cap":
        return f"{arg} cap"
    return kind.replace("_", " ")


def _activity(form: Formulation, m: Member) -> str:
    """What the member limits: "the cooperative's water use", "the total volume", "e05's volume"."""
    if m.row is None:
        return f"{form.ids[m.column]}'s volume"
    kind, arg = split_name(form.rows[m.row].name)
    if kind == "cooperative_cap":
        return f"the cooperative's {arg} use"
    if kind == "demand":
        return "the total volume"
    return f"the value of {form.rows[m.row].name}"


def _capital(text: str) -> str:
    """Start a sentence: "the demand ..." -> "The demand ...", an enterprise id stays as written."""
    return "T" + text[1:] if text.startswith("the ") else text


def _statement(form: Formulation, m: Member) -> str:
    """One member on its own, for its Conflict: its title, then what it asks."""
    title = _capital(_title(form, m))
    limit = given(_limit(form, m))
    at = "at least" if m.side == _LOWER else "at most"
    if m.row is not None:
        return f"{title}: {_activity(form, m)} must be {at} {limit}."
    fam, j = form.limits[m.family], m.column
    kind, arg = split_name(fam.name)
    per_unit = given(float(fam.coef[j]))
    if kind == "volume":
        return f"{title}: it {'must' if m.side == _LOWER else 'may'} get {at} {limit}."
    if kind == "reservation":
        return f"{title}: it must earn at least {limit}, at {per_unit} per unit of volume."
    if kind == "enterprise_cap":
        return f"{title}: its {arg} use, {per_unit} per unit of volume, may not exceed {limit}."
    return f"{title}: {fam.description}."


# --- the members of a conflict -----------------------------------------------------------------


def _column_members(form: Formulation, columns, sides_of) -> list[Member]:
    lo_family, hi_family = bound_setters(form)
    out = []
    for j, sides in zip(columns, sides_of):
        for side in sides:
            family = int(lo_family[j] if side == _LOWER else hi_family[j])
            if family >= 0:
                out.append(Member(side, column=int(j), family=family))
    return out


def _single_row_members(form: Formulation, lo: np.ndarray, hi: np.ndarray) -> list[Member] | None:
    """A row that the enterprises' intervals alone cannot bring within its limits, with the bounds that stop it.

    HiGHS's presolve finds this kind at once but then computes its ray by a
    simplex solve without presolve: 23 s at n = 100,000 for a demand minimum above
    the sum of the maximums.  The arithmetic is one pass over the row.
    """
    for i, row in enumerate(form.rows):
        a = np.asarray(row.coef, dtype=float)
        with np.errstate(invalid="ignore"):  # 0 · inf where a column is unbounded
            most = float(np.where(a > 0, a * hi, np.where(a < 0, a * lo, 0.0)).sum())
            least = float(np.where(a > 0, a * lo, np.where(a < 0, a * hi, 0.0)).sum())
        if most < row.lower:
            bound = [(_UPPER,) if a[j] > 0 else (_LOWER,) for j in np.flatnonzero(a)]
            return [Member(_LOWER, row=i)] + _column_members(form, np.flatnonzero(a), bound)
        if least > row.upper:
            bound = [(_LOWER,) if a[j] > 0 else (_UPPER,) for j in np.flatnonzero(a)]
            return [Member(_UPPER, row=i)] + _column_members(form, np.flatnonzero(a), bound)
    return None


def iis_members(highs: highspy.Highs, form: Formulation) -> list[Member] | None:
    """HiGHS's irreducible infeasible subsystem after an infeasible run(), or None if it has none to give.

    Needs the option ``iis_strategy`` to include kIisStrategyIrreducible: the
    default (kIisStrategyLight) only looks at single rows and bounds, and on a
    conflict between rows returns a "valid" but empty IIS.
    """
    try:
        status, iis = highs.getIis()
    except (AttributeError, RuntimeError, TypeError, ValueError):  # a highspy without IIS, or a failing one
        return None
    if status != highspy.HighsStatus.kOk or not iis.valid_ or iis.status_ != _IIS_IRREDUCIBLE:
        return None
    rows = [Member(side, row=int(i)) for i, kind in zip(iis.row_index_, iis.row_bound_) for side in _IIS_SIDES.get(int(kind), ())]
    # Columns that take part only through their rows come back as kIisBoundStatusFree.
    columns = _column_members(form, iis.col_index_, [_IIS_SIDES.get(int(kind), ()) for kind in iis.col_bound_])
    return rows + columns or None


def farkas_members(highs: highspy.Highs, form: Formulation) -> list[Member] | None:
    """The conflict proved by HiGHS's dual ray y after an infeasible run(), or None without a ray.

    An enterprise whose own bounds cross, or a row whose minimum is above its
    maximum, is a conflict on its own and has no ray.  Otherwise y > 0 on a row's lower side, y < 0 on its upper side, and
    d = Aᵀy picks for each W_j the bound the proof uses: the upper one where
    d_j > 0, the lower one where d_j < 0, none where d_j = 0.
    """
    lo, hi = column_bounds(form)
    crossing = np.flatnonzero(lo > hi)
    if crossing.size:
        return _column_members(form, crossing[:1], [(_LOWER, _UPPER)])
    for i, row in enumerate(form.rows):
        if row.lower > row.upper:
            return [Member(_LOWER, row=i), Member(_UPPER, row=i)]
    single = _single_row_members(form, lo, hi)
    if single is not None:
        return single
    try:
        status, has_ray, y = highs.getDualRay()
    except (AttributeError, RuntimeError, TypeError, ValueError):
        return None
    if status != highspy.HighsStatus.kOk or not has_ray:
        return None
    y = np.asarray(y, dtype=float)
    A = np.vstack([row.coef for row in form.rows]).reshape(len(form.rows), len(form.ids))
    y[np.abs(y) <= 1e-9 * float(np.abs(y).max(initial=0.0))] = 0.0
    d = A.T @ y
    d[np.abs(d) <= 1e-9 * (np.abs(A.T) @ np.abs(y))] = 0.0
    # The proof: y·(row limits) > max of dᵀW over the bounds, i.e. Σ y_i·row_i = dᵀW cannot reach what the rows ask.
    with np.errstate(invalid="ignore"):
        asked = np.where(y > 0, y * [row.lower for row in form.rows], np.where(y < 0, y * [row.upper for row in form.rows], 0.0))
        reach = np.where(d > 0, d * hi, np.where(d < 0, d * lo, 0.0))
    if not asked.sum() > reach.sum():
        return None
    rows = [Member(_LOWER if y[i] > 0 else _UPPER, row=int(i)) for i in np.flatnonzero(y)]
    used = np.flatnonzero(d)
    columns = _column_members(form, used, [(_UPPER,) if d[j] > 0 else (_LOWER,) for j in used])
    return rows + columns or None


# --- the sentence ------------------------------------------------------------------------------------


def _lead(members: list[Member]) -> Member:
    """A cooperative cap or the demand window if one takes part (rows are in that order), else a lower limit."""
    rows = [m for m in members if m.row is not None]
    if rows:
        return min(rows, key=lambda m: (m.row, m.side))
    lowers = [m for m in members if m.side == _LOWER]
    return (lowers or members)[0]


def activity_range(form: Formulation, members: list[Member], lead: Member) -> float | None:
    """The extreme of the lead's activity that the other rows allow within the enterprises' limits.

    For an upper-side lead the least activity (above its limit when the members
    conflict), for a lower-side lead the largest: an LP over the other rows among
    the members and every enterprise's interval (its own, without the lead's side
    when the lead is a bound of it).  Every interval rather than only the members'
    bounds: the number is then what the data really allow ("meeting the demand
    takes at least 2,312 water"), whichever conflicting set HiGHS found.  When
    those rows and intervals conflict among themselves (the data hold a second
    conflict), the members' own bounds are used: without the lead they hold.
    None if HiGHS finds no optimum either way.
    """
    others = [m for m in members if m is not lead]
    col_lower, col_upper = column_bounds(form)
    if lead.column is not None:
        if lead.side == _LOWER:
            col_lower[lead.column] = -np.inf
        else:
            col_upper[lead.column] = np.inf
    extreme = _extreme(form, others, lead, col_lower, col_upper)
    if extreme is None:
        # Free unless a member bounds it: the members without the lead are feasible.
        col_lower, col_upper = np.full(len(form.ids), -np.inf), np.full(len(form.ids), np.inf)
        for m in others:
            if m.column is not None and m.side == _LOWER:
                col_lower[m.column] = max(col_lower[m.column], _bound(form, m))
            elif m.column is not None:
                col_upper[m.column] = min(col_upper[m.column], _bound(form, m))
        extreme = _extreme(form, others, lead, col_lower, col_upper)
    return extreme


def _extreme(form: Formulation, others: list[Member], lead: Member, col_lower: np.ndarray, col_upper: np.ndarray) -> float | None:
    """min (upper-side lead) or max (lower-side lead) of the lead's activity over the other rows and these bounds."""
    n = len(form.ids)
    row_sides = {(m.row, m.side) for m in others if m.row is not None}
    row_ids = sorted({row for row, _ in row_sides})
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, len(row_ids)
    if lead.row is not None:
        cost = np.asarray(form.rows[lead.row].coef, dtype=float)
    else:
        cost = np.zeros(n)
        cost[lead.column] = 1.0
    lp.col_cost_ = cost
    lp.col_lower_, lp.col_upper_ = col_lower, col_upper
    lp.row_lower_ = np.array([form.rows[i].lower if (i, _LOWER) in row_sides else -np.inf for i in row_ids])
    lp.row_upper_ = np.array([form.rows[i].upper if (i, _UPPER) in row_sides else np.inf for i in row_ids])
    lp.sense_ = highspy.ObjSense.kMinimize if lead.side == _UPPER else highspy.ObjSense.kMaximize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n, len(row_ids)
    lp.a_matrix_.start_ = np.arange(len(row_ids) + 1, dtype=np.int32) * n
    lp.a_matrix_.index_ = np.tile(np.arange(n, dtype=np.int32), len(row_ids))
    lp.a_matrix_.value_ = np.concatenate([np.asarray(form.rows[i].coef, dtype=float) for i in row_ids]) if row_ids else np.zeros(0)
    highs = new_highs()
    # HiGHS's presolve spends 2 s on this one dense row at n = 10,000 (0.02 s without);
    # dual simplex then needs 7 s at 100,000 for one iteration, interior point 0.25 s.
    highs.setOptionValue("presolve", "off")
    if n >= _INTERIOR_POINT_FROM:
        highs.setOptionValue("solver", "ipm")
    highs.passModel(lp)
    highs.run()
    if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return float(highs.getInfo().objective_function_value)


def _listing(form: Formulation, members: list[Member]) -> str:
    """Bounds in words: "e01 at most 120 by its maximum, e02 at most 160 by its water cap and 7 more"."""
    shown = [
        f"{form.ids[m.column]} {'at least' if m.side == _LOWER else 'at most'} {readable(_bound(form, m))} by its {_by(form, m)}"
        for m in members[:_LISTED]
    ]
    more = len(members) - len(shown)
    return ", ".join(shown) + (f" and {readable(more, 12)} more" if more else "")


def _joined(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _never_negative(form: Formulation, m: Member) -> bool:
    """A lower limit of 0 on a volume: true of every enterprise, never the thing to relax."""
    return m.column is not None and m.side == _LOWER and _bound(form, m) == 0


def lead_sentence(form: Formulation, members: list[Member], lead: Member) -> str:
    """What cannot be met and why, with the numbers: the lead against the range the others allow.

    Lower limits of 0 are left out of the listing (they still count in the range).
    """
    others = [m for m in members if m is not lead]
    rows = [_title(form, m) for m in sorted((m for m in others if m.row is not None), key=lambda m: (m.row, m.side))]
    uppers = [m for m in others if m.column is not None and m.side == _UPPER]
    lowers = [m for m in others if m.column is not None and m.side == _LOWER and not _never_negative(form, m)]
    limits = "its own limits" if lead.row is None else "the enterprises' limits"
    condition = f"to meet {_joined(rows)} within {limits}" if rows else f"within {limits}"
    lists = [f"upper limits: {_listing(form, uppers)}"] * bool(uppers) + [f"lower limits: {_listing(form, lowers)}"] * bool(lowers)
    detail = f" ({'; '.join(lists)})" if lists else ""
    title = _capital(_title(form, lead))
    extreme = activity_range(form, members, lead)
    if extreme is None:
        return f"{title} cannot be met {condition}{detail}."
    which = "at least" if lead.side == _UPPER else "at most"
    # A range that ends at another row's limit reads best as that limit, digit for digit.
    at_limit = any(math.isclose(extreme, _bound(form, m), rel_tol=1e-9) for m in others if m.row is not None)
    number = given(extreme) if at_limit else _apart(extreme, _bound(form, lead))
    return f"{title} cannot be met: {condition}, {_activity(form, lead)} is {which} {number}{detail}."


def conflicts_from(form: Formulation, members: list[Member]) -> tuple[Conflict, ...]:
    """One Conflict per member: the lead with the explaining sentence, then rows, then enterprise limits."""
    lead = _lead(members)
    rest = sorted((m for m in members if m is not lead), key=lambda m: (m.row is None, m.row or 0, m.column or 0, m.side))
    first = Conflict(constraint_name(form, lead), lead_sentence(form, members, lead))
    named = [m for m in rest if not _never_negative(form, m)]
    return (first,) + tuple(Conflict(constraint_name(form, m), _statement(form, m)) for m in named)


# --- entry point -------------------------------------------------------------------------------------


def explain_infeasibility(inst: Instance) -> tuple[Conflict, ...]:
    """The constraints that conflict, by name, each with a sentence; () when the data are feasible.

    The first Conflict leads: it says what cannot be met and why, with the numbers.
    Uses HiGHS's IIS up to IIS_COLUMN_LIMIT enterprises and the Farkas ray above it
    or when the IIS is not available; if neither works, one Conflict says so.
    """
    form = formulate(inst)
    lp = highs_lp(form, "F1")
    lp.col_cost_ = np.zeros(inst.n)  # a feasibility question: no objective
    highs = new_highs()
    highs.setOptionValue("iis_strategy", int(highspy.IisStrategy.kIisStrategyIrreducible))
    highs.passModel(lp)
    highs.run()
    # Without an objective "unbounded or infeasible" can only mean infeasible.
    if highs.getModelStatus() not in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible):
        return ()
    members = None
    if inst.n <= IIS_COLUMN_LIMIT:
        members = iis_members(highs, form)
    if members is None:
        members = farkas_members(highs, form)
    if members is None:
        return (
            Conflict(
                "unknown",
                "HiGHS proves that the caps, the demand window and the enterprises' limits cannot all be met at once, "
                "but could not isolate which of them conflict.",
            ),
        )
    return conflicts_from(form, members)
