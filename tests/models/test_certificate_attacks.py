"""Certificates no adversary can fool (issue 10): each class of attack refused with its code, frozen
certificates, near-threshold verdicts against an exact re-implementation written here, determinism
under a different libm, and property-based mutations of real certificates (hypothesis).

Independent references: tests/reference.py (cvxpy) for the optima; exact arithmetic (fractions,
decimal) written in this file for feasibility, objective values and thresholds.
"""

import copy
import hashlib
import json
import math
import subprocess
import sys
from decimal import Decimal, localcontext
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coopchain.models import certificate_verify
from coopchain.models.certificate import CertificateDocument, CertificateError, certificate_document, verify_certificate, verify_certificate_text
from coopchain.models.problem import ProblemError, parse_problem
from coopchain.models.scalarise import weighted_sum
from coopchain.models.solve import prepare, solve
from tests.reference import ReferenceSolveError, reference_f1, reference_f2_general, reference_f2_uniform, reference_f3
from tests.reference import objective_term as _objective

DATA = Path(__file__).resolve().parents[1] / "data" / "certificates"
INDEX = json.loads((DATA / "index.json").read_text())
CODES = {
    "malformed", "too_large", "hash_mismatch", "not_canonical", "invalid_problem", "non_finite", "out_of_range",
    "negative_multiplier", "degenerate_scalarisation", "infeasible", "value_mismatch", "bound_mismatch",
    "gap_mismatch", "gap_exceeded", "output_mismatch", "duplicate_key", "not_json",
}
LIMIT = {"F1": 1e-7, "F3": 1e-7, "F2-uniform": 1e-7, "F2-general": 1e-6}


def frozen(kind: str, name: str) -> bytes:
    return (DATA / kind / f"{name}.json").read_bytes()


def frozen_problem(kind: str, name: str) -> str | None:
    """The canonical problem beside a frozen v2 certificate (v1 ones embed theirs)."""
    path = DATA / kind / f"{name}.problem.json"
    return path.read_text(encoding="utf-8") if path.exists() else None


def frozen_document(kind: str, name: str) -> dict:
    """A frozen certificate, parsed, with the problem beside it (if any) as `problem_text`."""
    cert = CertificateDocument(json.loads(frozen(kind, name)))
    cert.problem_text = frozen_problem(kind, name)
    return cert


def refused(cert, code: str, problem: str | None = None) -> CertificateError:
    with pytest.raises(CertificateError) as caught:
        verify_certificate(cert, problem) if isinstance(cert, dict) else verify_certificate_text(cert, problem)
    assert caught.value.code == code, f"{caught.value.code}: {caught.value}"
    return caught.value


def rehash(cert: dict, text: str) -> dict:
    """The certificate with another problem text (embedded in v1, given beside a v2 one) and that text's hash."""
    out = copy.deepcopy(cert)
    out["problem_hash"] = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    if out["schema"] == "coopchain/certificate/v1":
        out["problem"] = text
    else:
        out.problem_text = text
    return out


def problem_text(cert: dict) -> str:
    return cert["problem"] if isinstance(cert.get("problem"), str) or cert.get("schema") == "coopchain/certificate/v1" else cert.problem_text


# --- exact re-implementation (independent of models/) --------------------------------------------


def exact_instance(cert: dict) -> dict:
    """The embedded problem's numbers as Fractions, read straight from its JSON."""
    doc = json.loads(problem_text(cert))
    ind, res = list(doc["indicators"]), list(doc["resources"])
    F = Fraction
    ents = doc["enterprises"]
    return {
        "a": [F(doc["indicators"][k]) for k in ind],
        "e": [[F(x["benefit"][k]) for k in ind] for x in ents],
        "rho": [[F(x["use"][r]) for r in res] for x in ents],
        "cap": [[F(x["cap"][r]) if r in x["cap"] else None for r in res] for x in ents],
        "R0": [F(doc["resources"][r]["cap"]) for r in res],
        "omega": [F(doc["resources"][r]["weight"]) for r in res],
        "min": [F(x["min"]) for x in ents], "max": [F(x["max"]) for x in ents],
        "u0": [F(x["u0"]) for x in ents], "g": [F(x["g"]) for x in ents],
        "alpha": [F(x["alpha"]) for x in ents], "pi": [F(x["reservation"]) for x in ents],
        "dmin": F(doc["demand"]["min"]), "dmax": F(doc["demand"]["max"]), "ids": [x["id"] for x in ents],
    }


def exact_feasible(P: dict, W: list[Fraction], tol=Fraction(1, 10**9)) -> bool:
    """SPEC §1's constraints, each within tol × (magnitude of its terms + |limit|)."""
    def le(lhs_terms, limit):
        return sum(lhs_terms) - limit <= tol * (sum(abs(t) for t in lhs_terms) + abs(limit))

    for j, w in enumerate(W):
        benefit = [a * e * w for a, e in zip(P["a"], P["e"][j])]
        if not (le([-w], -P["min"][j]) and le([w], P["max"][j]) and le([-b for b in benefit], -P["pi"][j])):
            return False
        for r, cap in enumerate(P["cap"][j]):
            if cap is not None and not le([P["rho"][j][r] * w], cap):
                return False
        U = P["u0"][j] + P["g"][j] * w
        if not (0 < U <= 1 + tol):
            return False
    for r, R0 in enumerate(P["R0"]):
        if not le([P["rho"][j][r] * w for j, w in enumerate(W)], R0):
            return False
    return le(W, P["dmax"]) and le([-w for w in W], -P["dmin"])


def exact_values(P: dict, W: list[Fraction]) -> dict:
    F1 = sum(a * e * w for row, w in zip(P["e"], W) for a, e in zip(P["a"], row))
    F3 = sum(P["omega"][r] * P["rho"][j][r] * w / P["R0"][r] for j, w in enumerate(W) for r in range(len(P["R0"])))
    with localcontext() as ctx:
        ctx.prec = 50
        U = [Decimal(u.numerator) / Decimal(u.denominator) for u in (P["u0"][j] + P["g"][j] * w for j, w in enumerate(W))]
        n = len(U)
        C = ((sum(x.ln() for x in U) / n) - (sum(U) / n).ln()).exp()
        T = sum(Decimal(a.numerator) / Decimal(a.denominator) * x for a, x in zip(P["alpha"], U))
        D = (C * T).sqrt()
    return {"F1": F1, "F3": F3, "C": C, "T": T, "F2": D}


def allocation(cert: dict) -> list[Fraction]:
    W = cert["allocation"]
    return [Fraction(x) for x in (W.values() if isinstance(W, dict) else W)]


# --- frozen certificates ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", INDEX["valid"])
def test_frozen_valid_certificate_is_accepted(name):
    verified = verify_certificate_text(frozen("valid", name), frozen_problem("valid", name))
    cert = frozen_document("valid", name)
    P = exact_instance(cert)
    assert exact_feasible(P, allocation(cert))
    assert verified.gap <= 1e-6


@pytest.mark.parametrize("name, code", sorted(INDEX["invalid"].items()))
def test_frozen_invalid_certificate_is_refused_with_its_code(name, code):
    certificate_verify._PROBLEMS.clear()  # a v2 certificate without its problem is refused, whatever this process saw before
    refused(frozen("invalid", name), code, frozen_problem("invalid", name))


REFERENCE = {"F1": reference_f1, "F3": reference_f3}


@pytest.mark.parametrize("name", ["f1_uniform", "f3_general", "f2_uniform", "f2_general", "v2_f1_uniform", "v2_f2_general"])
def test_frozen_optimum_matches_the_reference_solver(name):
    """What a frozen certificate proves is true: cvxpy's optimum is no better than its allocation beyond the gap."""
    cert = frozen_document("valid", name)
    inst = prepare(parse_problem(json.loads(problem_text(cert)))).instance
    objective = cert["objective"]
    value = float(exact_values(exact_instance(cert), allocation(cert))[objective])
    if objective == "F2":
        reference = (reference_f2_uniform if inst.uniform_alpha else reference_f2_general)(inst)[0]
        assert value >= reference * (1 - 1e-6)
    else:
        reference = REFERENCE[objective](inst)[0]
        assert (value - reference) * (1 if objective == "F1" else -1) >= -1e-6 * abs(reference)


# --- one test per class of attack in issue 10 --------------------------------------------------------


@pytest.fixture(scope="module")
def problem(gen_problem):
    return prepare(parse_problem(gen_problem.generate(n=8, seed=11, alpha="uniform")))


@pytest.fixture(scope="module")
def general(gen_problem):
    return prepare(parse_problem(gen_problem.generate(n=8, seed=12, alpha="general")))


@pytest.fixture(scope="module")
def f1_cert(problem):
    return solve(problem, "F1").certificate


def test_huge_multipliers_cannot_overflow_the_bound(problem, general, f1_cert):
    worse = solve(problem, "F3").allocation  # feasible, far from max F1
    for lam in ([1e308] * len(f1_cert["multipliers"]), [1e300, 0.0, 0.0, 0.0, 0.0], [1e59] * len(f1_cert["multipliers"])):
        cert = copy.deepcopy(f1_cert)
        cert["multipliers"] = lam
        cert["allocation"] = [float(x) for x in worse]
        with pytest.raises(CertificateError) as caught:
            verify_certificate(cert)
        assert caught.value.code in {"out_of_range", "value_mismatch", "bound_mismatch"}
    f2 = solve(general, "F2").certificate
    f2["pieces"][0]["multipliers"][0] = 1e308  # a NaN piece must not be dropped by max
    refused(f2, "out_of_range")


def test_problem_that_would_overflow_is_refused_by_the_validator(gen_problem, f1_cert):
    doc = gen_problem.generate(n=4, seed=1)
    for e in doc["enterprises"]:
        e["benefit"] = {k: v * 1e306 for k, v in e["benefit"].items()}
    with pytest.raises(ProblemError, match="beyond the largest magnitude accepted"):
        parse_problem(doc)
    refused(frozen("invalid", "benefits_1e306_problem"), "invalid_problem")


def test_embedded_problem_is_revalidated_and_must_be_canonical(f1_cert):
    doc = json.loads(problem_text(f1_cert))
    doc["enterprises"][0]["g"] = -0.001
    refused(rehash(f1_cert, json.dumps(doc, separators=(",", ":"), sort_keys=True)), "invalid_problem")
    text = problem_text(f1_cert)
    refused(rehash(f1_cert, text.replace('{"cooperative":', '{"cooperative":"other","cooperative":', 1)), "not_canonical")
    refused(rehash(f1_cert, text.replace(":0,", ":0.0,", 1)), "not_canonical")
    doc = json.loads(text)
    reordered = {"schema": doc.pop("schema"), **doc}  # the same document, keys out of RFC 8785 order
    refused(rehash(f1_cert, json.dumps(reordered, separators=(",", ":"))), "not_canonical")


def test_degenerate_scalarisations_are_refused_and_the_verdict_says_what_was_proven(problem):
    cert = weighted_sum(problem.instance, problem.canonical).certificate
    verified = verify_certificate(cert)
    spec = cert["scalarisation"]
    assert verified.proven.startswith("weighted: max ") and f"{float(spec['kappa'])!r}·log F2²" in verified.proven
    for change in ({"weights": {}, "kappa": 0.0}, {"weights": {"F1": -1.0}}, {"kappa": -1.0}, {"weights": {"F2": 1.0}}):
        bad = copy.deepcopy(cert)
        bad["scalarisation"].update(change)
        refused(bad, "degenerate_scalarisation")


@pytest.mark.parametrize("scale", [1e-12, 1e-6, 1e6, 1e12])
def test_rescaled_units_cannot_turn_a_false_claim_true(problem, f1_cert, scale):
    """Indicator weights × scale, the allocation at about 0.7 of the optimum, multipliers rescaled: refused at every scale."""
    doc = json.loads(problem.canonical)
    for k in doc["indicators"]:
        doc["indicators"][k] *= scale
    scaled = prepare(parse_problem(doc))
    worse = solve(scaled, "F3").allocation
    cert = certificate_document(scaled.canonical, scaled.instance, "F1", worse, multipliers=[x * scale for x in f1_cert["multipliers"]])
    refused(cert, "gap_exceeded")
    honest = solve(scaled, "F1").certificate  # and the true optimum still verifies at that scale
    assert verify_certificate(honest).gap <= 1e-7


def test_solve_output_must_agree_with_its_certificate(tmp_path, problem):
    out = solve(problem, "F1").as_json()
    first = next(iter(out["allocation"]))
    out["allocation"][first] += 1.0
    path = tmp_path / "solution.json"
    path.write_text(json.dumps(out))
    run = subprocess.run([str(Path(sys.executable).with_name("coopchain")), "verify", str(path)], capture_output=True, text=True)
    assert run.returncode != 0 and "output_mismatch" in run.stdout, run.stdout + run.stderr


def test_malformed_inputs_give_a_reason_not_a_traceback(f1_cert, general):
    refused(b"[" * 100_000 + b"]" * 100_000, "too_large")
    refused(json.dumps(f1_cert).replace('"gap": ', '"gap": ' + "7" * 400 + ', "x": ', 1).encode(), "too_large")
    lone = copy.deepcopy(f1_cert)
    lone.problem_text = lone.problem_text.replace('"round":"', '"round":"\ud800')  # a lone surrogate: no UTF-8 form, no hash
    refused(lone, "not_canonical")
    doc = json.loads(problem_text(f1_cert))
    refused(rehash(f1_cert, json.dumps({**doc, "enterprises": []}, separators=(",", ":"), sort_keys=True)), "invalid_problem")
    doc["enterprises"][1]["alpha"] = -0.25
    refused(rehash(f1_cert, json.dumps(doc, separators=(",", ":"), sort_keys=True)), "invalid_problem")
    f2 = solve(general, "F2").certificate
    f2["pieces"] = f2["pieces"] * (100_000 // len(f2["pieces"]) + 1)
    refused(f2, "too_large")


# --- verdicts near a threshold agree with exact arithmetic ----------------------------------------------


def _ulps(x: float, k: int) -> float:
    for _ in range(abs(k)):
        x = math.nextafter(x, math.inf if k > 0 else -math.inf)
    return x


@pytest.mark.parametrize("k", range(-4, 5))
def test_demand_row_within_ulps_of_its_tolerance(problem, f1_cert, k):
    """Total volume placed a few ulps either side of D_max (1 + 1e-9) + 1e-9 Σ|W|: the verdict is the exact one."""
    P = exact_instance(f1_cert)
    W = allocation(f1_cert)
    # The last enterprise's volume that puts Σ W exactly on the threshold, then k ulps off it.
    t = Fraction(1, 10**9)
    rest = sum(W[:-1])
    # Σ W − D = t (Σ W + D)  =>  Σ W = D (1 + t) / (1 − t)
    w_last = float(P["dmax"] * (1 + t) / (1 - t) - rest)
    w = _ulps(w_last, k)
    W[-1] = Fraction(w)
    cert = copy.deepcopy(f1_cert)
    cert["allocation"][-1] = w
    row_ok = sum(W) - P["dmax"] <= t * (sum(abs(x) for x in W) + P["dmax"])
    try:
        verify_certificate(cert)
        code = None
    except CertificateError as e:
        code = e.code
    assert (code == "infeasible") == (not row_ok or not exact_feasible(P, W)), code


@pytest.mark.parametrize("k", range(-4, 5))
def test_claimed_value_within_ulps_of_its_tolerance(f1_cert, k):
    """F1 claimed a few ulps either side of F1 (1 + 1e-9): value_mismatch exactly when |claim − F1| > 1e-9 |F1|."""
    F1 = exact_values(exact_instance(f1_cert), allocation(f1_cert))["F1"]
    edge = float(F1 * (1 + Fraction(1, 10**9)))
    claim = _ulps(edge, k)
    cert = copy.deepcopy(f1_cert)
    cert["values"]["F1"] = claim
    mismatch = abs(Fraction(claim) - F1) > Fraction(1, 10**9) * abs(F1)
    try:
        verify_certificate(cert)
        code = None
    except CertificateError as e:
        code = e.code
    assert (code == "value_mismatch") == mismatch, code


def test_a_different_libm_gives_the_same_verdicts(monkeypatch):
    """Every log and exp off by 64 ulps (a far worse platform than any real one): the same verdict and code on
    every frozen certificate."""
    def before():
        out = {}
        for kind, names in (("valid", INDEX["valid"]), ("invalid", list(INDEX["invalid"]))):
            for name in names:
                try:
                    certificate_verify._PROBLEMS.clear()
                    verify_certificate_text(frozen(kind, name), frozen_problem(kind, name))
                    out[name] = "valid"
                except CertificateError as e:
                    out[name] = e.code
        return out

    expected = before()
    log, exp, mlog, mexp = np.log, np.exp, math.log, math.exp
    monkeypatch.setattr(np, "log", lambda x, *a, **k: log(x, *a, **k) * (1 + 64 * 2.0**-53))
    monkeypatch.setattr(np, "exp", lambda x, *a, **k: exp(x, *a, **k) * (1 - 64 * 2.0**-53))
    monkeypatch.setattr(math, "log", lambda *a: mlog(*a) * (1 - 64 * 2.0**-53))
    monkeypatch.setattr(math, "exp", lambda x: mexp(x) * (1 + 64 * 2.0**-53))
    assert before() == expected


# --- property-based mutations of real certificates ----------------------------------------------------

# The review's regression certificates (index.json "not_mutated") pin one finding each; several have slack
# ε-limits on general α, where a mutant that moves a slack limit stays true but is not the base's question.
BASES = {name: frozen_document("valid", name) for name in INDEX["valid"] if name not in INDEX.get("not_mutated", [])}
GENERAL_SCALARISED = {name for name, c in BASES.items() if c["objective"] == "scalarised" and not prepare(parse_problem(json.loads(problem_text(c)))).instance.uniform_alpha}
SPECIAL = [math.nan, math.inf, -math.inf, 1e308, -1e308, -0.0, 0.0, 5e-324, 2.2250738585072014e-308, 10**400, 2**63, -1, 1e-300, 1e15, True, "1", None, [], {}]


def _paths(node, path=()):
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node[:12]):
            yield from _paths(v, path + (i,))


def _at(root, path):
    for key in path:
        root = root[key]
    return root


@st.composite
def mutated(draw):
    name = draw(st.sampled_from(sorted(BASES)))
    cert = copy.deepcopy(BASES[name])
    paths = [(p, v) for p, v in _paths(cert) if p and p[0] != "problem"]
    kinds = ["number", "nudge", "drop", "add", "list", "type", "problem"]
    if name in GENERAL_SCALARISED:
        kinds.remove("problem")  # no independent solver here for a changed problem of this kind (see _claim_still_true)
    kind = draw(st.sampled_from(kinds))
    if kind in ("number", "nudge"):
        numeric = [(p, v) for p, v in paths if isinstance(v, (int, float)) and not isinstance(v, bool)]
        path, value = draw(st.sampled_from(numeric))
        new = draw(st.sampled_from(SPECIAL)) if kind == "number" else value * (1 + draw(st.sampled_from([2.0**-52, -(2.0**-52), 1e-12, -1e-12, 1e-9, -1e-9, 1e-6, 0.01]))) + draw(st.sampled_from([0.0, 1e-300, -1e-12]))
        _at(cert, path[:-1])[path[-1]] = new
    elif kind == "drop":
        path, _ = draw(st.sampled_from([(p, v) for p, v in paths if isinstance(_at(cert, p[:-1]), dict)]))
        del _at(cert, path[:-1])[path[-1]]
    elif kind == "add":
        path, node = draw(st.sampled_from([(p, v) for p, v in paths if isinstance(v, dict)] + [((), cert)]))
        node[draw(st.sampled_from(["extra", "F4", "kappa", "weights", "mu", "pieces"]))] = draw(st.sampled_from([0, 1.0, [], {}, "x"]))
    elif kind == "list":
        path, node = draw(st.sampled_from([(p, v) for p, v in paths if isinstance(v, list) and v]))
        op = draw(st.sampled_from(["shorten", "lengthen", "zero"]))
        if op == "shorten":
            node.pop()
        elif op == "lengthen":
            node.append(copy.deepcopy(node[-1]))
        else:
            node.append(0.0)
    elif kind == "type":
        path, value = draw(st.sampled_from(paths))
        _at(cert, path[:-1])[path[-1]] = draw(st.sampled_from([[value], {"x": value}, str(value)[:20], None, False]))
    else:
        text = problem_text(cert)
        at = draw(st.integers(0, len(text) - 1))
        edit = draw(st.sampled_from([" ", "0", "9", ",", "\\u0041", '"', "-", ".0", "e1"]))
        cert = rehash(cert, text[:at] + edit + text[at + 1 :] if draw(st.booleans()) else text[:at] + edit + text[at:])
    return name, cert


def _claim_still_true(name: str, base: dict, cert: dict) -> None:
    """An accepted mutant proves what its base proves: the same problem and question, a feasible allocation
    (checked exactly here) whose objective is within the limit of the base's (itself checked against cvxpy)."""
    assert cert["objective"] == base["objective"]
    P = exact_instance(cert)
    W = allocation(cert)
    assert exact_feasible(P, W)
    same_numbers = {k: v for k, v in P.items() if k != "ids"} == {k: v for k, v in exact_instance(base).items() if k != "ids"}
    if cert["objective"] in ("F1", "F2", "F3"):
        mine = float(exact_values(P, W)[cert["objective"]])
        if same_numbers:  # only text changed (a name, a round): the base's optimum, checked against cvxpy, still applies
            theirs = float(exact_values(P, allocation(base))[cert["objective"]])
        elif (cert["objective"], problem_text(cert)) in _OPTIMA:  # this problem was solved for an earlier mutant
            theirs = _OPTIMA[cert["objective"], problem_text(cert)]
        else:  # a different problem: solve it again with the reference
            inst = prepare(parse_problem(json.loads(problem_text(cert)))).instance
            solver = {"F1": reference_f1, "F3": reference_f3}.get(cert["objective"]) or (reference_f2_uniform if inst.uniform_alpha else reference_f2_general)
            try:
                theirs = solver(inst)[0]
            except ReferenceSolveError:  # cvxpy gives up on a few odd problems: re-solve with ours, certified on its own
                theirs = getattr(solve(inst_problem(cert), cert["objective"]).values, cert["objective"])
            _OPTIMA[cert["objective"], problem_text(cert)] = theirs
        sign = -1 if cert["objective"] == "F3" else 1
        assert sign * (mine - theirs) >= -2e-6 * abs(theirs)
        return
    inst = prepare(parse_problem(json.loads(problem_text(cert)))).instance
    spec = cert["scalarisation"]
    linear = spec.get("kappa", 0.0) == 0 and "coordination_at_least" not in spec
    if inst.uniform_alpha or linear:  # re-solve the scalarisation the mutant states (cvxpy): its allocation must be optimal for it
        best, mine = reference_scalarised(inst, spec, np.array([float(x) for x in allocation(cert)], dtype=float),
                                          key=(problem_text(cert), json.dumps(spec, sort_keys=True)))
        assert mine >= best - 2e-6 * max(abs(best), 1e-3 * _magnitude(inst, spec))
        return
    # General α with F2 in it has no independent solver here: the mutant must ask the base's question.
    defaults = {"constraints": [], "weights": {}, "kappa": 0.0}
    assert same_numbers and _close({**defaults, **spec}, {**defaults, **base["scalarisation"]}, 1e-6)


def inst_problem(cert: dict):
    return parse_problem(json.loads(problem_text(cert)))


def _magnitude(inst, spec) -> float:
    hi = np.asarray(inst.volume_max)
    weights = spec.get("weights", {}) if spec["method"] != "chebyshev" else spec["chebyshev"]["scale"]
    return sum(abs(w) * float(np.abs(_objective(inst, k, hi))) for k, w in weights.items()) + spec.get("kappa", 0.0)


# The reference optima already found, by problem (and scalarisation): many accepted mutants change only the
# allocation or a text, and ask a question already answered; the reference is a function of the question alone.
_OPTIMA: dict[tuple, float] = {}


def reference_scalarised(inst, spec, W_mine: np.ndarray, key: tuple | None = None) -> tuple[float, float]:
    """The scalarised optimum by cvxpy (uniform α: ψ = mean log U), and the value of the given allocation.
    `key` names the question (problem text, scalarisation) when its optimum may be kept for a later call."""
    import cvxpy as cp

    from tests.reference import spec_constraints

    W = cp.Variable(inst.n)
    rows = [_objective(inst, k, W) >= e for k, e in spec.get("constraints", [])]
    if spec["method"] == "chebyshev":
        cheb, t = spec["chebyshev"], cp.Variable()
        rows += [cheb["scale"][k] * (cheb["reference"][k] - _objective(inst, k, W)) <= t for k in cheb["reference"]]
        objective = -t + cheb["rho"] * sum(cheb["scale"][k] * _objective(inst, k, W) for k in cheb["reference"])

        def value(x):
            shortfall = max(cheb["scale"][k] * (cheb["reference"][k] - _objective(inst, k, x)) for k in cheb["reference"])
            return -shortfall + cheb["rho"] * sum(cheb["scale"][k] * _objective(inst, k, x) for k in cheb["reference"])
    else:
        kappa = spec.get("kappa", 0.0)
        objective = sum((w * _objective(inst, k, W) for k, w in spec.get("weights", {}).items()), cp.Constant(0.0))
        if kappa > 0:
            objective = objective + kappa * cp.sum(cp.log(inst.u0 + cp.multiply(inst.g, W))) / inst.n

        def value(x):
            v = sum(w * _objective(inst, k, x) for k, w in spec.get("weights", {}).items())
            return v + (kappa * float(np.mean(np.log(inst.u0 + inst.g * x))) if kappa > 0 else 0.0)
    if key is not None and ("scalarised", *key) in _OPTIMA:
        return _OPTIMA["scalarised", *key], float(value(W_mine))
    problem = cp.Problem(cp.Maximize(objective), spec_constraints(inst, W) + rows)
    try:
        problem.solve(solver="CLARABEL" if spec.get("kappa", 0.0) > 0 else "HIGHS")
    except cp.error.SolverError:
        # Clarabel gives up on a few badly scaled mutants (weights 1e-4 beside 3): SCS, a second conic
        # solver, run to a tight tolerance, answers them (its optimum agrees with ours to 1e-12 on the one seen).
        problem.solve(solver="SCS", eps=1e-10, max_iters=200_000)
    if key is not None:
        _OPTIMA["scalarised", *key] = float(problem.value)
    return float(problem.value), float(value(W_mine))


def _close(a, b, rel: float = 1e-8) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], rel) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= rel * max(abs(a), abs(b))
    return a == b


@settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
@given(mutated())
def test_mutated_certificate_is_refused_with_a_code_or_still_true(case):
    name, cert = case
    try:
        verify_certificate(cert)
    except CertificateError as e:
        assert e.code in CODES, e.code
        return
    _claim_still_true(name, BASES[name], cert)


def test_a_solver_call_that_hits_its_time_limit_says_so(gen_problem, monkeypatch):
    from coopchain.models import formulation

    monkeypatch.setattr(formulation, "SOLVER_TIME_LIMIT", 1e-9)
    solution = solve(parse_problem(gen_problem.generate(n=2000, seed=2)), "F1")
    assert not solution.success and "time limit" in solution.message


def test_embedded_problem_with_a_repeated_id_is_refused(f1_cert):
    doc = json.loads(problem_text(f1_cert))
    doc["enterprises"][1]["id"] = doc["enterprises"][0]["id"]
    refused(rehash(f1_cert, json.dumps(doc, separators=(",", ":"), sort_keys=True)), "invalid_problem")


@pytest.mark.parametrize("seed, alpha", [(1, "uniform"), (2, "general")])
def test_the_verifiers_canonical_writer_is_the_problem_models(gen_problem, seed, alpha):
    """models.problem_rules writes the canonical text from columns; it must be models.problem's, byte for byte,
    on awkward text and numbers too (models.problem's is checked against rfc8785 by tests/models/test_problem.py)."""
    from coopchain.models.problem import canonical_json
    from coopchain.models.problem_rules import canonical_problem_text, read_canonical

    doc = gen_problem.generate(n=30, seed=seed, alpha=alpha)
    doc["cooperative"] = 'quote " backslash \\ newline \n \u2028 \U0001F600 ü'
    doc["indicators"] = {"\U0001F600": 0.1, "\uFB01": 0.2, "é": 1e-7, "z{0}": 123.456}
    for j, e in enumerate(doc["enterprises"]):
        e["benefit"] = {k: [1e-7, 1.5e-5, 1e15, 5e-324, 0.1, 0.0][(j + i) % 6] for i, k in enumerate(doc["indicators"])}
        if "cap" in e:  # an enterprise's own cap is not bounded: the large doubles go there
            e["cap"]["r0"] = [2.0**53 + 2, 1e21, 1.2345e17, 1e16][j % 4]
        e["name"] = f"n{j} \t {{x}}" if j % 3 else None
        if j % 4 == 0:
            e.pop("cap", None)
    doc["enterprises"] = [{k: v for k, v in e.items() if v is not None} for e in doc["enterprises"]]
    text = canonical_json(parse_problem(doc))
    assert canonical_problem_text(read_canonical(json.loads(text))) == text


def test_es_number_is_rfc8785s_number_form():
    import random
    import struct

    import rfc8785

    from coopchain.models.strict_json import es_number

    rng = random.Random(10)
    xs = [1e-7, 1e-6, 1.5e-6, 1e21, 1e22, 123456789012345680000.0, 5e-324, 1.7976931348623157e308, -0.5, 100.0]
    xs += [struct.unpack("d", rng.getrandbits(64).to_bytes(8, "little"))[0] for _ in range(20_000)]
    xs += [m * 10.0**e for e in range(-25, 25) for m in (1.0, 1.5, 123.0)]
    for x in xs:
        if math.isfinite(x):
            assert es_number(x) == rfc8785.dumps(x).decode(), x
