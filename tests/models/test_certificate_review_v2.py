"""Regression tests for the adversarial review of certificate format v2 (R-1 … R-12).

The reviewer's reproducers are the fixtures in tests/data/certificates/review2/.  Independent
references: a bracket counter and a first-wins JSON reading written here, hashes computed here.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from coopchain.models import certificate_verify as cv
from coopchain.models.certificate import CertificateError, verify_certificate, verify_certificate_text
from coopchain.models.strict_json import MAX_DEPTH, StrictJsonError, loads, loads_fast, nesting_depth

REVIEW = Path(__file__).resolve().parents[1] / "data" / "certificates" / "review2"


def review(name: str) -> str:
    return (REVIEW / name).read_text(encoding="utf-8")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def code_of(f) -> str:
    try:
        f()
    except CertificateError as e:
        return e.code
    return "valid"


def at_stack_depth(extra: int, f):
    """``f()`` called ``extra`` Python frames deeper than here."""
    return f() if extra == 0 else at_stack_depth(extra - 1, f)


def reference_depth(text: str) -> int:
    """Nesting depth by a character-by-character scan (the test's own reference)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


# -- nesting is refused by a count of brackets, never by the interpreter's stack --------------


def _nested_certificate(d: int) -> tuple[str, str]:
    base = json.loads(review("gv_f1.json"))
    cert = dict(base["certificate"])
    cert["values"] = {**cert["values"], "class": "@@"}
    return json.dumps(cert).replace('"@@"', "[" * d + "]" * d), base["problem_text"]


@pytest.mark.parametrize("text", [
    '{"a": "[[[[", "b": [[{"c": "\\"]]"}]]}',
    '["\\\\", [["]"]]]',
    "[" * 70 + "]" * 70,
    '{"k": "' + "{" * 100 + '"}',
    "[]",
    '"plain"',
])
def test_R6_nesting_depth_counts_brackets_outside_strings(text):
    assert min(nesting_depth(text), MAX_DEPTH) == min(reference_depth(text), MAX_DEPTH)
    if reference_depth(text) > MAX_DEPTH:
        assert nesting_depth(text) == reference_depth(text)


def test_R6_nesting_depth_agrees_with_the_reference_on_random_json():
    """Strings full of brackets, quotes and backslashes (escaped by json.dumps), ASCII-escaped or not."""
    import random

    rng = random.Random(2)
    chars = '[]{}"\\a,:\u00e9\u2028'

    def value(d):
        r = rng.random()
        if d > 6 or r < 0.3:
            return "".join(rng.choice(chars) for _ in range(rng.randint(0, 8)))
        if r < 0.6:
            return [value(d + 1) for _ in range(rng.randint(0, 3))]
        return {"".join(rng.choice(chars) for _ in range(rng.randint(0, 4))): value(d + 1) for _ in range(rng.randint(0, 3))}

    for _ in range(3000):
        v = value(0)
        for text in (json.dumps(v), json.dumps(v, ensure_ascii=False)):
            assert nesting_depth(text) == reference_depth(text), text


def test_R6_nesting_depth_agrees_with_the_reference_with_many_strings_and_one_huge_one():
    """Both ways of placing brackets: many strings (each bracket by the quotes before it) and few (the text between
    strings scanned alone), as in a solve's output whose problem is one long escaped string."""
    import random

    rng = random.Random(5)
    chars = '[]{}"\\a'
    many = [["".join(rng.choice(chars) for _ in range(rng.randint(0, 6))), [rng.random()], {"k": "]"}] for _ in range(12_000)]
    inner = json.dumps({"enterprises": [{"id": f"e{j}", "use": {"r": [j]}} for j in range(3000)]})
    for v in (many, {"problem_text": inner, "deep": [[[["x"]]]], "allocation": [1.5] * 100}, [inner, '\\"[', [inner]]):
        for text in (json.dumps(v), json.dumps(v, ensure_ascii=False)):
            assert nesting_depth(text) == reference_depth(text)
    long_run = '["' + "\\" * 40 + '", [[[1]]], "' + "\\" * 41 + '\"[[["]'  # runs of backslashes past the stepwise count
    assert nesting_depth(long_run) == reference_depth(long_run)


@pytest.mark.parametrize("reader", [loads, loads_fast])
def test_R6_strict_json_refuses_nesting_past_the_fixed_depth_at_any_stack_depth(reader):
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert reference_depth(ok) == MAX_DEPTH
    reader(ok)
    for d in (MAX_DEPTH + 1, 900, 5000):
        deep = "[" * d + "]" * d
        for extra in (0, 200, 600):
            with pytest.raises(StrictJsonError) as e:
                at_stack_depth(extra, lambda: reader(deep))
            assert e.value.code == "too_large" and f"deeper than {MAX_DEPTH}" in str(e.value)


def test_R6_a_deep_certificate_gets_one_verdict_whatever_the_callers_stack_depth():
    """The reviewer's certificate: values.class nested d deep gave value_mismatch at the top level and too_large
    200 frames deeper (d = 900), so block production and replay recorded different receipts."""
    for d in (MAX_DEPTH + 1, 900, 950, 990):
        text, problem = _nested_certificate(d)
        assert reference_depth(text) == d + 2  # the certificate object, then values
        codes = {at_stack_depth(extra, lambda: code_of(lambda: verify_certificate_text(text, problem))) for extra in (0, 50, 200, 700)}
        assert codes == {"too_large"}, (d, codes)
    text, problem = _nested_certificate(MAX_DEPTH - 2)  # at the limit: read, then refused for its value
    assert reference_depth(text) == MAX_DEPTH
    codes = {at_stack_depth(extra, lambda: code_of(lambda: verify_certificate_text(text, problem))) for extra in (0, 700)}
    assert len(codes) == 1 and codes != {"too_large"}


def test_R6_chain_decoding_refuses_deep_nesting_with_one_message_at_any_stack_depth():
    from coopchain.chain.encoding import MAX_DEPTH as CHAIN_DEPTH
    from coopchain.chain.encoding import decode
    from coopchain.chain.errors import EncodingError

    decode(("[" * CHAIN_DEPTH + "]" * CHAIN_DEPTH).encode())
    for d in (CHAIN_DEPTH + 1, 900, 990, 5000):
        data = ("[" * d + "]" * d).encode()
        messages = set()
        for extra in (0, 300, 800):
            with pytest.raises(EncodingError) as e:
                at_stack_depth(extra, lambda: decode(data))
            messages.add(str(e.value))
        assert messages == {f"arrays and objects nest deeper than {CHAIN_DEPTH} levels"}
    # brackets inside a string do not nest
    assert decode(json.dumps({"k": "[" * 2000}, separators=(",", ":")).encode()) == {"k": "[" * 2000}


# -- sums of numbers near 1.8e308 are never computed for a document refused for its magnitudes ---------


@pytest.mark.parametrize("name", ["fsum_overflow.problem.json", "fsum_overflow_alpha.problem.json"])
def test_R1_a_problem_whose_caps_or_alphas_sum_past_the_largest_double_is_invalid_not_a_traceback(name):
    from coopchain.models.problem_rules import MAX_MAGNITUDE

    text = review(name)
    doc = json.loads(text)
    huge = [x for e in doc["enterprises"] for x in (e["max"], e["alpha"]) if x > MAX_MAGNITUDE]
    assert len(huge) >= 2 and sum(huge) == float("inf")  # the document's own numbers overflow a double when summed
    with pytest.raises(CertificateError) as e:
        cv.proven_problem(sha(text), text)  # the contract's path, outside verify_certificate's net
    assert e.value.code == "invalid_problem" and "largest magnitude" in str(e.value)


def test_R1_the_reviewers_certificate_is_refused_as_invalid_problem():
    text = review("fsum_overflow.problem.json")
    cert = review("fsum_overflow.cert.json")
    assert json.loads(cert)["problem_hash"] == sha(text)
    assert code_of(lambda: verify_certificate_text(cert, text)) == "invalid_problem"


# -- a volume that reads as ±inf is infeasible, never an OverflowError ----------------------------------


@pytest.mark.parametrize("volume", [float("inf"), float("-inf"), float("nan")])
def test_R2_check_feasible_refuses_a_non_finite_volume_as_infeasible(volume):
    out = json.loads(review("gv_f1.json"))
    proven = cv.proven_problem(sha(out["problem_text"]), out["problem_text"])
    W = [float(w) for w in out["certificate"]["allocation"]]
    W[1] = volume
    import numpy as np

    with pytest.raises(CertificateError) as e:
        cv.check_feasible(proven.instance, np.array(W))
    assert e.value.code == "infeasible" and proven.instance.ids[1] in str(e.value)


# -- the fast reader keeps the generic reader's limits ---------------------------------------------------


def test_R3_more_than_256_indicators_are_too_large_for_both_readers():
    from coopchain.models.problem_text import read_canonical_text

    text = review("many_indicators_300.problem.json")
    assert len(json.loads(text)["indicators"]) == 300 > cv.MAX_NAMES == 256
    assert read_canonical_text(text) is None  # the fast reader does not vouch for it
    with pytest.raises(CertificateError) as e:
        cv.read_problem(text)
    assert e.value.code == "too_large" and "300 indicators" in str(e.value)
    cert = review("mi300.cert.json")
    assert json.loads(cert)["problem_hash"] == sha(text)
    assert code_of(lambda: verify_certificate_text(cert, text)) == "too_large"


def test_R3_many_names_are_refused_before_a_pattern_per_name_is_built():
    from coopchain.models import problem_text

    doc = json.loads(review("many_indicators_300.problem.json"))
    names = {f"k{i:06d}": 1 for i in range(20_000)}
    doc["indicators"] = names
    for e in doc["enterprises"]:
        e["benefit"] = dict.fromkeys(names, 0)
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    problem_text._enterprise_pattern.cache_clear()
    assert problem_text.read_canonical_text(text) is None
    assert problem_text._enterprise_pattern.cache_info().misses == 0  # no regex of 20,000 groups was compiled
    with pytest.raises(CertificateError) as e:
        cv.read_problem(text)
    assert e.value.code == "too_large"


# -- a problem named beside a v1 certificate must be the one it embeds ----------------------------------


def test_R4_a_v1_certificate_given_another_problem_is_hash_mismatch():
    cert = review("v1_f1_uniform.json")
    other = review("green_valley.problem.json")
    embedded = json.loads(cert)["problem"]
    assert sha(embedded) == json.loads(cert)["problem_hash"] != sha(other)
    assert code_of(lambda: verify_certificate_text(cert, other)) == "hash_mismatch"
    assert code_of(lambda: verify_certificate_text(cert, embedded)) == "valid"
    assert code_of(lambda: verify_certificate_text(cert)) == "valid"  # v1 embeds its problem


def test_R4_a_solve_output_whose_problem_text_is_another_problem_is_refused():
    document = json.loads(review("solve_output_v1_cert_other_problem_text.json"))
    cert = document["certificate"]
    assert sha(document["problem_text"]) != cert["problem_hash"]
    verified = verify_certificate(cert)  # the certificate alone proves its own (embedded) problem
    with pytest.raises(CertificateError) as e:
        cv.check_solve_output(document, cert, verified)
    assert e.value.code == "hash_mismatch"
    assert code_of(lambda: verify_certificate(cert, document["problem_text"])) == "hash_mismatch"


# -- a verdict depends on the arguments, never on what the process proved before ------------------------


def test_R7_a_bare_v2_certificate_is_problem_missing_even_when_its_problem_was_proven_before():
    out = json.loads(review("gv_f1.json"))
    cert, text = out["certificate"], out["problem_text"]
    assert code_of(lambda: verify_certificate(cert)) == "problem_missing"
    assert code_of(lambda: verify_certificate(cert, text)) == "valid"
    assert sha(text) in cv._PROBLEMS  # kept as a memo ...
    assert code_of(lambda: verify_certificate(cert)) == "problem_missing"  # ... which decides nothing


def test_R7_a_proven_problem_handle_stands_for_its_text_and_only_for_its_own_hash():
    out = json.loads(review("gv_f1.json"))
    cert, text = out["certificate"], out["problem_text"]
    handle = cv.proven_problem(sha(text), text)
    assert code_of(lambda: verify_certificate(cert, handle)) == "valid"
    v1 = json.loads(review("v1_f1_uniform.json"))  # another problem's handle
    other_handle = cv.proven_problem(v1["problem_hash"], v1["problem"])
    assert other_handle.digest != cert["problem_hash"]
    assert code_of(lambda: verify_certificate(cert, other_handle)) == "hash_mismatch"


def test_a_problem_decoded_from_its_bytes_is_verified_with_those_bytes_and_their_hash_only():
    """`decode_problem` (the command line's reading of a problem file) hands its bytes and SHA-256 to the next
    verification of that very str: the same verdicts as a text given directly, and another str (equal or not)
    is encoded and hashed itself."""
    base = json.loads(review("gv_f1.json"))
    cert, text = base["certificate"], base["problem_text"]
    data = text.encode("utf-8")
    decoded, digest = cv.decode_problem(data)
    assert decoded == text and digest == hashlib.sha256(data).hexdigest() == cert["problem_hash"]
    cv._PROBLEMS.clear()
    assert code_of(lambda: verify_certificate(cert, decoded)) == "valid"
    altered = data.replace(b'"round":"', b'"round":"x', 1)
    other, other_digest = cv.decode_problem(altered)
    assert other_digest == hashlib.sha256(altered).hexdigest() != cert["problem_hash"]
    assert code_of(lambda: verify_certificate(cert, other)) == "hash_mismatch"
    cv.decode_problem(altered)  # remembered for `other`'s object, then a different str (the valid text) verified
    cv._PROBLEMS.clear()
    assert code_of(lambda: verify_certificate(cert, "".join(text))) == "valid"
    cv.decode_problem(data)  # remembered for a str equal to the text; a different, altered str is not taken for it
    assert code_of(lambda: verify_certificate(cert, altered.decode("utf-8"))) == "hash_mismatch"
    with pytest.raises(UnicodeDecodeError):
        cv.decode_problem(b'{"x":"\xff"}')
    big = b'{"k":"' + "é".encode("utf-8") * (1 << 20) + b'"}'  # past 1 MiB: hashed in a helper thread
    assert cv.decode_problem(big) == (big.decode("utf-8"), hashlib.sha256(big).hexdigest())
    with pytest.raises(UnicodeDecodeError):
        cv.decode_problem(big[:-3] + b"\xff" + big[-2:])


def test_a_solve_outputs_allocation_is_the_certificates_in_its_order_and_values():
    """check_solve_output compares the output's {id: W} with the proven allocation as its keys and values in
    order: what dict equality plus key order says (a reference written here), for each edit."""
    out = json.loads(review("gv_f1.json"))
    cert = out["certificate"]
    verified = verify_certificate(cert, out["problem_text"])
    ids = list(out["allocation"])
    proven = dict(zip(ids, cert["allocation"]))
    edits = {
        "same": dict(out["allocation"]),
        "ints where whole": {k: (int(w) if float(w).is_integer() else w) for k, w in out["allocation"].items()},
        "reordered": dict(reversed(list(out["allocation"].items()))),
        "one volume changed": {**out["allocation"], ids[1]: out["allocation"][ids[1]] + 1e-9},
        "one more id": {**out["allocation"], "e99": 0.0},
        "one id fewer": {k: w for k, w in out["allocation"].items() if k != ids[-1]},
        "a list": list(out["allocation"].values()),
    }
    assert any(float(w).is_integer() for w in cert["allocation"])  # the int edit is an edit
    for name, allocation in edits.items():
        reference = "valid" if isinstance(allocation, dict) and allocation == proven and list(allocation) == ids else "output_mismatch"
        assert code_of(lambda: cv.check_solve_output({**out, "allocation": allocation}, cert, verified)) == reference, name
    assert verified.allocation == proven and list(verified.allocation) == ids


def test_R6_nesting_depth_short_path_agrees_on_any_text_without_a_backslash(monkeypatch):
    """Short texts without a backslash are scanned by splitting at quotes (models.strict_json._short_depth):
    on any such text, JSON or not (unbalanced quotes and brackets, non-ASCII, a lone surrogate), the depth
    is the reference scan's and the vectorised path's."""
    import random

    from coopchain.models import strict_json

    rng = random.Random(11)
    chars = '[]{}"a,:\u00e9\u2028\ud800 '
    texts = ["".join(rng.choice(chars) for _ in range(rng.randint(0, 120))) for _ in range(4000)]
    texts += ['"' + "[" * 80, "[" * 80 + '"', '{"a": "]]]]"' + "[" * 70, "]" * 5 + "[" * 3, '"""[[["]]]']
    texts.append(json.dumps({"bids": [[{"price": 0.05, "quantity": 2}, {"price": 0.02, "quantity": 3}]] * 24, "inflexible_load": [1] * 24}))
    short = [nesting_depth(t) for t in texts]
    monkeypatch.setattr(strict_json, "_SHORT_TEXT", -1)  # every text by the vectorised path
    assert short == [reference_depth(t) for t in texts] == [nesting_depth(t) for t in texts]
