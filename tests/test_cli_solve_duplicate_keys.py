"""`coopchain solve FILE` refuses a problem document with a key given twice in one object (review R-8 for
solve), naming the key and where it is, without paying for a strict parse of every document.

Independent reference: a duplicate finder written here (json's object_pairs_hook, every object's pairs kept
with its path), against the readers' verdicts on random documents with repeated keys anywhere, colons
and escaped quotes inside strings, and on the untouched ones.
"""

from __future__ import annotations

import json
import random

import pytest

from coopchain.models.problem import ProblemError, load_problem_json
from coopchain.models.problem_columns import load_prepared
from coopchain.models.strict_json import count_members, count_outside_strings
from tests.conftest import SAMPLE
from tests.test_cli import coopchain


def reference_duplicates(text: str) -> list[tuple[str, str]]:
    """Every (path, key) given twice in one object, in document order."""
    found = []

    def walk(node, path):
        if isinstance(node, list) and node and node[0] == "__pairs__":
            seen = set()
            for k, v in node[1]:
                if k in seen:
                    found.append((path, k))
                seen.add(k)
            for k, v in node[1]:
                walk(v, f"{path}.{k}" if path else k)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(json.loads(text, object_pairs_hook=lambda pairs: ["__pairs__", pairs]), "")
    return found


def _objects(node, path=""):
    """(path, object) of every object of a parsed document."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from _objects(v, f"{path}.{k}" if path else k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _objects(v, f"{path}[{i}]")


def _with_repeat(doc: dict, rng: random.Random) -> tuple[str, str, str]:
    """The document's JSON with one key of one object written twice (the second value another one)."""
    path, obj = rng.choice([(p, o) for p, o in _objects(doc) if o])
    key = rng.choice(list(obj))
    marker = "\u0000here\u0000"
    obj[marker] = None
    text = json.dumps(doc, ensure_ascii=False, indent=rng.choice([None, 1]))
    del obj[marker]
    value = json.dumps(obj[key], ensure_ascii=False)
    text = text.replace(json.dumps(marker) + ": null", f"{json.dumps(key, ensure_ascii=False)}: {value}", 1)
    return text, path, key


@pytest.fixture(scope="module")
def document(gen_problem) -> dict:
    doc = gen_problem.generate(n=40, seed=5)
    doc["cooperative"] = 'co-op: "valley" \\ 12:00'  # colons, quotes and a backslash inside strings
    doc["enterprises"][3]["name"] = 'farm "a:b" \\"'
    return doc


def test_repeated_keys_anywhere_are_refused_with_their_path(document, tmp_path):
    rng = random.Random(3)
    for case in range(60):
        doc = json.loads(json.dumps(document))
        text, path, key = _with_repeat(doc, rng)
        expected = reference_duplicates(text)
        assert expected and expected[0] == (path, key)
        file = tmp_path / f"p{case}.json"
        file.write_text(text, encoding="utf-8")
        for read in (lambda: load_prepared(file), lambda: load_problem_json(text)):
            with pytest.raises(ProblemError) as caught:
                read()
            issue = caught.value.issues[0]
            assert issue.path == path and json.dumps(key, ensure_ascii=False) in issue.message and "twice" in issue.message


def test_documents_without_repeated_keys_read_as_before(document, tmp_path):
    text = json.dumps(document, ensure_ascii=False)
    assert reference_duplicates(text) == []
    file = tmp_path / "p.json"
    file.write_text(text, encoding="utf-8")
    loaded = load_prepared(file)
    assert loaded.problem.cooperative == document["cooperative"]
    assert load_problem_json(text).cooperative == document["cooperative"]
    # The counts the check compares: colons outside strings are the members, and the members are the pairs.
    pairs = []
    json.loads(text, object_pairs_hook=lambda p: pairs.append(len(p)) or dict(p))
    assert count_outside_strings(text.encode()) == sum(pairs) == count_members(document)
    assert text.count(":") > sum(pairs)  # here the colons inside strings send the check to its second count


def test_solve_names_the_repeated_key_and_exits_with_an_error(tmp_path):
    text = SAMPLE.read_text().replace('"min": 380, "max": 620', '"min": 380, "max": 900, "max": 620', 1)
    assert reference_duplicates(text) == [("demand", "max")]
    file = tmp_path / "twice.json"
    file.write_text(text)
    run = coopchain("solve", file, "--objective", "F1")
    assert run.returncode != 0 and 'demand: the key "max" is given twice' in run.stderr, run.stdout + run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("edit", [('"round": "2026-Q4"', '"round": "2026-Q3", "round": "2026-Q4"', ""),
                                  ('"min": 380', '"min": 1, "min": 380', "demand")])
def test_a_csv_header_with_a_repeated_key_is_refused_too(tmp_path, edit):
    """The CSV's header document is read by the same fast path: a repeated key there is named, not read last-wins."""
    old, new, where = edit
    header = (SAMPLE.parent / "green-valley.header.json").read_text()
    assert old in header
    text = header.replace(old, new, 1)
    assert [k for _, k in reference_duplicates(text)] == [old.split('"')[1]]
    (tmp_path / "coop.header.json").write_text(text)
    (tmp_path / "coop.csv").write_bytes((SAMPLE.parent / "green-valley.csv").read_bytes())
    run = coopchain("solve", tmp_path / "coop.csv", "--objective", "F1")
    key = old.split('"')[1]
    place = f'{where}: the key "{key}" is given twice in this object' if where else f'the key "{key}" is given twice at the top level of the header'
    assert run.returncode != 0 and place in run.stderr, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
