"""Allocation instances, objective values and optimality certificates: the audit core.

SPEC §1 defines the model, §4 says contracts verify and never re-solve, §6 names
the documents.  This module is the one place where the numbers an auditor relies
on are defined: the instance read from a canonical problem document, the
objectives F1, F2 (with C, T and the class of D) and F3, feasibility, the
Lagrangian dual bounds, and the certificate that carries them.  Solvers write
certificates; contracts and the offline verifier check them.

It imports numpy and the standard library only, so an auditor runs it without a
solver, and it imports nothing else of coopchain.

Every per-enterprise constraint is a bound on W_j, so only the ``R + 2`` rows
of the cooperative caps and the demand window couple the enterprises.  For any
multipliers ``λ ≥ 0`` of those rows the Lagrangian dual function
``q(λ) = λ·h + Σ_j max_{lo_j ≤ W_j ≤ hi_j} [φ_j(W_j) − (Gᵀλ)_j W_j]``
bounds ``max Σ_j φ_j`` from above and is a closed form, because each inner
maximum is one-dimensional.  That is the whole certificate: the allocation, its
values, and multipliers whose bound meets them.  For F2 with general alpha the
bound is taken piece by piece over the sum of development levels (see
`coupling_piece_bound`).
"""

from __future__ import annotations

import functools
import hashlib
import math
import weakref
from dataclasses import dataclass

import numpy as np

# v2 names its problem by hash and writes the allocation as one array in the problem's enterprise order;
# v1 (embedded problem, allocation by id) is still verified: its frozen certificates stay valid.
SCHEMA = "coopchain/certificate/v2"
SCHEMA_V1 = "coopchain/certificate/v1"
# v3 is v2 naming its problem by the SHA-256 of its columns form (models.problem_form), which a verifier reads
# without parsing a number: what `coopchain solve --certificate` writes for auditors.
SCHEMA_V3 = "coopchain/certificate/v3"

# A constraint g(W) <= b holds when g(W) - b <= FEASIBILITY_TOLERANCE * max(1, |b|).
FEASIBILITY_TOLERANCE = 1e-9
# A claimed number (objective value, bound, gap) agrees with its recomputation when
# |claimed - recomputed| <= AGREEMENT_TOLERANCE * max(1, |recomputed|).  Recomputation
# is deterministic up to the summation order of numpy on another machine (a few ulps),
# so any material change of a number is caught.
AGREEMENT_TOLERANCE = 1e-12
# A relative gap below −NEGATIVE_GAP means the "bound" is below a feasible value (rounding stays far inside it).
NEGATIVE_GAP = 1e-9
# Largest relative gap a certificate may claim, per objective (issue 3, SPEC §7).
GAP_LIMIT = {"F1": 1e-7, "F3": 1e-7, "F2-uniform": 1e-7, "F2-general": 1e-6}

OBJECTIVES = ("F1", "F2", "F3")
SENSE = {"F1": "max", "F2": "max", "F3": "min"}

# The usual ten classes of the coupling coordination degree D, in 0.1-wide bins.
COORDINATION_CLASSES = (
    "extreme disorder",
    "serious disorder",
    "moderate disorder",
    "mild disorder",
    "on the verge of disorder",
    "barely coordinated",
    "primary coordination",
    "intermediate coordination",
    "good coordination",
    "high-quality coordination",
)


class CertificateError(Exception):
    """A certificate does not prove what it claims: ``code`` is stable (docs/certificate.md lists them),
    the message says why in a sentence."""

    def __init__(self, message: str, code: str = "malformed"):
        self.code = code
        super().__init__(message)

    def __reduce__(self):
        return (type(self), (str(self), self.code))


@dataclass(frozen=True, eq=False)
class Instance:
    """The numbers of one problem document (SPEC §1), enterprises in document order."""

    ids: tuple[str, ...]
    indicators: tuple[str, ...]
    resources: tuple[str, ...]
    indicator_weight: np.ndarray  # a_k, (K,)
    benefit: np.ndarray  # e_jk, (n, K)
    use: np.ndarray  # rho_jr, (n, R)
    enterprise_cap: np.ndarray  # R_j^r, (n, R); inf where the enterprise has no cap
    cooperative_cap: np.ndarray  # R_0^r, (R,)
    resource_weight: np.ndarray  # omega_r, (R,)
    volume_min: np.ndarray  # min_j, (n,)
    volume_max: np.ndarray  # max_j, (n,)
    u0: np.ndarray  # (n,)
    g: np.ndarray  # (n,)
    alpha: np.ndarray  # coupling weights, (n,), summing to 1
    reservation: np.ndarray  # pi_j, (n,)
    demand_min: float
    demand_max: float

    @property
    def n(self) -> int:
        return len(self.ids)

    @functools.cached_property
    def unit_benefit(self) -> np.ndarray:
        """c_j = Σ_k a_k e_jk, so f_j1 = c_j W_j and F1 = c·W."""
        return _frozen(self.benefit @ self.indicator_weight)

    @functools.cached_property
    def unit_footprint(self) -> np.ndarray:
        """f_j = Σ_r ω_r ρ_jr / R_0^r, so F3 = f·W."""
        return _frozen(self.use @ (self.resource_weight / self.cooperative_cap))

    @functools.cached_property
    def uniform_alpha(self) -> bool:
        return bool(self.alpha.min() == self.alpha.max())


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def once_per_object(compute):
    """Compute a function of an instance (or any object compared by identity) once.

    Solvers ask for the box and the rows thousands of times; the cache forgets an
    object when the object goes.
    """
    cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @functools.wraps(compute)
    def cached(obj):
        if obj not in cache:
            cache[obj] = compute(obj)
        return cache[obj]

    return cached


def instance_from_document(doc: dict) -> Instance:
    """Read a coopchain/problem/v1 document (a parsed JSON object) into arrays.

    The document is assumed valid (models.problem validates); absent optional
    fields take their SPEC defaults: no enterprise cap, uniform alpha, no reservation.
    """
    indicators = tuple(doc["indicators"])
    resources = tuple(doc["resources"])
    ents = doc["enterprises"]
    n = len(ents)

    def column(key: str, default: float) -> np.ndarray:
        return np.array([float(e.get(key, default) if e.get(key) is not None else default) for e in ents])

    alpha = column("alpha", math.nan)
    if np.isnan(alpha).all():
        alpha = np.full(n, 1.0 / n)
    return Instance(
        ids=tuple(e["id"] for e in ents),
        indicators=indicators,
        resources=resources,
        indicator_weight=np.array([float(doc["indicators"][k]) for k in indicators]),
        benefit=np.array([[float(e["benefit"][k]) for k in indicators] for e in ents]).reshape(n, len(indicators)),
        use=np.array([[float(e["use"][r]) for r in resources] for e in ents]).reshape(n, len(resources)),
        enterprise_cap=np.array(
            [[float(e.get("cap", {}).get(r, math.inf)) for r in resources] for e in ents]
        ).reshape(n, len(resources)),
        cooperative_cap=np.array([float(doc["resources"][r]["cap"]) for r in resources]),
        resource_weight=np.array([float(doc["resources"][r]["weight"]) for r in resources]),
        volume_min=column("min", 0.0),
        volume_max=column("max", math.inf),
        u0=column("u0", math.nan),
        g=column("g", math.nan),
        alpha=alpha,
        reservation=column("reservation", 0.0),
        demand_min=float(doc["demand"]["min"]),
        demand_max=float(doc["demand"]["max"]),
    )


# --- objectives (SPEC §1, source formulas 2-4) -------------------------------------


@dataclass(frozen=True)
class Values:
    """F1, F2 = D = sqrt(C·T) with its parts C and T, the class of D, and F3."""

    F1: float
    F2: float
    C: float
    T: float
    F3: float
    coordination_class: str

    def as_dict(self) -> dict:
        return {"F1": self.F1, "F2": self.F2, "C": self.C, "T": self.T, "F3": self.F3, "class": self.coordination_class}


def development_levels(inst: Instance, W: np.ndarray) -> np.ndarray:
    """U_j = u0_j + g_j W_j."""
    return inst.u0 + inst.g * W


def coordination_class(D: float) -> str:
    """The class of D among the ten 0.1-wide bins (D = 1 is high-quality)."""
    return COORDINATION_CLASSES[min(int(D * 10.0), 9)]


def log_coupling(inst: Instance, W: np.ndarray) -> float:
    """ψ = log(C·T) = log n + mean(log U) + log T − log Σ U; F2 = exp(ψ / 2).

    Computed in logarithms: the product of n levels below 1 underflows long before
    n = 100,000.
    """
    U = development_levels(inst, W)
    return math.log(inst.n) + float(np.mean(np.log(U))) + math.log(float(inst.alpha @ U)) - math.log(float(U.sum()))


def evaluate(inst: Instance, W: np.ndarray) -> Values:
    """The three perspectives of an allocation W (any W with every U_j > 0)."""
    U = development_levels(inst, W)
    C = math.exp(float(np.mean(np.log(U))) - math.log(float(U.mean())))
    T = float(inst.alpha @ U)
    D = math.sqrt(C * T)
    return Values(
        F1=float(inst.unit_benefit @ W),
        F2=D,
        C=C,
        T=T,
        F3=float(inst.unit_footprint @ W),
        coordination_class=coordination_class(D),
    )


# --- constraints --------------------------------------------------------------------


@once_per_object
def enterprise_box(inst: Instance) -> tuple[np.ndarray, np.ndarray]:
    """Each enterprise's constraints as one interval lo_j <= W_j <= hi_j.

    min_j <= W_j <= max_j, rho_jr W_j <= R_j^r (an upper bound where rho_jr > 0)
    and c_j W_j >= pi_j (a lower bound where c_j > 0; unmeetable where c_j = 0 < pi_j).
    """
    c = inst.unit_benefit
    with np.errstate(divide="ignore", invalid="ignore"):
        reserve = np.where(c > 0, inst.reservation / c, np.where(inst.reservation > 0, math.inf, 0.0))
        cap_bound = np.where(inst.use > 0, inst.enterprise_cap / inst.use, math.inf)
    lo = np.maximum(inst.volume_min, reserve)
    hi = np.minimum(inst.volume_max, cap_bound.min(axis=1) if inst.use.shape[1] else math.inf)
    return _frozen(lo), _frozen(hi)


@once_per_object
def coupling_rows(inst: Instance) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """The rows that couple enterprises, as G W <= h: cooperative caps, then the demand window."""
    names = tuple(f"cooperative_cap[{r}]" for r in inst.resources) + ("demand_max", "demand_min")
    ones = np.ones(inst.n)
    G = np.vstack([inst.use.T, ones, -ones])
    h = np.concatenate([inst.cooperative_cap, [inst.demand_max, -inst.demand_min]])
    return names, _frozen(G), _frozen(h)


LINEAR_OBJECTIVES = ("F1", "F3", "T")


def linear_objective(inst: Instance, name: str) -> tuple[np.ndarray, float]:
    """F1, F3 or T as coef·W + const in its maximisation sense (F3 negated); T = Σ α_j U_j."""
    if name == "F1":
        return np.asarray(inst.unit_benefit), 0.0
    if name == "F3":
        return -np.asarray(inst.unit_footprint), 0.0
    if name == "T":
        return inst.alpha * inst.g, float(inst.alpha @ inst.u0)
    raise CertificateError(f"{name!r} is not a linear objective (F1, F3, T)")


@dataclass(frozen=True, eq=False)
class Extras:
    """Linear additions to a problem: rows E W <= e beside the coupling rows, and ℓ·W added to the objective."""

    rows: np.ndarray  # (k, n)
    rhs: np.ndarray  # (k,)
    linear: np.ndarray  # (n,)

    @staticmethod
    def none(n: int) -> "Extras":
        return Extras(np.zeros((0, n)), np.zeros(0), np.zeros(n))


def epsilon_rows(inst: Instance, constraints) -> tuple[np.ndarray, np.ndarray]:
    """ε-constraints f_k(W) >= e_k (max sense) as rows −coef_k·W <= const_k − e_k."""
    rows, rhs = [], []
    for name, e in constraints:
        coef, const = linear_objective(inst, name)
        rows.append(-coef)
        rhs.append(const - e)
    return np.array(rows).reshape(len(rows), inst.n), np.array(rhs, dtype=float)


def _exceeds(lhs, rhs):
    """lhs <= rhs fails beyond the tolerance (elementwise on arrays)."""
    return lhs - rhs > FEASIBILITY_TOLERANCE * np.maximum(1.0, np.abs(rhs))


def check_feasible(inst: Instance, W: np.ndarray) -> None:
    """Raise CertificateError naming the first constraint of SPEC §1 that W breaks."""
    if W.shape != (inst.n,) or not np.all(np.isfinite(W)):
        raise CertificateError(f"the allocation must be {inst.n} finite numbers")
    benefit = inst.unit_benefit * W
    with np.errstate(invalid="ignore"):  # inf caps times zero use
        cap_broken = _exceeds(inst.use * W[:, None], inst.enterprise_cap)
    per_enterprise = (
        ("below its minimum", _exceeds(inst.volume_min, W), W, inst.volume_min),
        ("above its maximum", _exceeds(W, inst.volume_max), W, inst.volume_max),
        ("a benefit below its reservation", _exceeds(inst.reservation, benefit), benefit, inst.reservation),
    )
    for what, broken, got, limit in per_enterprise:
        if broken.any():
            j = int(np.argmax(broken))
            raise CertificateError(f"{inst.ids[j]}: W = {W[j]!r} gives {what} ({got[j]!r} against {limit[j]!r})")
    if cap_broken.any():
        j, r = np.unravel_index(int(np.argmax(cap_broken)), cap_broken.shape)
        raise CertificateError(
            f"{inst.ids[j]}: {inst.resources[r]} use {inst.use[j, r] * W[j]!r} exceeds its cap {inst.enterprise_cap[j, r]!r}"
        )
    names, G, h = coupling_rows(inst)
    activity = G @ W
    for name, a, b in zip(names, activity, h):
        if _exceeds(a, b):
            raise CertificateError(f"{name}: activity {abs(a)!r} breaks its limit {abs(b)!r}")
    U = development_levels(inst, W)
    if not np.all((U > 0) & (U <= 1 + FEASIBILITY_TOLERANCE)):
        raise CertificateError("a development level U_j leaves (0, 1]")


# --- Lagrangian dual bounds ------------------------------------------------------------
#
# Each bound is a closed form in the multipliers.  These functions evaluate it in
# floating point, for the solvers and for the numbers a certificate states; the
# verifier does not trust their last bits: it decides with error bounds and, when
# those cannot decide, in exact arithmetic (`verify_certificate`, models.exact).


def _allowance(terms: np.ndarray, *extra: float) -> float:
    return 0.0  # the verifier's exact decisions replace the former N·eps·Σ|terms| allowance


def linear_dual_bound(c: np.ndarray, lam: np.ndarray, G: np.ndarray, h: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """An upper bound on max {c·W : G W <= h, lo <= W <= hi} for any lam >= 0 (LP weak duality)."""
    reduced = c - G.T @ lam
    terms = np.where(reduced > 0, reduced * hi, reduced * lo)
    fixed = float(lam @ h)
    return fixed + float(terms.sum()) + _allowance(terms, fixed)


def log_dual_terms(k: np.ndarray, u0: np.ndarray, g: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per enterprise, the maximiser W_j and value of log(u0_j + g_j W_j) − k_j W_j on [lo_j, hi_j].

    The function is concave; its stationary point is W = 1/k − u0/g when k > 0 and
    g > 0, and the maximiser is that point clipped to the interval.  With k <= 0
    it increases (take hi); with g = 0 it is linear in W (take the better end).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        stationary = np.where((k > 0) & (g > 0), 1.0 / k - u0 / g, np.where(k > 0, -math.inf, math.inf))
    W = np.clip(stationary, lo, hi)
    value = np.log(u0 + g * W) - k * W
    return W, value


def log_dual_bound(lam: np.ndarray, G: np.ndarray, h: np.ndarray, inst: Instance, lo: np.ndarray, hi: np.ndarray, offset=0.0) -> float:
    """An upper bound on max {Σ log U_j − offset·W : G W <= h, lo <= W <= hi} for any lam >= 0."""
    _, terms = log_dual_terms(G.T @ lam + offset, inst.u0, inst.g, lo, hi)
    fixed = float(lam @ h)
    return fixed + float(terms.sum()) + _allowance(terms, fixed)


def uniform_coupling_bound(inst: Instance, lam: np.ndarray, extras: Extras | None = None) -> float:
    """An upper bound on ψ + ℓ·W (ψ = log(C·T)) when alpha is uniform: then T = S/n and ψ = mean(log U).

    `extras` adds rows (their multipliers follow the coupling rows') and ℓ; by default none.
    """
    extras = extras or Extras.none(inst.n)
    _, G, h = coupling_rows(inst)
    lo, hi = enterprise_box(inst)
    G, h = np.vstack([G, extras.rows]), np.append(h, extras.rhs)
    return log_dual_bound(lam, G, h, inst, lo, hi, -inst.n * extras.linear) / inst.n


def level_sum_range(inst: Instance) -> tuple[float, float]:
    """The range of S = Σ_j U_j over the enterprises' boxes: what F2 pieces must tile."""
    lo, hi = enterprise_box(inst)
    return float(np.sum(inst.u0 + inst.g * lo)), float(np.sum(inst.u0 + inst.g * hi))


def secant_slope(s_lo: float, s_hi: float) -> float:
    """Slope of the chord of log S over [s_lo, s_hi] (the tangent's slope 1/s_lo on a point)."""
    return (math.log(s_hi) - math.log(s_lo)) / (s_hi - s_lo) if s_hi > s_lo else 1.0 / s_lo


def piece_rows(inst: Instance, s_lo: float, s_hi: float) -> tuple[np.ndarray, np.ndarray]:
    """The coupling rows, then s_lo <= S <= s_hi written as g·W <= s_hi − Σu0 and −g·W <= Σu0 − s_lo."""
    _, G, h = coupling_rows(inst)
    base = float(inst.u0.sum())
    return np.vstack([G, inst.g, -inst.g]), np.append(h, [s_hi - base, base - s_lo])


def coupling_piece_bound(inst: Instance, s_lo: float, s_hi: float, tau: float, lam: np.ndarray, extras: Extras | None = None) -> float:
    """An upper bound on ψ = log(C·T) over allocations with S = Σ U_j in [s_lo, s_hi], general alpha.

    ψ = log n + mean(log U) + log T − log S.  Two relaxations, both exact in the
    limit of a short piece:
    * log T <= τ T − log τ − 1 for any τ > 0 (the tangent of the concave log at 1/τ);
    * −log S <= −log s_lo − β (S − s_lo) on the piece, β the chord's slope (−log is convex,
      so the chord lies above it; the excess is at most (log(s_hi/s_lo))² / 8).
    What remains is mean(log U) plus terms linear in W, bounded by the Lagrangian
    dual with `lam` (scaled by n) on the coupling rows and the two rows of the piece,
    then the rows of `extras`, whose ℓ·W is added to ψ.
    """
    n = inst.n
    extras = extras or Extras.none(n)
    G, h = piece_rows(inst, s_lo, s_hi)
    G, h = np.vstack([G, extras.rows]), np.append(h, extras.rhs)
    lo, hi = enterprise_box(inst)
    beta = secant_slope(s_lo, s_hi)
    k = G.T @ lam - n * (tau * inst.alpha - beta) * inst.g - n * extras.linear
    _, terms = log_dual_terms(k, inst.u0, inst.g, lo, hi)
    parts = (
        math.log(n),
        -math.log(tau) - 1.0,
        -math.log(s_lo),
        beta * s_lo,
        tau * float(inst.alpha @ inst.u0),
        -beta * float(inst.u0.sum()),
        float(lam @ h) / n,
    )
    return sum(parts) + float(terms.sum()) / n + _allowance(terms, *(x * n for x in parts)) / n


# --- certificates -----------------------------------------------------------------------


_hashed: tuple[str, str] | None = None  # (text, its hash): the last canonical text whose hash its writer took


def hashed_as_written(canonical: str, digest: str) -> None:
    """Remember the hash a canonical text's writer took while writing it (piece by piece, as it went).

    ``problem_hash`` of that very str object then returns it instead of encoding and
    hashing the text again (1 s at n = 10^6).  Identity, not equality: a str is
    immutable, so the same object has the same bytes.  One text at a time is kept."""
    global _hashed
    _hashed = (canonical, digest)


def problem_hash(canonical: str) -> str:
    """The problem's identity: SHA-256 of its canonical JSON text (SPEC §6), hex."""
    known = _hashed
    if known is not None and known[0] is canonical:
        return known[1]
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def relative_gap(objective: str, value: float, bound: float) -> float:
    """How far the bound is from the value, relative to the larger of the two in magnitude (F2: to the value).

    A ratio of two numbers in the objective's own unit, so that no choice of unit
    changes it (a floor such as max(1, |value|) would make it absolute in small units).
    """
    if objective == "F2":
        return (bound - value) / value
    slack = value - bound if objective == "F3" else bound - value
    scale = max(abs(value), abs(bound))
    return slack / scale if scale > 0 else 0.0


def objective_size(inst: Instance, name: str, W: np.ndarray) -> float:
    """m_k(W) = Σ_j |coef_kj W_j|: the size of F1, F3 or T at W from its terms, without T's constant α·u0.

    A constant shifts a value without changing which allocation is best, so no tolerance may be
    relative to it (review F-3); the terms scale with every unit the objective has."""
    coef, _ = linear_objective(inst, name)
    return float(np.abs(coef * W).sum())


def scalarised_size(inst: Instance, spec: dict, W: np.ndarray) -> float:
    """The size of a scalarised objective at W, the denominator of its gap (v2; docs/certificate.md):
    Σ_k w_k m_k(W) + 2κ (κ when it weighs ψ = log F2², not when it prices an F2 floor), or for Chebyshev
    max_k s_k m_k(W) + ρ Σ_k s_k m_k(W).  Neither a constant (T's α·u0, a reference s_k z_k) nor the level
    of ψ (a factor on every U_j shifts ψ) enters it: 2κ is ψ's own scale, a gap of 2κ·δ on κψ being a
    relative gap of about δ on F2, as F2's own certificates measure it."""
    W = np.asarray(W, dtype=float)
    if spec.get("method") == "chebyshev":
        cheb = spec["chebyshev"]
        sizes = [float(cheb["scale"][k]) * objective_size(inst, k, W) for k in cheb["reference"]]
        return max(sizes) + float(cheb["rho"]) * sum(sizes)
    size = sum(float(w) * objective_size(inst, k, W) for k, w in spec.get("weights", {}).items())
    kappa = float(spec.get("kappa", 0.0))
    return size + (2.0 * kappa if kappa > 0 and spec.get("coordination_at_least") is None else 0.0)


def scalarised_gap(value: float, bound: float, size: float) -> float:
    """(bound − value) / size: a scalarisation's gap relative to its objective's own size (v2)."""
    slack = bound - value
    return slack / size if size > 0 else 0.0


def _f2_takes_part(spec) -> bool:
    return spec.kappa > 0 or spec.coordination_at_least is not None


def gap_limit(objective: str, inst: Instance, cert: dict | None = None) -> float:
    """The largest gap a certificate may claim: F2's limits wherever F2 takes part."""
    if objective == "F2" or objective == "scalarised" and _f2_takes_part(_scalarisation(inst, cert)):
        return GAP_LIMIT["F2-uniform" if inst.uniform_alpha else "F2-general"]
    return GAP_LIMIT.get(objective, GAP_LIMIT["F1"])


def certified_bound(objective: str, inst: Instance, cert: dict) -> float:
    """The bound the certificate's dual data proves, recomputed from the problem alone."""
    names, G, h = coupling_rows(inst)
    lo, hi = enterprise_box(inst)
    if objective in ("F1", "F3"):
        lam = _multipliers(cert.get("multipliers"), len(names), "multipliers")
        if objective == "F1":
            return linear_dual_bound(inst.unit_benefit, lam, G, h, lo, hi)
        return -linear_dual_bound(-inst.unit_footprint, lam, G, h, lo, hi)
    if objective == "F2":
        return math.exp(_psi_bound(inst, cert, Extras.none(inst.n)) / 2.0)
    spec = _scalarisation(inst, cert)
    E, e = epsilon_rows(inst, spec.constraints)
    if spec.coordination_at_least is not None and not inst.uniform_alpha and cert.get("pieces") is not None:
        # General α: each piece prices the floor with its own κ.  A floor that does not bind needs no
        # pieces: the LP's multipliers bound ℓ·W without it (the verifier's linear branch).
        floor = 2.0 * math.log(spec.coordination_at_least)
        return _psi_bound(inst, cert, Extras(E, e, spec.linear), floor) + spec.constant
    if spec.kappa == 0.0:
        lam = _multipliers(cert.get("multipliers"), len(names) + len(e), "multipliers")
        return linear_dual_bound(spec.linear, lam, np.vstack([G, E]), np.append(h, e), lo, hi) + spec.constant
    bound = spec.kappa * _psi_bound(inst, cert, Extras(E, e, spec.linear / spec.kappa)) + spec.constant
    if spec.coordination_at_least is not None:
        bound -= spec.kappa * 2.0 * math.log(spec.coordination_at_least)
    return bound


def piece_value(inst: Instance, a: float, b: float, tau: float, lam: np.ndarray, extras: Extras, kappa=None, floor=None) -> float:
    """One piece's bound: on ψ + ℓ·W, or, with a floor ψ >= c priced by κ > 0, on ℓ·W itself.

    ℓ·W <= ℓ·W + κ (ψ − c) <= κ (bound of ψ + (ℓ/κ)·W on the piece − c).
    """
    if floor is None:
        return coupling_piece_bound(inst, a, b, tau, lam, extras)
    scaled = Extras(extras.rows, extras.rhs, extras.linear / kappa)
    return kappa * (coupling_piece_bound(inst, a, b, tau, lam, scaled) - floor)


def _psi_bound(inst: Instance, cert: dict, extras: Extras, floor: float | None = None) -> float:
    """The bound on ψ + ℓ·W that the certificate's multipliers (uniform α) or pieces (general α) prove.

    With `floor` (general α, F2 >= D as ψ >= floor), each piece carries its own
    multiplier 'kappa' of that constraint and the bound is on ℓ·W (see `piece_value`).
    """
    coupling = len(coupling_rows(inst)[0])
    if inst.uniform_alpha:
        if floor is not None:
            raise CertificateError("with uniform alpha an F2 floor is priced by the scalarisation's kappa, not per piece")
        lam = _multipliers(cert.get("multipliers"), coupling + len(extras.rhs), "multipliers")
        return uniform_coupling_bound(inst, lam, extras)
    pieces = cert.get("pieces")
    if not isinstance(pieces, list) or not pieces:
        raise CertificateError("with general alpha the certificate needs a non-empty list 'pieces'")
    s_min, s_max = level_sum_range(inst)
    psi = -math.inf
    expected_lo = s_min
    for i, piece in enumerate(pieces):
        where = f"pieces[{i}]"
        if not isinstance(piece, dict) or not isinstance(piece.get("s"), list) or len(piece["s"]) != 2:
            raise CertificateError(f"{where} needs 's': [lo, hi], 'tau', 'multipliers' and 'bound'")
        a, b = (_number(x, f"{where}.s") for x in piece["s"])
        if a > expected_lo:
            raise CertificateError(f"{where} starts at S = {a!r}, after {expected_lo!r} where the previous piece ends")
        if not a <= b:
            raise CertificateError(f"{where}.s is not an interval: {a!r} > {b!r}")
        expected_lo = b
        tau = _number(piece.get("tau"), f"{where}.tau")
        if tau <= 0:
            raise CertificateError(f"{where}.tau must be positive")
        lam = _multipliers(piece.get("multipliers"), coupling + 2 + len(extras.rhs), f"{where}.multipliers")
        kappa = None
        if floor is not None:
            kappa = _number(piece.get("kappa"), f"{where}.kappa")
            if kappa <= 0:
                raise CertificateError(f"{where}.kappa must be positive")
        piece_psi = piece_value(inst, a, b, tau, lam, extras, kappa, floor)
        # Each piece states its own bound, so that no number in it goes unchecked.
        _agree(piece.get("bound"), piece_psi, f"{where}.bound")
        psi = max(psi, piece_psi)
    if expected_lo < s_max:
        raise CertificateError(f"the pieces end at S = {expected_lo!r}, not at the largest level sum {s_max!r}")
    return psi


@dataclass(frozen=True, eq=False)
class Scalarisation:
    """max ℓ·W + constant + κ ψ subject to ε-constraints, read from a certificate (issue 4).

    For Chebyshev, the weights ℓ and the constant come from the multipliers mu of its
    max-rows (a convex combination bounds a maximum from below).

    With `coordination_at_least` (F2 >= D as an ε-constraint) the objective is
    ℓ·W + constant alone and κ is the constraint's multiplier: for any allocation
    with ψ >= c = 2 log D, ℓ·W <= ℓ·W + κ (ψ − c), whose maximum the dual bounds.
    """

    method: str
    linear: np.ndarray
    constant: float
    kappa: float
    constraints: tuple  # ((name, e), ...), f_name(W) >= e in max sense
    chebyshev: dict | None
    coordination_at_least: float | None = None


SCALARISATIONS = ("weighted", "epsilon", "lexicographic", "chebyshev")


def _scalarisation(inst: Instance, cert: dict) -> Scalarisation:
    spec = cert.get("scalarisation")
    if not isinstance(spec, dict) or spec.get("method") not in SCALARISATIONS:
        raise CertificateError(f"'scalarisation.method' must be one of {', '.join(SCALARISATIONS)}")
    constraints = spec.get("constraints", [])
    if not isinstance(constraints, list) or any(not isinstance(c, list) or len(c) != 2 for c in constraints):
        raise CertificateError("'scalarisation.constraints' must be a list of [objective, at_least]")
    constraints = tuple((str(c[0]), _number(c[1], "scalarisation.constraints")) for c in constraints)
    linear, constant = np.zeros(inst.n), 0.0
    if spec["method"] == "chebyshev":
        cheb = spec.get("chebyshev")
        if not isinstance(cheb, dict):
            raise CertificateError("a Chebyshev scalarisation needs 'chebyshev': {reference, scale, rho}")
        names = list(cheb.get("reference", {}))
        mu = _multipliers(cert.get("mu"), len(names), "mu")
        if mu.sum() <= 0:
            raise CertificateError("'mu' must not be all zero")
        mu = mu / mu.sum()
        rho = _number(cheb.get("rho"), "chebyshev.rho")
        for m, name in zip(mu, names):
            coef, const = linear_objective(inst, name)
            scale = _number(cheb.get("scale", {}).get(name), f"chebyshev.scale.{name}")
            z = _number(cheb["reference"][name], f"chebyshev.reference.{name}")
            linear = linear + (m + rho) * scale * coef
            constant += (m + rho) * scale * const - m * scale * z
        return Scalarisation("chebyshev", linear, constant, 0.0, constraints, cheb)
    weights = spec.get("weights", {})
    if not isinstance(weights, dict):
        raise CertificateError("'scalarisation.weights' must map F1, F3 or T to a number")
    for name, w in weights.items():
        coef, const = linear_objective(inst, name)
        w = _number(w, f"scalarisation.weights.{name}")
        linear, constant = linear + w * coef, constant + w * const
    kappa = _number(spec.get("kappa", 0.0), "scalarisation.kappa")
    if kappa < 0:
        raise CertificateError("'scalarisation.kappa' must be non-negative")
    floor = spec.get("coordination_at_least")
    if floor is not None:
        floor = _number(floor, "scalarisation.coordination_at_least")
        if not 0 < floor <= 1:
            raise CertificateError("'scalarisation.coordination_at_least' must lie in (0, 1]")
    return Scalarisation(spec["method"], linear, constant, kappa, constraints, None, floor)


def scalarised_value(inst: Instance, spec: Scalarisation, W: np.ndarray) -> float:
    """The scalarised objective at W: ℓ·W + constant + κ ψ(W), or the augmented Chebyshev value."""
    if spec.chebyshev is not None:
        cheb = spec.chebyshev
        shortfalls, total = [], 0.0
        for name in cheb["reference"]:
            coef, const = linear_objective(inst, name)
            f = float(coef @ W) + const
            shortfalls.append(cheb["scale"][name] * (cheb["reference"][name] - f))
            total += cheb["scale"][name] * f
        return -max(shortfalls) + cheb["rho"] * total
    value = float(spec.linear @ W) + spec.constant
    if spec.coordination_at_least is not None:
        return value
    return value + (spec.kappa * log_coupling(inst, W) if spec.kappa > 0 else 0.0)


def _number(x, where: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise CertificateError(f"{where} must hold finite numbers")
    return float(x)


def _multipliers(raw, m: int, where: str) -> np.ndarray:
    if not isinstance(raw, list) or len(raw) != m:
        raise CertificateError(f"{where} must be a list of {m} numbers")
    lam = np.array([_number(x, where) for x in raw])
    if np.any(lam < 0):
        raise CertificateError(f"{where} must be non-negative (a negative multiplier proves nothing)")
    return lam


def _agree(claimed, recomputed: float, what: str) -> None:
    if isinstance(claimed, bool) or not isinstance(claimed, (int, float)) or not math.isfinite(claimed):
        raise CertificateError(f"{what} must be a finite number")
    if abs(claimed - recomputed) > AGREEMENT_TOLERANCE * max(1.0, abs(recomputed)):
        raise CertificateError(f"the certificate claims {what} = {claimed!r}, but it is {recomputed!r}")


def verify_certificate(cert: dict, problem=None, *, legacy: bool = False):
    """Check a certificate (parsed JSON); return what it proves (a `Verified`), or raise CertificateError with
    a stable ``code`` and the first reason.  `problem`: the canonical text of the problem a v2 certificate
    names by hash (or a `ProvenProblem` handle from `certificate_verify.proven_problem`); by default the text
    its writer kept (`CertificateDocument`); without one, ``problem_missing``, whatever this process proved
    before.  A v1 certificate embeds its problem; a `problem` given with it must be that one (``hash_mismatch``).
    `legacy`: refusals show recomputed numbers as allocation contract v1 did (`certificate_verify.verify`).

    The checks, their order and the exact arithmetic that makes every verdict the same
    on every machine are in models.certificate_verify (docs/certificate.md).  Whatever
    the input, the answer is a verdict or a CertificateError, never another exception.
    """
    from coopchain.models.certificate_verify import verify

    try:
        with np.errstate(all="ignore"):  # overflow and NaN are refused by the checks, not warned about
            return verify(cert, problem if problem is not None else getattr(cert, "problem_text", None), legacy=legacy)
    except CertificateError:
        raise
    except RecursionError as e:
        raise CertificateError("the certificate is nested too deeply to be read", "too_large") from e
    except (ArithmeticError, ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        raise CertificateError(f"the certificate cannot be checked: {e}", "malformed") from e


def verify_certificate_text(text: str | bytes, problem: str | None = None):
    """`verify_certificate` of a JSON text, read strictly (duplicate keys, NaN, huge integers, deep nesting refused)."""
    from coopchain.models.certificate_verify import read_text

    return verify_certificate(read_text(text), problem)


class CertificateDocument(dict):
    """A certificate (a plain JSON object) that also remembers, outside its JSON, the canonical text of the
    problem it names by hash: a solve's output writes that text beside the certificate (``problem_text``), so that
    `coopchain verify` of the output needs nothing else.  A copy through JSON is a plain dict."""

    problem_text: str | None = None


def certificate_document(
    canonical: str, inst: Instance, objective: str, W: np.ndarray, *, multipliers=None, pieces=None, scalarisation=None, mu=None
) -> dict:
    """Write the certificate (coopchain/certificate/v2) of an allocation: values, bound and gap computed as the
    verifier computes them; the problem named by the hash of `canonical`, the allocation as one array.

    `multipliers` (F1, F3, F2 with uniform alpha, scalarisations): one non-negative
    number per row: the coupling rows in the order of `coupling_rows`, then the
    ε-constraints.  `pieces` (F2 or a scalarisation with F2, general alpha): a list of
    (s_lo, s_hi, tau, multipliers) tiling `level_sum_range`, the multipliers covering
    the coupling rows, the two rows of the piece, then the ε-constraints; with an F2
    floor each piece adds its own multiplier κ of that floor: (s_lo, s_hi, tau, multipliers, κ).
    `scalarisation` (objective "scalarised"): the dict the verifier reads back
    (method, weights, kappa, constraints, chebyshev) and, for Chebyshev, `mu`.
    `inst` must be the instance of `canonical`.
    """
    names, _, _ = coupling_rows(inst)
    cert = CertificateDocument({
        "schema": SCHEMA,
        "objective": objective,
        "problem_hash": problem_hash(canonical),
        "allocation": np.asarray(W, dtype=float).tolist(),  # one array in the problem's enterprise order
        "rows": list(names),
    })
    cert.problem_text = canonical
    extras, floor = Extras.none(inst.n), None
    if scalarisation is not None:
        cert["scalarisation"] = scalarisation
        if mu is not None:
            cert["mu"] = [float(x) for x in mu]
        spec = _scalarisation(inst, cert)
        cert["rows"] += [f"epsilon[{name}]" for name, _ in spec.constraints]
        E, e = epsilon_rows(inst, spec.constraints)
        if spec.coordination_at_least is not None and pieces is not None:
            extras, floor = Extras(E, e, spec.linear), 2.0 * math.log(spec.coordination_at_least)
        elif spec.kappa > 0:
            extras = Extras(E, e, spec.linear / spec.kappa)
    if pieces is not None:
        cert["rows"][len(names) : len(names)] = ["level_sum_max", "level_sum_min"]
        cert["pieces"] = []
        # The first and last pieces reach a little beyond the level-sum range as computed here in
        # floating point, so that the verifier sees them cover the exact range without exact arithmetic.
        pieces = list(pieces)
        pieces[0] = (pieces[0][0] * (1 - 2.0**-24), *pieces[0][1:])
        pieces[-1] = (pieces[-1][0], pieces[-1][1] * (1 + 2.0**-24), *pieces[-1][2:])
        for a, b, tau, lam, *kappa in pieces:
            kappa = float(kappa[0]) if floor is not None else None
            bound = piece_value(inst, a, b, tau, np.asarray(lam), extras, kappa, floor)
            piece = {"s": [float(a), float(b)], "tau": float(tau), "multipliers": [float(x) for x in lam], "bound": bound}
            if kappa is not None:
                piece["kappa"] = kappa
            cert["pieces"].append(piece)
    else:
        cert["multipliers"] = [float(x) for x in multipliers]
    W = np.asarray(W, dtype=float)
    values = evaluate(inst, W)
    bound = certified_bound(objective, inst, cert)
    cert["values"] = values.as_dict()
    cert["bound"] = bound
    if scalarisation is not None:
        value = scalarised_value(inst, _scalarisation(inst, cert), W)
        cert["scalarised_value"] = value
        # Relative to the objective's own size, not to the shifted value (review F-3): see scalarised_size.
        cert["gap"] = scalarised_gap(value, bound, scalarised_size(inst, scalarisation, W))
    else:
        cert["gap"] = relative_gap(objective, getattr(values, objective), bound)
    return cert


def columns_certificate(cert: dict, form: bytes) -> dict:
    """The v3 certificate of a v2 one: the same proof, its problem named by the SHA-256 of `form`, the problem's
    columns form (models.problem_form; `form` must be the form of the problem `cert` names)."""
    if cert.get("schema") != SCHEMA:
        raise ValueError(f"a v3 certificate is written from a {SCHEMA} one, not {cert.get('schema')!r}")
    return {**cert, "schema": SCHEMA_V3, "problem_hash": hashlib.sha256(form).hexdigest()}


def __getattr__(name: str):
    """`Verified` (what a valid certificate proves) lives beside the verifier, which builds on this module."""
    if name == "Verified":
        from coopchain.models.certificate_verify import Verified

        return Verified
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
