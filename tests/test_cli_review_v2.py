"""`coopchain verify` and `solve` against the review of certificate v2 (R-1, R-4, R-8, R-9, R-10): a verdict with
its code, or a clear error, never a traceback and never "valid" for a problem the certificate does not prove."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT
from tests.test_cli import coopchain

REVIEW = ROOT / "tests" / "data" / "certificates" / "review2"
VALID = ROOT / "tests" / "data" / "certificates" / "valid"


def no_traceback(run):
    assert "Traceback" not in run.stderr + run.stdout, run.stderr


def test_R1_solve_of_a_problem_whose_caps_sum_past_the_largest_double_is_an_error_not_a_traceback():
    run = coopchain("solve", REVIEW / "fsum_overflow.problem.json", "--objective", "F1")
    no_traceback(run)
    assert run.returncode != 0 and "largest magnitude" in run.stderr + run.stdout


def test_R1_verify_names_the_invalid_problem():
    run = coopchain("verify", REVIEW / "fsum_overflow.cert.json", "--problem", REVIEW / "fsum_overflow.problem.json")
    no_traceback(run)
    assert run.returncode == 3 and run.stdout.rstrip().endswith("[invalid_problem]"), run.stdout


def test_R4_a_v1_certificate_with_another_problem_named_is_not_valid(tmp_path):
    run = coopchain("verify", REVIEW / "v1_f1_uniform.json", "--problem", REVIEW / "green_valley.problem.json")
    assert run.returncode == 3 and run.stdout.rstrip().endswith("[hash_mismatch]"), run.stdout
    run = coopchain("verify", REVIEW / "solve_output_v1_cert_other_problem_text.json")
    assert run.returncode == 3 and run.stdout.rstrip().endswith("[hash_mismatch]"), run.stdout
    run = coopchain("verify", REVIEW / "v1_f1_uniform.json")  # alone, it proves its own embedded problem
    assert run.returncode == 0 and run.stdout.startswith("valid:"), run.stdout


def test_R8_a_problem_document_with_a_duplicated_key_is_refused(tmp_path):
    doc = (REVIEW / "green_valley_duplicate_key.json").read_text()
    assert '"max": 900, "max": 620' in doc  # a reader taking the first value sees 900; json.loads takes 620
    run = coopchain("verify", REVIEW / "gv_f1.cert.json", "--problem", REVIEW / "green_valley_duplicate_key.json")
    no_traceback(run)
    assert run.returncode == 3 and run.stdout.rstrip().endswith("[duplicate_key]") and '"max"' in run.stdout, run.stdout
    # the same document without the duplicate, as a manager wrote it (not canonical), still verifies
    fixed = tmp_path / "green_valley.json"
    fixed.write_text(doc.replace('"max": 900, "max": 620', '"max": 620'))
    run = coopchain("verify", REVIEW / "gv_f1.cert.json", "--problem", fixed)
    assert run.returncode == 0 and run.stdout.startswith("valid:"), run.stdout + run.stderr


@pytest.mark.parametrize("command", ["verify", "solve"])
def test_R9_an_integer_of_5000_digits_is_a_clear_refusal(command):
    problem = REVIEW / "bigint.problem.json"
    assert max(map(len, re.findall(r"[0-9]+", problem.read_text()))) == 5000
    args = (["verify", VALID / "v2_f1_uniform.json", "--problem", problem] if command == "verify"
            else ["solve", problem, "--objective", "F1"])
    run = coopchain(*args)
    no_traceback(run)
    assert run.returncode != 0
    if command == "verify":
        assert run.stdout.rstrip().endswith("[too_large]"), run.stdout


@pytest.mark.parametrize("name, words", [
    ("bundle_extra_list.json", "'extra' must be an object"),
    ("bundle_extra_string.json", "'extra' must be an object"),
    ("bundle_extra_surrogate.json", "lone UTF-16 surrogate"),
])
def test_R10_a_bundle_whose_extra_is_not_the_problem_object_is_invalid_with_a_sentence(name, words):
    run = coopchain("verify", REVIEW / "bundle.json")
    assert run.returncode == 0 and run.stdout.startswith("valid:"), run.stdout + run.stderr  # the untouched bundle
    run = coopchain("verify", REVIEW / name)
    no_traceback(run)
    assert run.returncode == 3 and words in run.stdout, run.stdout + run.stderr
