"""service.problems: uploads read by columns where they can, by models.problem (its messages) where they cannot."""

from __future__ import annotations

import hashlib
import json

import pytest
import rfc8785

from coopchain.models.problem import ProblemError, _canonical_document, load_problem_json
from coopchain.models.problem_columns import ColumnProblem
from coopchain.service.problems import problem_from_csv, problem_from_json
from tests.data.gen_problem import generate
from tests.models.test_problem import changed, small


@pytest.mark.parametrize("as_text", [False, True])
def test_a_json_upload_is_read_by_columns_with_the_reference_identity(as_text):
    doc = generate(50, 2, 2, 1, "general")
    doc["enterprises"][3]["name"] = "é\n\"x\""
    body = json.dumps(doc, ensure_ascii=False)
    loaded = problem_from_json(body if as_text else body.encode())
    reference = load_problem_json(body.encode())
    assert isinstance(loaded.problem, ColumnProblem)
    assert loaded.canonical == rfc8785.dumps(_canonical_document(reference)).decode()
    assert loaded.hash == hashlib.sha256(loaded.canonical.encode()).hexdigest()
    assert (loaded.cooperative, loaded.round, loaded.notices) == (reference.cooperative, reference.round, tuple(reference.notices))


def test_a_csv_upload_is_read_by_columns_with_the_json_identity():
    doc = small()
    ind, res = list(doc["indicators"]), list(doc["resources"])
    rows = [",".join(["id", "min", "max", "u0", "g"] + [f"benefit.{k}" for k in ind] + [f"use.{r}" for r in res])]
    for e in doc["enterprises"]:
        rows.append(",".join([e["id"]] + [str(e[k]) for k in ("min", "max", "u0", "g")] + [str(e["benefit"][k]) for k in ind]
                             + [str(e["use"][r]) for r in res]))
        e.pop("cap", None), e.pop("name", None), e.pop("alpha", None), e.pop("reservation", None)
    header = json.dumps({k: v for k, v in doc.items() if k != "enterprises"})
    loaded = problem_from_csv("\r\n".join(rows).encode(), header)
    assert isinstance(loaded.problem, ColumnProblem)
    assert loaded.canonical == rfc8785.dumps(_canonical_document(load_problem_json(json.dumps(doc)))).decode()


@pytest.mark.parametrize("doc", [changed(**{"enterprises.0.min": -3}), changed(**{"demand.min": "many"}), "[1, 2", "{\"schema\": \"\ud800\"}"])
def test_what_the_columns_doubt_is_refused_with_the_readers_own_words(doc):
    body = doc if isinstance(doc, str) else json.dumps(doc)
    with pytest.raises(ProblemError) as reference:
        load_problem_json(body)
    with pytest.raises(ProblemError) as ours:
        problem_from_json(body)
    assert str(ours.value) == str(reference.value) and ours.value.issues == reference.value.issues
