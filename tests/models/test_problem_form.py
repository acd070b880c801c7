"""The problem's columns form (models.problem_form): one-to-one with the canonical problem text, refused when altered.

The reference here is the documented layout read by the test itself (json and struct), against the canonical
text read by plain json: no code of models.problem_form decides what it is checked against.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest

from coopchain.models import certificate_verify as cv
from coopchain.models.certificate import CertificateError, columns_certificate, verify_certificate
from coopchain.models.problem_columns import columns_form, load_prepared
from coopchain.models.problem_form import FORM, FormError, encode, looks_like_form, read
from coopchain.models.problem_rules import read_canonical
from coopchain.models.solve import solve
from tests.data.gen_problem import generate
from tests.models.test_problem import DELETE, changed, small


def _utf16(name: str) -> bytes:
    return name.encode("utf-16be")


def _documents() -> dict:
    no_resources = small()
    no_resources["resources"] = {}
    for e in no_resources["enterprises"]:
        e.pop("use"), e.pop("cap", None)
    return {
        "small": small(),  # names on some enterprises, caps on some, alpha left out, indicators not in key order
        "escapes": changed(**{"enterprises.0.name": "Ferme des Prés « Nord »\n", "enterprises.1.id": 'é"\\', "enterprises.1.min": -0.0,
                              "enterprises.2.g": 1e-7, "indicators.tax": 2.5e-5}),
        "no names": changed(**{"enterprises.0.name": DELETE}),
        "no resources": no_resources,
        "generated, general alpha": generate(60, seed=4, alpha="general"),
        "generated, uniform alpha": generate(40, seed=5),
    }


DOCUMENTS = _documents()


def _load(tmp_path, doc):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    return load_prepared(path)


def _layout(form: bytes) -> tuple[dict, list[float]]:
    """The form read by its documentation: a JSON header line, then little-endian doubles."""
    header, _, body = form.partition(b"\n")
    assert len(body) % 8 == 0
    return json.loads(header), list(struct.unpack(f"<{len(body) // 8}d", body))


@pytest.mark.parametrize("name", DOCUMENTS)
def test_the_form_holds_exactly_the_canonical_text(tmp_path, name):
    loaded = _load(tmp_path, DOCUMENTS[name])
    form = columns_form(loaded)
    text = json.loads(loaded.prepared.canonical)
    header, numbers = _layout(form)
    ind, res = sorted(text["indicators"], key=_utf16), sorted(text["resources"], key=_utf16)
    ents = text["enterprises"]
    assert header == {"schema": FORM, "cooperative": text["cooperative"], "round": text["round"], "indicators": ind, "resources": res,
                      "ids": [e["id"] for e in ents], "names": [e.get("name") for e in ents]}
    expected = [text["demand"]["min"], text["demand"]["max"], *(text["indicators"][k] for k in ind),
                *(text["resources"][r]["cap"] for r in res), *(text["resources"][r]["weight"] for r in res)]
    for key in ("min", "max", "u0", "g", "reservation", "alpha"):
        expected += [e[key] for e in ents]
    for k in ind:
        expected += [e["benefit"][k] for e in ents]
    for r in res:
        expected += [e["use"][r] for e in ents]
    for r in res:
        expected += [e["cap"].get(r, math.inf) for e in ents]
    assert numbers == [float(x) for x in expected]
    assert all(math.copysign(1, x) > 0 for x in numbers if x == 0)  # "0" is +0.0, also where the document wrote -0.0
    # Both ways: the form of the canonical text read generically is the same bytes, and reading the form gives them back.
    assert encode(read_canonical(text)) == form == encode(read(form))


def test_the_order_of_a_documents_names_does_not_change_its_form(tmp_path):
    doc = small()
    reordered = dict(doc, indicators=dict(reversed(list(doc["indicators"].items()))), resources=dict(reversed(list(doc["resources"].items()))))
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    assert columns_form(_load(tmp_path / "a", doc)) == columns_form(_load(tmp_path / "b", reordered))


def test_documents_that_differ_only_in_a_name_have_different_forms(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    one = columns_form(_load(tmp_path / "a", small()))
    other = columns_form(_load(tmp_path / "b", changed(**{"enterprises.0.name": "Li family farm "})))
    assert one != other


def _form() -> bytes:
    return encode(read_canonical(json.loads(json.dumps(_canonical_small()))))


def _canonical_small() -> dict:
    from coopchain.models.problem import canonical_json, parse_problem

    return json.loads(canonical_json(parse_problem(small())))


def _replace_header(form: bytes, edit) -> bytes:
    header, _, body = form.partition(b"\n")
    return edit(header) + b"\n" + body


def _set_double(form: bytes, index: int, value: float) -> bytes:
    at = form.index(b"\n") + 1 + 8 * index
    return form[:at] + struct.pack("<d", value) + form[at + 8:]


def _header_member(form: bytes, key: str, value) -> bytes:
    header = json.loads(form.partition(b"\n")[0])
    header[key] = value
    return json.dumps(header, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode() + b"\n" + form.partition(b"\n")[2]


# Layout of small(): K = 3 indicators, R = 2 resources, n = 3 enterprises: the head is 2 + 3 + 4 = 9 doubles, then
# min (9..11), max (12..14), u0, g, reservation, alpha, benefit (3 × 3), use (2 × 3), cap (2 × 3, from 42).
CORRUPTED = {
    "no header line": (lambda f: f.replace(b"\n", b" ", 1), "malformed"),
    "a number short": (lambda f: f[:-8], "not_canonical"),
    "a byte more": (lambda f: f + b"\0", "not_canonical"),
    "NaN": (lambda f: _set_double(f, 10, math.nan), "not_canonical"),
    "negative zero": (lambda f: _set_double(f, 9, -0.0), "not_canonical"),
    "+inf outside a cap": (lambda f: _set_double(f, 13, math.inf), "not_canonical"),
    "-inf in a cap": (lambda f: _set_double(f, 42, -math.inf), "not_canonical"),
    "a space in the header": (lambda f: _replace_header(f, lambda h: h.replace(b'","', b'", "', 1)), "not_canonical"),
    "a text escaped needlessly": (lambda f: _replace_header(f, lambda h: h.replace(b'"test-coop"', b'"\\u0074est-coop"')), "not_canonical"),
    "members out of order": (lambda f: _replace_header(f, lambda h: json.dumps(dict(reversed(json.loads(h).items())), separators=(",", ":")).encode()), "not_canonical"),
    "a member twice": (lambda f: _replace_header(f, lambda h: h[:-1] + b',"round":"2026-Q4"}'), "not_canonical"),
    "a member missing": (lambda f: _header_member(f, "names", None).replace(b'"names":null,', b"", 1), "malformed"),
    "another schema": (lambda f: _header_member(f, "schema", "coopchain/problem-columns/v2"), "malformed"),
    "indicators out of key order": (lambda f: _header_member(f, "indicators", ["tax", "profit", "wages"]), "not_canonical"),
    "an indicator twice": (lambda f: _header_member(f, "indicators", ["profit", "profit", "wages"]), "not_canonical"),
    "names short of the ids": (lambda f: _header_member(f, "names", [None, None]), "malformed"),
    "a name that is a number": (lambda f: _header_member(f, "names", [None, 3, None]), "invalid_problem"),
    "an empty id": (lambda f: _header_member(f, "ids", ["e01", "", "e03"]), "invalid_problem"),
    "a lone surrogate": (lambda f: _replace_header(f, lambda h: h.replace(b'"e01"', b'"\\ud800"')), "not_canonical"),
    "invalid UTF-8": (lambda f: _replace_header(f, lambda h: h.replace(b"test-coop", b"test-co\xff")), "malformed"),
    "a negative benefit": (lambda f: _set_double(f, 27, -1.0), "invalid_problem"),
    "a cooperative cap of 0": (lambda f: _set_double(f, 5, 0.0), "invalid_problem"),
    "no enterprises": (lambda f: _header_member(_header_member(f.partition(b"\n")[0] + b"\n" + f.partition(b"\n")[2][:9 * 8], "ids", []), "names", []), "invalid_problem"),
    "too many indicators": (lambda f: _header_member(f, "indicators", sorted((f"k{i:03}" for i in range(257)), key=_utf16)), "too_large"),
}


@pytest.mark.parametrize("name", CORRUPTED)
def test_a_corrupted_form_is_refused_with_its_code(name):
    corrupt, code = CORRUPTED[name]
    form = _form()
    read(form)  # the form itself is sound
    bad = corrupt(form)
    assert bad != form
    with pytest.raises(FormError) as refused:
        read(bad)
    assert refused.value.code == code, str(refused.value)


def test_the_form_is_found_by_its_first_line():
    form = _form()
    assert looks_like_form(form)
    assert not looks_like_form(json.dumps(_canonical_small()).encode())
    assert not looks_like_form(form.replace(b"\n", b" ", 1))


@pytest.fixture
def certified(tmp_path):
    loaded = _load(tmp_path, generate(50, seed=2, alpha="general"))
    solution = solve(loaded.prepared, "F2")
    form = columns_form(loaded)
    return columns_certificate(solution.certificate, form), form, loaded.prepared.canonical


def test_a_v3_certificate_is_checked_against_its_form_or_its_text(certified):
    cert, form, text = certified
    assert cert["problem_hash"] == hashlib.sha256(form).hexdigest()
    for problem in (form, text):
        cv._PROBLEMS.clear()  # each proven afresh
        assert verify_certificate(cert, problem).problem_hash == cert["problem_hash"]


def test_a_v3_certificate_proves_nothing_about_another_problem(certified, tmp_path):
    cert, form, text = certified
    other = columns_form(_load(tmp_path, generate(50, seed=3, alpha="general")))
    with pytest.raises(CertificateError) as refused:
        verify_certificate(cert, other)
    assert refused.value.code == "hash_mismatch"
    with pytest.raises(CertificateError) as refused:
        verify_certificate(cert)
    assert refused.value.code == "problem_missing"
    with pytest.raises(CertificateError) as refused:
        verify_certificate({**cert, "schema": "coopchain/certificate/v2"}, form)  # a v2 names the text: bytes are not it
    assert refused.value.code == "malformed"


def test_a_form_breaking_the_problem_rules_is_refused_as_the_text_would_be(certified):
    cert, form, _ = certified
    header, numbers = _layout(form)
    n, K, R = len(header["ids"]), len(header["indicators"]), len(header["resources"])
    head = 2 + K + 2 * R
    numbers[head + 2 * n] = 0.99  # u0 of the first enterprise: U = u0 + g·max passes 1
    bad = form.partition(b"\n")[0] + b"\n" + struct.pack(f"<{len(numbers)}d", *numbers)
    with pytest.raises(CertificateError) as refused:
        verify_certificate({**cert, "problem_hash": hashlib.sha256(bad).hexdigest()}, bad)
    assert refused.value.code == "invalid_problem" and "enterprises[0]" in str(refused.value)
    assert np.isfinite(numbers).all()


FROZEN_V3 = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "data" / "certificates" / "valid_v3").glob("*.json"))


@pytest.mark.parametrize("name", FROZEN_V3)
def test_frozen_v3_certificates_stay_valid(name):
    """v3 certificates and their forms as this version wrote them (from the frozen v2 ones): every later version accepts them."""
    folder = Path(__file__).resolve().parents[1] / "data" / "certificates" / "valid_v3"
    cert, form = json.loads((folder / f"{name}.json").read_text()), (folder / f"{name}.problem.bin").read_bytes()
    v2 = json.loads((folder.parent / "valid" / f"v2_{name}.json").read_text())
    assert {k: v for k, v in cert.items() if k not in ("schema", "problem_hash")} == {k: v for k, v in v2.items() if k not in ("schema", "problem_hash")}
    cv._PROBLEMS.clear()
    assert verify_certificate(cert, form).problem_hash == hashlib.sha256(form).hexdigest()
    assert verify_certificate(cert, (folder.parent / "valid" / f"v2_{name}.problem.json").read_text()).objective == v2["objective"]


def test_a_large_form_is_hashed_beside_its_reading(tmp_path):
    """From 1 MiB the form is hashed in a helper thread while it is read: the same digest and problem, and the same refusals."""
    form = columns_form(_load(tmp_path, generate(9000, seed=6)))
    assert len(form) >= 1 << 20
    cv._PROBLEMS.clear()
    proven = cv.proven_form(form)
    assert proven.digest == hashlib.sha256(form).hexdigest() == proven.form_digest() and proven.instance.n == 9000
    with pytest.raises(CertificateError) as refused:
        cv.proven_form(_set_double(form, 20, -1.0))  # an enterprise's minimum below 0
    assert refused.value.code == "invalid_problem"


# -- the adversarial review of the columns form (2026-12-03) ---------------------------------------------


def test_a_form_that_is_also_utf8_text_is_never_taken_for_a_text():
    """A valid form whose bytes are UTF-8 has the SHA-256 of that text: proving the form must not make the text
    "proven" (the verdict depends on the arguments alone, never on what the process proved before)."""
    form = (Path(__file__).resolve().parents[1] / "data" / "problem_forms" / "utf8_bytes.problem.bin").read_bytes()
    text, digest = form.decode("utf-8"), hashlib.sha256(form).hexdigest()
    cert = {"schema": "coopchain/certificate/v2", "objective": "F1", "problem_hash": digest, "allocation": [0.0] * 9, "rows": [],
            "values": {}, "bound": 0.0, "gap": 0.0, "multipliers": []}
    cv._PROBLEMS.clear()
    verdicts = []
    for _ in range(2):
        for c in (cert, {**cert, "schema": "coopchain/certificate/v3"}):
            with pytest.raises(CertificateError) as refused:
                verify_certificate(c, text)
            verdicts.append(refused.value.code)
        with pytest.raises(CertificateError):
            cv.proven_problem(digest, text)
        cv.proven_form(form)  # proven as a form between the two rounds
    assert verdicts[:2] == verdicts[2:] and "hash_mismatch" not in verdicts[:1]


def test_a_v2_certificate_is_not_proven_by_a_form_handle(certified):
    cert, form, _ = certified
    with pytest.raises(CertificateError) as refused:
        verify_certificate({**cert, "schema": "coopchain/certificate/v2"}, cv.proven_form(form))
    assert refused.value.code == "hash_mismatch"


def test_a_front_is_refused_a_form_with_a_verdict():
    with pytest.raises(CertificateError) as refused:
        cv.front_problem({"points": [], "problem_text": json.dumps(_canonical_small())}, _form())
    assert refused.value.code == "malformed"


def test_a_header_listing_too_many_texts_is_refused_before_it_is_read():
    header = b'{"cooperative":"c","ids":[' + b",".join([b'"ab"'] * 4_000_100) + b'],"indicators":["k"],"names":[],"resources":[],"round":"r","schema":"' + FORM.encode() + b'"}'
    with pytest.raises(FormError) as refused:
        read(header + b"\n")
    assert refused.value.code == "too_large"


@pytest.mark.parametrize("brackets", [0, 70])
def test_header_codes_do_not_depend_on_its_brackets(brackets):
    """The header's reader changes with the count of brackets (a shallow header is read by json directly): the codes do not."""
    form = _header_member(_form(), "round", "[" * brackets + "r")
    twice = _replace_header(form, lambda h: h[:-1] + b',"cooperative":"x"}')
    nan = _replace_header(form, lambda h: h.replace(b'"cooperative":"test-coop"', b'"cooperative":NaN'))
    for bad, code in ((twice, "not_canonical"), (nan, "malformed")):
        with pytest.raises(FormError) as refused:
            read(bad)
        assert refused.value.code == code, str(refused.value)
