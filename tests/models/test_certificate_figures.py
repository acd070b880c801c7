"""A refusal's sentence shows recomputed numbers the same on every machine (SPEC §4: the sentence is in the
receipt): 12 significant digits from the double-double interval or the exact value, never the float filter's
estimate, whose last bits depend on the BLAS and the platform's libm.  A machine whose BLAS sums in another
order is played here by moving every float estimate one ulp."""

from __future__ import annotations

import copy
import json
import re
from fractions import Fraction

import numpy as np
import pytest

from coopchain.models import certificate_verify as cv
from coopchain.models.certificate import CertificateError
from coopchain.models.problem import parse_problem
from coopchain.models.solve import solve


@pytest.fixture(scope="module")
def outputs(sample_document, gen_problem):
    out = {}
    for objective in ("F1", "F3"):
        out[objective] = solve(parse_problem(copy.deepcopy(sample_document)), objective).as_json()
    out["F2-general"] = solve(parse_problem(gen_problem.generate(300, 3, 3, 4, "general")), "F2").as_json()
    return json.loads(json.dumps(out))


class _Elsewhere(cv.Estimate):
    """An estimate as another BLAS could have computed it: one ulp up (well within its error bound)."""

    def __post_init__(self):
        object.__setattr__(self, "value", float(np.nextafter(self.value, np.inf)))
        super().__post_init__()


def refusal(cert: dict, problem: str, *, elsewhere: bool = False, legacy: bool = False, monkeypatch=None) -> tuple[str, str]:
    if elsewhere:
        monkeypatch.setattr(cv, "Estimate", _Elsewhere)
    try:
        cv.verify(json.loads(json.dumps(cert)), problem, legacy=legacy)
    except CertificateError as e:
        return e.code, str(e)
    finally:
        if elsewhere:
            monkeypatch.undo()
    raise AssertionError("the certificate was accepted")


def wrong(outputs, case: str, edit) -> tuple[dict, str]:
    cert = copy.deepcopy(outputs[case]["certificate"])
    edit(cert)
    return cert, outputs[case]["problem_text"]


CASES = {
    "F1 value": ("F1", lambda c: c["values"].__setitem__("F1", c["values"]["F1"] * 1.01), "value_mismatch"),
    "F3 value": ("F3", lambda c: c["values"].__setitem__("F3", c["values"]["F3"] * 0.99), "value_mismatch"),
    "F1 bound": ("F1", lambda c: c.__setitem__("bound", c["bound"] * 1.01), "bound_mismatch"),
    "F1 gap": ("F1", lambda c: c.__setitem__("gap", 0.25), "gap_mismatch"),
    "F2 value": ("F2-general", lambda c: c["values"].__setitem__("F2", c["values"]["F2"] * 0.999), "value_mismatch"),
    "F2 piece": ("F2-general", lambda c: c["pieces"][0].__setitem__("bound", c["pieces"][0]["bound"] + 0.01), "bound_mismatch"),
}


@pytest.mark.parametrize("name", CASES)
def test_a_refusals_figure_is_the_same_whatever_the_float_estimate(outputs, name, monkeypatch):
    case, edit, code = CASES[name]
    cert, problem = wrong(outputs, case, edit)
    here = refusal(cert, problem)
    assert here[0] == code
    assert refusal(cert, problem, elsewhere=True, monkeypatch=monkeypatch) == here
    shown = re.search(r"but it is (\S+)$", here[1]).group(1)
    assert len(shown.lstrip("-").replace(".", "").lstrip("0").split("e")[0]) <= cv.FIGURE_DIGITS


def test_allocation_contract_v1s_figure_moved_with_the_estimate(outputs, monkeypatch):
    """Why version 2 exists: the legacy figure is the float estimate itself, so another BLAS writes another
    sentence into the receipt."""
    cert, problem = wrong(outputs, "F1", CASES["F1 value"][1])
    legacy = refusal(cert, problem, legacy=True)
    assert legacy[0] == "value_mismatch"
    assert refusal(cert, problem, legacy=True, elsewhere=True, monkeypatch=monkeypatch) != legacy


def test_the_figure_is_the_exact_value_to_twelve_digits(outputs):
    """F1 = Σ_j (Σ_k a_k e_jk) W_j, in exact arithmetic here: the figure shown is it, to 12 significant digits."""
    cert, problem = wrong(outputs, "F1", CASES["F1 value"][1])
    doc = json.loads(problem)
    weights = {k: Fraction(v) for k, v in doc["indicators"].items()}
    exact = sum((sum((weights[k] * Fraction(e["benefit"][k]) for k in weights), Fraction(0)) * Fraction(w)
                 for e, w in zip(doc["enterprises"], cert["allocation"])), Fraction(0))
    _, message = refusal(cert, problem)
    shown = float(re.search(r"but it is (\S+)$", message).group(1))
    assert shown == float(f"{float(exact):.12g}")


def test_a_gap_over_the_limit_shows_a_figure_that_does_not_move(outputs, monkeypatch):
    """Weaker multipliers, with the bound and gap they truly give (read from the verifier's own refusals):
    the gap exceeds the limit, and the sentence's gap is the same whatever the float estimate."""
    cert, problem = wrong(outputs, "F1", lambda c: c.__setitem__("multipliers", [x * 1.5 + 0.1 for x in c["multipliers"]]))
    code, message = refusal(cert, problem)
    assert code == "bound_mismatch"
    cert["bound"] = float(re.search(r"but it is (\S+)$", message).group(1))
    cert["gap"] = (cert["bound"] - cert["values"]["F1"]) / cert["bound"]
    here = refusal(cert, problem)
    assert here[0] == "gap_exceeded", here
    assert refusal(cert, problem, elsewhere=True, monkeypatch=monkeypatch) == here
    shown = float(re.search(r"the gap (\S+) exceeds", here[1]).group(1))
    assert shown == pytest.approx(cert["gap"], rel=1e-2)
