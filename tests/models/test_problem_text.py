"""The fast reader of canonical problem text (models/problem_text.py): it accepts exactly the canonical texts,
and reads them into the same columns as the generic reader.

Independent reference: the rfc8785 package (RFC 8785 canonical JSON) on the document json reads, with a
check for duplicate keys written here.
"""

import json

import numpy as np
import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coopchain.models.problem import canonical_json, parse_problem
from coopchain.models.problem_rules import read_canonical
from coopchain.models.problem_text import _read_uniform, problem_identity, read_canonical_text


def awkward(gen_problem, seed: int, alpha: str) -> str:
    """A canonical text with awkward strings, numbers, names and caps (as the writers' equivalence test)."""
    doc = gen_problem.generate(n=30, seed=seed, alpha=alpha)
    doc["cooperative"] = 'quote " backslash \\ newline \n \u2028 \U0001F600 ü'
    doc["indicators"] = {"\U0001F600": 0.1, "\uFB01": 0.2, "é": 1e-7, "z{0}": 123.456}
    for j, e in enumerate(doc["enterprises"]):
        e["benefit"] = {k: [1e-7, 1.5e-5, 1e15, 5e-324, 0.1, 0.0][(j + i) % 6] for i, k in enumerate(doc["indicators"])}
        if "cap" in e:
            e["cap"]["r0"] = [2.0**53 + 2, 1e21, 1.2345e17, 1e16][j % 4]
        e["name"] = f"n{j} \t {{x}} \"q\"" if j % 3 else None
        e["id"] = f"id-{j}" if j % 5 else f"id \\ {j} \u00e9"
        if j % 4 == 0:
            e.pop("cap", None)
    doc["enterprises"] = [{k: v for k, v in e.items() if v is not None} for e in doc["enterprises"]]
    return canonical_json(parse_problem(doc))


def uniform(gen_problem, seed: int, named: bool) -> str:
    """A canonical text whose enterprises all have one shape (the byte-level path), with full-precision numbers."""
    doc = gen_problem.generate(n=6, seed=seed, alpha="general")
    for j, e in enumerate(doc["enterprises"]):
        if named:
            e["name"] = f"name {j} é"
        e["u0"] = [0.1, 1e-7, 0.123456789012345678, 5e-5][j % 4]
    return canonical_json(parse_problem(doc))


def same_columns(a, b) -> None:
    for field in a.columns.__dataclass_fields__:
        x, y = getattr(a.columns, field), getattr(b.columns, field)
        if isinstance(x, np.ndarray):
            assert x.shape == y.shape and np.array_equal(x, y), field
        else:
            assert x == y, field
    assert (a.cooperative, a.round, a.names) == (b.cooperative, b.round, b.names)


@pytest.mark.parametrize("seed, alpha", [(1, "uniform"), (2, "general")])
def test_a_canonical_text_is_read_into_the_generic_readers_columns(gen_problem, seed, alpha):
    text = awkward(gen_problem, seed, alpha)
    fast = read_canonical_text(text)
    assert fast is not None
    same_columns(fast, read_canonical(json.loads(text)))
    plain = canonical_json(parse_problem(gen_problem.generate(n=50, seed=seed, alpha=alpha)))
    same_columns(read_canonical_text(plain), read_canonical(json.loads(plain)))


@pytest.mark.parametrize("seed, named", [(1, False), (2, True)])
def test_a_text_of_one_shape_is_proven_over_its_bytes(gen_problem, seed, named):
    text = uniform(gen_problem, seed, named)
    doc = json.loads(text)
    at = text.index('"enterprises":[') + len('"enterprises":[')
    end = text.index('],"indicators":')
    from coopchain.models.problem_rules import read_head
    from coopchain.models.strict_json import loads

    head = read_head(loads(text[:at] + "0" + text[end:]))
    fast = _read_uniform(text, at, None, head)  # the byte-level path itself, not the regex behind it
    assert fast
    same_columns(fast, read_canonical(doc))
    same_columns(read_canonical_text(text), read_canonical(doc))


def _canonical_by_reference(text: str) -> bool:
    """Whether `text` is exactly RFC 8785's form of the JSON it holds, which has no key twice."""
    try:
        def pairs(items):
            if len({k for k, _ in items}) != len(items):
                raise ValueError("duplicate key")
            return dict(items)

        doc = json.loads(text, object_pairs_hook=pairs, parse_int=float)  # JSON numbers are doubles (I-JSON)
        return rfc8785.dumps(doc) == text.encode("utf-8")
    except (ValueError, TypeError, rfc8785.CanonicalizationError, UnicodeEncodeError):
        return False


EDITS = [" ", "0", "9", ",", "\\u0041", '"', "-", ".0", "e1", "E", "+", "}", "{", "[", "]", ":", "\\", "\n", "é", "00", "1e-07",
         "1", "5", "e+21", "e-7", "0.", '"x"', '"name":"n",', "\x01"]


_TEXTS: dict[str, str] = {}


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
@given(st.data())
def test_an_edited_text_is_accepted_only_when_it_is_still_canonical(gen_problem, data):
    family = data.draw(st.sampled_from(["awkward", "plain", "uniform", "named"]))
    if family not in _TEXTS:  # each family's text is the same every example (seeded): made once, not 1,500 times
        _TEXTS[family] = {
            "awkward": lambda: awkward(gen_problem, 1, "general"),
            "plain": lambda: canonical_json(parse_problem(gen_problem.generate(n=5, seed=3))),
            "uniform": lambda: uniform(gen_problem, 4, False),
            "named": lambda: uniform(gen_problem, 5, True),
        }[family]()
    text = _TEXTS[family]
    at = data.draw(st.integers(0, len(text) - 1))
    edit = data.draw(st.sampled_from(EDITS))
    how = data.draw(st.sampled_from(["replace", "insert", "delete"]))
    edited = {"replace": text[:at] + edit + text[at + 1:], "insert": text[:at] + edit + text[at:], "delete": text[:at] + text[at + 1:]}[how]
    fast = read_canonical_text(edited)
    if fast is not None:
        assert _canonical_by_reference(edited), (how, at, edit)
        same_columns(fast, read_canonical(json.loads(edited)))


def test_the_identity_is_read_from_the_head(gen_problem):
    text = awkward(gen_problem, 1, "uniform")
    doc = json.loads(text)
    assert problem_identity(text) == (doc["cooperative"], doc["round"])
    assert problem_identity(json.dumps({"round": "r", "cooperative": "c", "enterprises": []})) == ("c", "r")


def test_literal_pieces_are_checked_in_every_block_of_enterprises(gen_problem):
    """A resource named by 3,000 characters makes each enterprise's literal pieces ~800 words long: the
    pieces are compared in blocks of ~1,300 enterprises.  A byte changed in any enterprise's copy of the
    name (first, one at a block's edge, the last) is found; the text itself is read as the generic reader reads it."""
    doc = gen_problem.generate(n=3000, seed=8, alpha="uniform")
    long_name = "r" * 2999 + "Z"
    for e in doc["enterprises"]:
        for table in ("use", "cap"):
            if table in e:
                e[table] = {(long_name if k == "r0" else k): v for k, v in e[table].items()}
    doc["resources"] = {(long_name if k == "r0" else k): v for k, v in doc["resources"].items()}
    text = canonical_json(parse_problem(doc))
    fast = read_canonical_text(text)
    assert fast is not None
    same_columns(fast, read_canonical(json.loads(text)))
    from coopchain.models.problem_rules import read_head
    from coopchain.models.strict_json import loads

    at = text.index('"enterprises":[') + len('"enterprises":[')
    end = text.index('],"indicators":')
    head = read_head(loads(text[:at] + "0" + text[end:]))
    assert _read_uniform(text, at, None, head)  # the byte-level path itself
    places = [i for i in range(at, end) if text.startswith(long_name, i)]
    assert len(places) == 6000
    for place in (places[0], places[2 * 1390 + 1], places[3001], places[-2], places[-1]):
        edited = text[:place + 1500] + "s" + text[place + 1501:]
        assert not _read_uniform(edited, at, None, head), place
        assert read_canonical_text(edited) is None, place


def test_pieces_and_numbers_proven_side_by_side_give_the_verdict_of_pieces_first(gen_problem):
    """From 131,072 number tokens the literal pieces are compared in a helper thread while the numbers are
    proven: a broken piece is None (the generic reader then says why), a non-canonical number False, and a text
    with both is None, as when the pieces were compared first; the valid text reads as the generic reader reads it."""
    from coopchain.models.problem_rules import read_head
    from coopchain.models.strict_json import loads

    doc = gen_problem.generate(n=10_000, seed=3, alpha="uniform")
    text = canonical_json(parse_problem(doc))
    at = text.index('"enterprises":[') + len('"enterprises":[')
    end = text.index('],"indicators":')
    head = read_head(loads(text[:at] + "0" + text[end:]))
    assert text.count('"u0":') * 15 >= 131_072  # fifteen numbers an enterprise: the threaded size
    same_columns(_read_uniform(text, at, None, head), read_canonical(json.loads(text)))
    first_key, last_key = text.index('"u0":', at), text.rindex('"u0":', at, end)
    broken_piece = text[:last_key] + '"u1":' + text[last_key + 5:]
    number = text.index(",", last_key) - 1  # the u0 token's last character: a fraction digit
    assert text[number].isdigit() and "." in text[last_key + 5:number]
    broken_number = text[:number + 1] + "0" + text[number + 1:]  # a trailing zero after the point
    both = text[:first_key] + '"u1":' + text[first_key + 5:number + 1] + "0" + text[number + 1:]
    assert rfc8785.dumps(json.loads(broken_number)).decode() != broken_number  # the independent reference
    assert _read_uniform(broken_piece, at, None, head) is None
    assert _read_uniform(broken_number, at, None, head) is False
    assert _read_uniform(both, at, None, head) is None
    # The quotes are found in two halves (the second in a helper thread): a control character in the last
    # enterprise's id is found there (RFC 8785 escapes it).
    assert end - at >= 2 * (1 << 20)
    last_id = text.rindex('"id":"', at, end) + len('"id":"')
    control = text[:last_id] + "\x01" + text[last_id + 1:]
    assert rfc8785.dumps(json.loads(control, strict=False)).decode() != control
    assert _read_uniform(control, at, None, head) is None
