"""General α: the pieces' bounds are computed side by side in threads from `_PIECES_IN_THREADS` enterprises
on, and the verdict must be the one a piece-by-piece reading gives (the first failing piece, a malformed piece
only after the pieces before it were checked), whether threads are used or not."""

from __future__ import annotations

import copy
import json

import pytest

from coopchain.models import certificate_verify as cv
from coopchain.models.certificate import CertificateError
from coopchain.models.problem import parse_problem
from coopchain.models.solve import solve


@pytest.fixture(scope="module")
def solved(gen_problem):
    n = cv._PIECES_IN_THREADS + 1000  # the threaded path
    solution = solve(parse_problem(gen_problem.generate(n, 3, 3, 11, "general")), "F2")
    assert solution.success, solution.message
    document = solution.as_json()
    cert = document["certificate"]
    assert len(cert["pieces"]) >= 4
    return cert, document["problem_text"]


def verdict(cert: dict, problem: str, threaded: bool, monkeypatch) -> tuple:
    monkeypatch.setattr(cv, "_PIECES_IN_THREADS", 0 if threaded else 10**9)
    try:
        v = cv.verify(json.loads(json.dumps(cert)), problem)
    except CertificateError as e:
        return ("refused", e.code, str(e))
    return ("valid", v.proven, v.bound, v.gap)


def test_a_valid_certificate_gets_the_same_verdict_with_and_without_threads(solved, monkeypatch):
    cert, problem = solved
    threaded, alone = verdict(cert, problem, True, monkeypatch), verdict(cert, problem, False, monkeypatch)
    assert threaded[0] == "valid"
    assert threaded == alone


def test_the_first_wrong_piece_is_named_before_a_later_malformed_one(solved, monkeypatch):
    cert, problem = solved
    bad = copy.deepcopy(cert)
    bad["pieces"][1]["bound"] = bad["pieces"][1]["bound"] * 1.5 + 1.0
    bad["pieces"][3]["tau"] = -1.0
    for threaded in (True, False):
        kind, code, message = verdict(bad, problem, threaded, monkeypatch)
        assert (kind, code) == ("refused", "bound_mismatch")
        assert "pieces[1].bound" in message


def test_a_malformed_piece_is_named_once_the_pieces_before_it_hold(solved, monkeypatch):
    cert, problem = solved
    bad = copy.deepcopy(cert)
    bad["pieces"][3]["tau"] = -1.0
    bad["pieces"][4]["bound"] = bad["pieces"][4]["bound"] * 1.5 + 1.0  # after the malformed piece: never reached
    for threaded in (True, False):
        kind, code, message = verdict(bad, problem, threaded, monkeypatch)
        assert (kind, code) == ("refused", "malformed")
        assert message.startswith("pieces[3].tau")


def test_a_non_finite_piece_bound_is_refused_in_its_turn(solved, monkeypatch):
    cert, problem = solved
    bad = copy.deepcopy(cert)
    bad["pieces"][2]["multipliers"] = [1e300] * len(bad["pieces"][2]["multipliers"])
    results = {verdict(bad, problem, threaded, monkeypatch) for threaded in (True, False)}
    assert len(results) == 1
    (kind, code, message), = results
    assert kind == "refused" and "pieces[2]" in message


def test_the_callers_numpy_error_state_reaches_the_threads(solved, monkeypatch):
    """numpy's error state is per context: the pieces' threads run in a copy of the caller's."""
    import warnings

    import numpy as np

    cert, problem = solved
    bad = copy.deepcopy(cert)
    bad["pieces"][0]["s"][0] = 5e-324  # inf·0 inside the piece's log terms
    for threaded in (True, False):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with np.errstate(all="ignore"):
                kind, code, message = verdict(bad, problem, threaded, monkeypatch)
        assert (kind, code) == ("refused", "non_finite") and message.startswith("pieces[0]")


@pytest.mark.parametrize("legacy", [True, False])
def test_log_terms_keeps_the_bits_of_the_formula_as_written(solved, legacy):
    """A receipt of allocation contract v1 may show a bound's float: its value and error bound (which decides
    whether it is shown) are those of the documented per-enterprise formula, summed as one array, with numpy's
    log as v1 had it (`legacy`), or with the portable log the verifier uses otherwise."""
    import numpy as np

    from coopchain.models import portable_float as pf

    log = np.log if legacy else pf.log
    token = cv._LEGACY.set(legacy)
    try:
        _compare_log_terms(solved, log)
    finally:
        cv._LEGACY.reset(token)


def _compare_log_terms(solved, log):
    import numpy as np

    from coopchain.models import exact as ex

    cert, problem = solved
    inst = cv.proven_problem(cv.problem_hash_of(problem), problem).instance
    lo, hi, xmax = cv._float_box(inst)
    rng = np.random.default_rng(5)
    for scale in (1e-6, 1e-3, 1.0, 10.0):
        k = rng.uniform(0, scale, inst.n)
        k_err = np.abs(k) * 1e-15
        got = cv.log_terms(k, k_err, inst, lo, hi, xmax)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            U_hi, U_lo = inst.u0 + inst.g * hi, inst.u0 + inst.g * lo
            inner = np.clip((inst.g / k - inst.u0) / inst.g, lo, hi)
            W = np.where(inst.g >= k * U_hi, hi, np.where(inst.g <= k * U_lo, lo, inner))
        gW = inst.g * W
        U = inst.u0 + gW
        terms = log(U) - k * W
        cond = (np.abs(inst.u0) + np.abs(gW)) / U
        u = ex.UNIT
        per = (3 * u * (np.abs(inst.u0) + np.abs(gW)) / U + ex.LIBM_RELATIVE * np.abs(log(U)) + ex.TINY
               + k_err * np.abs(W) + u * np.abs(k * W) + 2 * u * xmax * (np.abs(inst.g) / U + np.abs(k)) + 8 * u**2 * (1 + cond) ** 2)
        mag = float(np.abs(terms).sum())
        want = (float(terms.sum()), ex.SAFETY * (float(per.sum()) + ex.summation_error(inst.n, mag)), mag)
        assert [x.hex() for x in got] == [x.hex() for x in want]
