"""Clearing the village energy market (SPEC §4): HiGHS on the arrays, Pyomo as the formulation of record.

The problem is models.market (data and the LP as arrays), the proof is
models.market_certificate; this is the method between them:

1. HiGHS solves the clearing LP (dual simplex: it ends at a vertex, with duals).
2. Charging and discharging at once.  Complementary slackness proves that an
   optimal clearing never does both in a period whose price is positive (docs/market.md,
   "charging and discharging at once"); where the price is ≤ 0 burning energy
   through the round-trip loss can pay, and then that unit's smaller side is held
   at zero and the LP solved again.  The certificate lists every side so held, and
   the verifier refuses one in a period with a positive price.
   HiGHS's MIP then chooses the held sides together (a binary mode per battery and
   period where the LP burnt energy); its choice is taken when it is certified too and
   gives more welfare.
3. Prices.  When the optimal basis is primal non-degenerate the duals are unique.
   Otherwise two more LPs over the optimal dual set find the duals with the least and
   the greatest total price; the posted price is their midpoint (docs/market.md, "pricing rule").
4. Exact numbers.  Quantities and duals become numerators over 2^96; each period's
   last rounding residue goes to the quantity with the most room, so the balance
   rows, and with them the budget, hold exactly.
5. The certificate leaf checks the result (as every member would); the clearing
   reports what it proves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import highspy
import numpy as np

from coopchain.models.formulation import new_highs
from coopchain.models.market import (
    CHARGE, DISCHARGE, SOC, Consumer, Market, Renewable, Storage, Thermal,
    first_period_window, market_lp, storage_coefficients,
)
from coopchain.models.market_certificate import (
    SCALE, MarketCertificateError, ParticipantSettlement, VerifiedClearing, segment_sums, clearing_document, exact_ints,
    verify_clearing,
)

# HiGHS's tolerances: tight, so that the certificate's 2^-30 checks have room to spare.
SOLVER_TOLERANCE = 1e-10
# A value this close (relative) to a bound is put on the bound exactly; a storage side above it is "in use".
SNAP = 1e-9
MAX_HOLD_ROUNDS = 20


@dataclass(frozen=True)
class Clearing:
    """A cleared market day, or an honest failure (``success`` False and a message)."""

    success: bool
    message: str
    verified: VerifiedClearing | None = None  # exact figures, as the certificate proves them
    document: dict | None = None  # the clearing certificate (coopchain/market-clearing/v1)
    quantities: np.ndarray | None = None  # the LP's columns, as doubles
    timings: dict = field(default_factory=dict)

    @property
    def welfare(self) -> float:
        return float(self.verified.welfare)

    @property
    def prices(self) -> tuple[float, ...]:
        return tuple(float(p) for p in self.verified.prices)

    @property
    def price_interval(self) -> tuple[tuple[float, float], ...]:
        v = self.verified
        return tuple((float(min(a, b)), float(max(a, b))) for a, b in zip(v.price_low, v.price_high))

    @property
    def storage_value(self) -> dict[str, tuple[float, ...]]:
        """The marginal value of stored energy, per storage unit and period (per kWh in store at the period's end)."""
        return {sid: tuple(float(v) for v in values) for sid, values in self.verified.storage_value.items()}

    @property
    def settlement(self) -> tuple[ParticipantSettlement, ...]:
        return self.verified.settlement

    @property
    def state_of_charge(self) -> dict[str, tuple[float, ...]]:
        """kWh stored at the end of each period, per storage unit (from the certificate's exact quantities)."""
        market = self.verified.market
        lp = market_lp(market)
        x = self.document["x"]
        out = {}
        for i, p in enumerate(market.participants):
            if isinstance(p, Storage):
                cols = np.flatnonzero((lp.owner == i) & (lp.role == SOC))
                out[p.id] = tuple(x[j] / 2.0**SCALE for j in cols)
        return out


def _highs_model(lp, upper: np.ndarray) -> highspy.HighsLp:
    h = highspy.HighsLp()
    h.num_col_, h.num_row_ = lp.n, lp.m
    h.col_cost_ = lp.cost
    h.col_lower_, h.col_upper_ = lp.col_lower, upper
    h.row_lower_, h.row_upper_ = lp.row_lower, lp.row_upper
    h.offset_ = lp.constant
    h.sense_ = highspy.ObjSense.kMaximize
    a = h.a_matrix_
    a.format_ = highspy.MatrixFormat.kRowwise
    a.num_col_, a.num_row_ = lp.n, lp.m
    a.start_ = np.searchsorted(lp.a_row, np.arange(lp.m + 1)).astype(np.int32)
    a.index_ = lp.a_col.astype(np.int32)
    a.value_ = lp.a_val
    return h


def _new_solver() -> highspy.Highs:
    highs = new_highs()
    highs.setOptionValue("primal_feasibility_tolerance", SOLVER_TOLERANCE)
    highs.setOptionValue("dual_feasibility_tolerance", SOLVER_TOLERANCE)
    highs.setOptionValue("solver", "simplex")
    # HiGHS's presolve spends 1.2 s on the 200 × 96 market and saves the simplex nothing:
    # the LP is already lean (every column boxed, 2 to 4 entries per column).
    highs.setOptionValue("presolve", "off")
    return highs


def clear(market: Market) -> Clearing:
    """Clear the market day: welfare-maximising dispatch, prices, settlement, certificate (checked)."""
    start = time.perf_counter()
    lp = market_lp(market)
    built = time.perf_counter()
    upper = lp.col_upper.copy()
    highs = _new_solver()
    highs.passModel(_highs_model(lp, upper))
    held: list[tuple[int, str]] = []  # (column held at zero, side)
    charge = np.flatnonzero(lp.role == CHARGE)
    for _ in range(MAX_HOLD_ROUNDS):
        highs.run()
        status = highs.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            return Clearing(False, _failure(highs.modelStatusToString(status)), timings={"build": built - start})
        x = np.array(highs.getSolution().col_value)
        both = charge[(x[charge] > SNAP) & (x[charge + market.periods] > SNAP)]
        if len(both) == 0:
            break
        for c in both:
            d = c + market.periods
            _, eta_c, inv_eta_d = storage_coefficients(market.participants[lp.owner[c]])
            # Hold the smaller side (by its effect on the state of charge): the LP's point with
            # the two netted stays feasible, the surplus going to spill, so the LP stays feasible.
            col, side = (d, "discharge") if eta_c * x[c] >= inv_eta_d * x[d] else (c, "charge")
            upper[col] = 0.0
            highs.changeColBounds(int(col), float(lp.col_lower[col]), 0.0)
            held.append((int(col), side))
    else:
        return Clearing(False, "the clearing still charged and discharged a battery at once after holding sides; please report this market", timings={"build": built - start})
    solved = time.perf_counter()
    result = _certify(market, lp, highs, upper, held, {"build": built - start, "solve": solved - built})
    if held and result.success:
        # The sides held one by one are a rule; HiGHS's MIP picks them together (a binary per
        # battery and period where the LP burnt energy).  Its choice replaces the rule's when
        # it is certified too and gives more welfare.
        better = _held_by_mip(market, lp, [c for c, _ in held])
        if better is not None and better.success and better.verified.welfare > result.verified.welfare:
            return better
    return result


def _certify(market: Market, lp, highs: highspy.Highs, upper: np.ndarray, held: list, timings: dict) -> Clearing:
    """From HiGHS's optimum: prices (with the interval where they are not unique), exact numbers, the certificate checked."""
    solving = time.perf_counter()
    sol = highs.getSolution()
    x, y = np.array(sol.col_value), np.array(sol.row_dual)
    if _degenerate(highs, lp, upper, x):
        ends = _price_ends(lp, upper, x, np.array(sol.row_value))
        # Should HiGHS fail on the two LPs (a bound misread as active, within SNAP), HiGHS's own
        # duals are optimal all the same: post them as both ends, an interval of one point.
        y_low, y_high = ends if ends is not None else (y, y)
    else:
        y_low = y_high = y
    priced = time.perf_counter()
    x_int = _exact_quantities(lp, upper, x)
    low, high = _even(y_low), _even(y_high)
    sides = [[market.participants[lp.owner[col]].id, int(lp.period[col]), side] for col, side in held]
    document = clearing_document(market, x_int, low, high, sides)
    exact = time.perf_counter()
    try:
        verified = verify_clearing(market, document)
    except MarketCertificateError as e:
        return Clearing(False, f"the clearing does not pass its own certificate check ({e})", document=document, quantities=x)
    done = time.perf_counter()
    n_held = f"; {len(held)} battery side(s) held at zero in periods with a price ≤ 0" if held else ""
    return Clearing(
        True, f"cleared and certified: welfare {float(verified.welfare):.6g}{n_held}", verified=verified, document=document,
        quantities=x, timings={**timings, "price interval": priced - solving, "exact numbers": exact - priced, "certificate check": done - exact},
    )


def _held_by_mip(market: Market, lp, held_columns: list[int]) -> Clearing | None:
    """The LP with a binary mode for each battery and period where the rule held a side; None if that does not work out.

    Mode b = 1 allows charging only (charge ≤ C·b, discharge ≤ D·(1 − b)), b = 0 discharging
    only.  The sides the MIP turns off are held, and the LP with them held is priced and
    certified like any clearing; batteries and periods outside the set stay continuous.
    """
    start = time.perf_counter()
    T = market.periods
    pairs = sorted({col if lp.role[col] == CHARGE else col - T for col in held_columns})
    k = len(pairs)
    mip = highspy.HighsLp()
    n, m = lp.n + k, lp.m + 2 * k
    mip.num_col_, mip.num_row_ = n, m
    mip.col_cost_ = np.r_[lp.cost, np.zeros(k)]
    mip.col_lower_, mip.col_upper_ = np.r_[lp.col_lower, np.zeros(k)], np.r_[lp.col_upper, np.ones(k)]
    inf = highspy.kHighsInf
    mip.row_lower_ = np.r_[lp.row_lower, np.full(2 * k, -inf)]
    mip.row_upper_ = np.r_[lp.row_upper, np.zeros(k), lp.col_upper[np.array(pairs) + T]]
    mip.sense_ = highspy.ObjSense.kMaximize
    b = lp.n + np.arange(k)
    c, d = np.array(pairs), np.array(pairs) + T
    # Row m0 + i: charge_i − C_i·b_i ≤ 0; row m0 + k + i: discharge_i + D_i·b_i ≤ D_i.
    rows = np.r_[lp.a_row, lp.m + np.arange(k), lp.m + np.arange(k), lp.m + k + np.arange(k), lp.m + k + np.arange(k)]
    cols = np.r_[lp.a_col, c, b, d, b]
    vals = np.r_[lp.a_val, np.ones(k), -lp.col_upper[c], np.ones(k), lp.col_upper[d]]
    order = np.lexsort((cols, rows))
    a = mip.a_matrix_
    a.format_ = highspy.MatrixFormat.kRowwise
    a.num_col_, a.num_row_ = n, m
    a.start_ = np.searchsorted(rows[order], np.arange(m + 1)).astype(np.int32)
    a.index_ = cols[order].astype(np.int32)
    a.value_ = vals[order]
    mip.integrality_ = [highspy.HighsVarType.kContinuous] * lp.n + [highspy.HighsVarType.kInteger] * k
    highs = new_highs()
    highs.setOptionValue("mip_rel_gap", 1e-9)
    highs.setOptionValue("time_limit", 10.0)  # past it the one-by-one rule stands
    highs.passModel(mip)
    highs.run()
    if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    modes = np.array(highs.getSolution().col_value)[lp.n:] > 0.5
    upper = lp.col_upper.copy()
    held = [(int(d[i]), "discharge") if modes[i] else (int(c[i]), "charge") for i in range(k)]
    for col, _ in held:
        upper[col] = 0.0
    lp_solver = _new_solver()
    lp_solver.passModel(_highs_model(lp, upper))
    lp_solver.run()
    if lp_solver.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    x = np.array(lp_solver.getSolution().col_value)
    charge = np.flatnonzero(lp.role == CHARGE)
    if ((x[charge] > SNAP) & (x[charge + T] > SNAP)).any():
        return None  # the held sides let a battery elsewhere burn energy: keep the rule's clearing
    return _certify(market, lp, lp_solver, upper, held, {"build": 0.0, "solve": time.perf_counter() - start})


def _failure(status: str) -> str:
    if "infeasible" in status.lower():
        return ("the market day cannot be cleared: no dispatch meets every limit (a battery whose standing loss "
                "must be recharged with no energy to do it, or ramp limits that cannot be met)")
    return f"HiGHS: {status}"


def _degenerate(highs: highspy.Highs, lp, upper: np.ndarray, x: np.ndarray) -> bool:
    """Whether the optimal basis is primal degenerate (a basic variable or row at one of its bounds).

    A non-degenerate optimal basis has a unique dual solution, so the prices are unique.
    """
    _, basic = highs.getBasicVariables()  # column j as j, row i as −1 − i
    basic = np.asarray(basic)
    col_basic = np.zeros(lp.n, dtype=bool)
    col_basic[basic[basic >= 0]] = True
    row_basic = np.zeros(lp.m, dtype=bool)
    row_basic[-1 - basic[basic < 0]] = True
    margin = SNAP * np.maximum(1.0, np.abs(x))
    at_bound = (np.abs(x - lp.col_lower) <= margin) | (np.abs(upper - x) <= margin)
    if (col_basic & at_bound).any():
        return True
    act = np.array(highs.getSolution().row_value)
    margin = SNAP * np.maximum(1.0, np.abs(act))
    at_bound = (np.abs(act - lp.row_lower) <= margin) | (np.abs(lp.row_upper - act) <= margin)
    return bool((row_basic & at_bound).any())


def _price_ends(lp, upper: np.ndarray, x: np.ndarray, activity: np.ndarray):
    """Optimal duals with the least and the greatest total price: two LPs over the optimal dual set.

    The optimal duals are exactly the multipliers complementary to an optimal x: with
    z = cost − Aᵀy, z_j = 0 where x_j is strictly inside its bounds, z_j ≤ 0 at its
    lower bound, z_j ≥ 0 at its upper bound; y_i = 0 where row i is slack, y_i ≥ 0
    (≤ 0) where it sits on its upper (lower) side.  That is an LP in y alone, whose
    matrix is Aᵀ; its objective is ± Σ_t y_t over the balance rows.
    """
    n, m, T = lp.n, lp.m, lp.market.periods
    inf = highspy.kHighsInf
    at_lo = np.abs(x - lp.col_lower) <= SNAP * np.maximum(1.0, np.abs(lp.col_lower))
    at_hi = np.abs(x - upper) <= SNAP * np.maximum(1.0, np.abs(upper))
    # Aᵀy ≥ cost where z ≤ 0 (x at its lower bound), ≤ cost where z ≥ 0 (at its upper bound).
    lower = np.where(at_lo & ~at_hi, lp.cost, np.where(at_hi & ~at_lo, -inf, lp.cost))
    upper_rows = np.where(at_hi & ~at_lo, lp.cost, np.where(at_lo & ~at_hi, inf, lp.cost))
    both = at_lo & at_hi
    lower[both], upper_rows[both] = -inf, inf
    on_lo = np.abs(activity - lp.row_lower) <= SNAP * np.maximum(1.0, np.abs(activity))
    on_hi = np.abs(activity - lp.row_upper) <= SNAP * np.maximum(1.0, np.abs(activity))
    y_lo = np.where(on_lo, -inf, 0.0)
    y_hi = np.where(on_hi, inf, 0.0)
    d = highspy.HighsLp()
    d.num_col_, d.num_row_ = m, n
    d.col_cost_ = np.r_[np.ones(T), np.zeros(m - T)]
    d.col_lower_, d.col_upper_ = y_lo, y_hi
    d.row_lower_, d.row_upper_ = lower, upper_rows
    a = d.a_matrix_
    a.format_ = highspy.MatrixFormat.kColwise  # column i of Aᵀ is row i of A: A's entries are sorted by row
    a.num_col_, a.num_row_ = m, n
    a.start_ = np.searchsorted(lp.a_row, np.arange(m + 1)).astype(np.int32)
    a.index_ = lp.a_col.astype(np.int32)
    a.value_ = lp.a_val
    highs = _new_solver()
    highs.setOptionValue("presolve", "on")  # here it pays: most rows of Aᵀ hold one or two entries (0.9 s → 0.2 s at 200 × 96)
    highs.passModel(d)
    ends = []
    for sense in (highspy.ObjSense.kMinimize, highspy.ObjSense.kMaximize):
        highs.changeObjectiveSense(sense)
        highs.run()
        if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        ends.append(np.array(highs.getSolution().col_value))
    return ends[0], ends[1]


def _even(y: np.ndarray) -> list[int]:
    """Duals as even numerators over 2^SCALE, so the midpoint of two ends is exact at 2^-SCALE too."""
    return [2 * int(v) for v in np.rint(np.asarray(y) * 2.0 ** (SCALE - 1)).tolist()]


def _exact_quantities(lp, upper: np.ndarray, x: np.ndarray) -> list[int]:
    """The quantities as numerators over 2^SCALE: on their bound when within SNAP of it, and each period exactly balanced."""
    lo, hi = exact_ints(lp.col_lower), exact_ints(upper)
    q = exact_ints(np.rint(x * 2.0**SCALE) / 2.0**SCALE)
    near_lo = np.abs(x - lp.col_lower) <= SNAP * np.maximum(1.0, np.abs(lp.col_lower))
    near_hi = np.abs(x - upper) <= SNAP * np.maximum(1.0, np.abs(upper))
    q[near_lo] = lo[near_lo]
    q[near_hi & ~near_lo] = hi[near_hi & ~near_lo]
    T = lp.market.periods
    rhs = exact_ints(lp.row_lower[:T])
    sign = np.sign(lp.balance).astype(np.int64)
    storage_side = (lp.role == CHARGE) | (lp.role == DISCHARGE)
    in_balance = np.flatnonzero(sign != 0)
    by_period = in_balance[np.argsort(lp.period[in_balance], kind="stable")]
    edges = np.searchsorted(lp.period[by_period], np.arange(T + 1))
    sums = segment_sums(sign[by_period].astype(object) * q[by_period], lp.period[by_period], T)
    for t in np.flatnonzero(sums != rhs):
        cols = by_period[edges[t]:edges[t + 1]]
        residual = int(sums[t]) - rhs[t]
        # Column j moves by −residual·sign_j; pick the one with the most room that way among those
        # strictly inside their bounds (the solver's basic variables: nobody at 0 starts trading
        # 1e-20 kWh), else among all but a battery side at 0 (it must not start doing both).
        room = np.where(sign[cols] * -residual > 0, hi[cols] - q[cols], q[cols] - lo[cols])
        usable = ~(storage_side[cols] & (q[cols] == 0))
        inside = usable & (q[cols] > lo[cols]) & (q[cols] < hi[cols])
        pool = inside if inside.any() else usable
        j = cols[pool][int(np.argmax(room[pool]))]
        q[j] -= residual * int(sign[j])
    return q.tolist()  # Python ints (an object array)


# --- the formulation of record ------------------------------------------------------


def pyomo_model(market: Market):
    """The clearing LP as a readable Pyomo model, every family a named, indexed variable or constraint.

    Export it for OR people with ``model.write("market.lp", io_options={"symbolic_solver_labels": True})``.
    The array rendering (models.market.market_lp) is what HiGHS gets; a test solves both.
    """
    import pyomo.environ as pyo

    T, dt = market.periods, market.hours
    ps = market.participants
    ren = {p.id: p for p in ps if isinstance(p, Renewable)}
    th = {p.id: p for p in ps if isinstance(p, Thermal)}
    con = {p.id: p for p in ps if isinstance(p, Consumer)}
    sto = {p.id: p for p in ps if isinstance(p, Storage)}
    m = pyo.ConcreteModel(name=f"coopchain village energy market {market.id} (SPEC §4)")
    m.T = pyo.RangeSet(0, T - 1, doc="periods of the day")
    m.R = pyo.Set(initialize=list(ren), ordered=True, doc="solar and wind producers")
    m.G = pyo.Set(initialize=list(th), ordered=True, doc="thermal generators")
    m.C = pyo.Set(initialize=list(con), ordered=True, doc="consumers")
    m.S = pyo.Set(initialize=list(sto), ordered=True, doc="storage units")
    m.B = pyo.Set(initialize=[(h, t, b) for h in con for t in range(T) for b in range(len(con[h].bids[t]))], dimen=3, doc="bid blocks")

    m.generation = pyo.Var(m.R, m.T, bounds=lambda _, r, t: (0.0, dt * ren[r].availability[t]), doc="kWh produced")

    def output_bounds(_, g, t):
        unit = th[g]
        return first_period_window(unit, dt) if t == 0 else (dt * unit.min_output, dt * unit.max_output)

    m.output = pyo.Var(m.G, m.T, bounds=output_bounds, doc="kWh produced by thermal units")
    m.block = pyo.Var(m.B, bounds=lambda _, h, t, b: (0.0, dt * con[h].bids[t][b].quantity), doc="kWh bought in each bid block")
    m.served = pyo.Var(m.C, m.T, bounds=lambda _, h, t: (0.0, dt * con[h].inflexible_load[t]), doc="inflexible load served, kWh (the rest is shed)")
    m.charge = pyo.Var(m.S, m.T, bounds=lambda _, s, t: (0.0, dt * sto[s].charge_power), doc="kWh taken from the grid")
    m.discharge = pyo.Var(m.S, m.T, bounds=lambda _, s, t: (0.0, dt * sto[s].discharge_power), doc="kWh given to the grid")
    m.soc = pyo.Var(m.S, m.T, bounds=lambda _, s, t: (sto[s].initial_soc if t == T - 1 else 0.0, sto[s].energy_capacity),
                    doc="kWh stored at the end of each period; the day ends with at least the initial charge")
    supply = [dt * (sum(r.availability[t] for r in ren.values()) + sum(g.max_output for g in th.values()) + sum(s.discharge_power for s in sto.values()))
              for t in range(T)]
    supply[0] = supply[0] - sum(dt * g.max_output - first_period_window(g, dt)[1] for g in th.values())
    m.spill = pyo.Var(m.T, bounds=lambda _, t: (0.0, supply[t]), doc="kWh disposed of at the price floor")

    def balance(model, t):
        taken = (sum(model.block[h, t, b] for h in con for b in range(len(con[h].bids[t]))) + sum(model.served[h, t] for h in con)
                 + sum(model.charge[s, t] for s in sto) + model.spill[t])
        given = sum(model.generation[r, t] for r in ren) + sum(model.output[g, t] for g in th) + sum(model.discharge[s, t] for s in sto)
        return taken - given == 0

    m.balance = pyo.Constraint(m.T, rule=balance, doc="energy balance of each period; its dual is the price")

    def ramp(model, g, t):
        unit = th[g]
        if t == 0 or (unit.ramp_up is None and unit.ramp_down is None):
            return pyo.Constraint.Skip
        lo = None if unit.ramp_down is None else -dt * unit.ramp_down
        up = None if unit.ramp_up is None else dt * unit.ramp_up
        return pyo.inequality(lo, model.output[g, t] - model.output[g, t - 1], up)

    m.ramp = pyo.Constraint(m.G, m.T, rule=ramp, doc="ramp limits between consecutive periods")

    def state_of_charge(model, s, t):
        keep, eta_c, inv_eta_d = storage_coefficients(sto[s])
        before = keep * sto[s].initial_soc if t == 0 else keep * model.soc[s, t - 1]
        return model.soc[s, t] == before + eta_c * model.charge[s, t] - inv_eta_d * model.discharge[s, t]

    m.state_of_charge = pyo.Constraint(m.S, m.T, rule=state_of_charge, doc="storage state of charge; its dual is the value of stored energy")
    m.welfare = pyo.Objective(
        expr=sum(con[h].bids[t][b].price * m.block[h, t, b] for h, t, b in m.B)
        + sum(con[h].value_of_lost_load * m.served[h, t] for h in con for t in m.T)
        - sum(ren[r].offer_price * m.generation[r, t] for r in ren for t in m.T)
        - sum(th[g].marginal_cost * m.output[g, t] for g in th for t in m.T)
        + sum(market.price_floor * m.spill[t] for t in m.T),
        sense=pyo.maximize, doc="welfare: value of energy bought, minus cost of energy sold, minus disposal",
    )
    return m


@dataclass(frozen=True)
class RecordSolution:
    """What the formulation of record gives: welfare, prices and values of stored energy (doubles)."""

    welfare: float
    prices: tuple[float, ...]
    storage_value: dict


def solve_pyomo(market: Market) -> RecordSolution:
    """Solve the formulation of record through Pyomo (appsi_highs) and read the duals."""
    import pyomo.environ as pyo

    model = pyomo_model(market)
    model.dual = pyo.Suffix(direction=pyo.Suffix.IMPORT)
    solver = pyo.SolverFactory("appsi_highs")
    solver.highs_options = {"primal_feasibility_tolerance": SOLVER_TOLERANCE, "dual_feasibility_tolerance": SOLVER_TOLERANCE}
    result = solver.solve(model)
    if str(result.solver.termination_condition) != "optimal":
        raise RuntimeError(f"Pyomo/HiGHS: {result.solver.termination_condition}")
    prices = tuple(model.dual[model.balance[t]] for t in model.T)
    values = {s: tuple(model.dual[model.state_of_charge[s, t]] for t in model.T) for s in model.S}
    return RecordSolution(pyo.value(model.welfare), prices, values)


__all__ = ["Clearing", "RecordSolution", "clear", "pyomo_model", "solve_pyomo"]
