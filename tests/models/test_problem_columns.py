"""The columnar reader (models.problem_columns) against the pydantic one (models.problem).

On a valid document the columnar reader must take its own path to the end and give
the same canonical text (also checked against rfc8785.dumps of the canonical document),
hash and arrays; on an invalid one it must refuse with exactly the issues, word for
word, that models.problem reports.  Its number writer is checked against rfc8785.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math

import numpy as np
import pytest
import rfc8785

from coopchain.models.problem import ProblemError, _canonical_document, _numbers, canonical_json, load_problem_file, to_instance
from coopchain.models.problem_columns import ColumnProblem, load_prepared
from tests.data.gen_problem import generate
from tests.models.test_problem import DELETE, changed, small


def _write(tmp_path, doc, name="p.json") -> str:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc, ensure_ascii=False))
    return str(path)


def _assert_same_as_pydantic(path: str, header: str | None = None, parallel: bool = False) -> None:
    loaded = load_prepared(path, header, parallel=parallel)
    assert isinstance(loaded.problem, ColumnProblem), "a valid document must take the columnar path"
    reference = load_problem_file(path, header)
    expected = rfc8785.dumps(_canonical_document(reference)).decode()
    assert loaded.prepared.canonical == expected == canonical_json(reference)
    assert loaded.problem_hash == hashlib.sha256(expected.encode()).hexdigest()
    assert loaded.problem.notices == reference.notices
    assert loaded.problem.cooperative == reference.cooperative and loaded.problem.round == reference.round
    assert [(e.id, e.name, e.min, e.max) for e in loaded.problem.enterprises] == [(e.id, e.name, e.min, e.max) for e in reference.enterprises]
    ours, theirs = loaded.prepared.instance, to_instance(reference)
    for key, value in vars(theirs).items():
        mine = getattr(ours, key)
        if isinstance(value, np.ndarray):
            assert mine.dtype == value.dtype and mine.shape == value.shape, key
            assert np.array_equal(mine, value) and not np.signbit(mine[mine == 0]).any(), key
        else:
            assert mine == value, key


def _assert_same_refusal(path: str, header: str | None = None, parallel: bool = False) -> None:
    with pytest.raises(ProblemError) as reference:
        load_problem_file(path, header)
    with pytest.raises(ProblemError) as ours:
        load_prepared(path, header, parallel=parallel)
    assert ours.value.issues == reference.value.issues
    assert str(ours.value) == str(reference.value)


# --- valid documents -------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", ["uniform", "general"])
def test_generated_documents_agree(tmp_path, alpha):
    _assert_same_as_pydantic(_write(tmp_path, generate(300, 3, 3, 7, alpha)))


def test_mixed_caps_names_and_integers_agree(tmp_path):
    _assert_same_as_pydantic(_write(tmp_path, small()))  # caps given for all, none and some resources


@pytest.mark.parametrize("chunk", [1, 2, 7])
def test_text_written_in_chunks_agrees(tmp_path, monkeypatch, chunk):
    """The enterprise array is written a chunk of rows at a time; chunk edges change nothing."""
    from coopchain.models import problem_columns

    monkeypatch.setattr(problem_columns, "CHUNK", chunk)
    doc = generate(23, 3, 3, 5, "general")
    for j, e in enumerate(doc["enterprises"]):
        if j % 3 == 0:
            e["cap"].pop("r1")
        if j % 4 == 0:
            e["name"] = f'farm "{j}"'
    _assert_same_as_pydantic(_write(tmp_path, doc))
    _assert_same_as_pydantic(_write(tmp_path, small()))


def test_alpha_rescaled_with_its_notice_agrees(tmp_path):
    doc = small()
    for e, a in zip(doc["enterprises"], (2, 1, 1)):
        e["alpha"] = a
    _assert_same_as_pydantic(_write(tmp_path, doc))


def test_no_resources_and_no_use_agree(tmp_path):
    doc = small()
    doc["resources"] = {}
    for e in doc["enterprises"]:
        e.pop("use"), e.pop("cap", None)
    _assert_same_as_pydantic(_write(tmp_path, doc))


def test_unicode_names_negative_zero_and_small_numbers_agree(tmp_path):
    doc = changed(**{"enterprises.0.name": "Ferme des Prés « Nord »\n", "enterprises.1.id": "é\"\\", "enterprises.0.u0": 0.12,
                     "enterprises.1.min": -0.0, "enterprises.2.g": 1e-7, "indicators.tax": 2.5e-5, "enterprises.0.reservation": 1e-9})
    _assert_same_as_pydantic(_write(tmp_path, doc))


def _csv(doc: dict, caps: bool = True) -> str:
    ind, res = list(doc["indicators"]), list(doc["resources"])
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["id", "name", "min", "max", "u0", "g", "alpha", "reservation"] + [f"benefit.{k}" for k in ind]
               + [f"use.{r}" for r in res] + ([f"cap.{r}" for r in res] if caps else []))
    for e in doc["enterprises"]:
        w.writerow([e["id"], e.get("name", ""), e["min"], e["max"], e["u0"], e["g"], e.get("alpha", ""), e.get("reservation", "")]
                   + [e["benefit"][k] for k in ind] + [e["use"][r] for r in res] + ([e.get("cap", {}).get(r, "") for r in res] if caps else []))
    return out.getvalue()


def _csv_files(tmp_path, doc: dict, table: str) -> tuple[str, str]:
    header = {k: v for k, v in doc.items() if k != "enterprises"}
    return _write(tmp_path, table, "t.csv"), _write(tmp_path, header, "t.header.json")


def test_csv_table_agrees(tmp_path):
    _assert_same_as_pydantic(*_csv_files(tmp_path, small(), _csv(small())))


def test_csv_numbers_outside_json_syntax_agree(tmp_path):
    """Cells JSON would not read ("+120", ".5", "2.", blanks around, 1_000) go through float()'s syntax, as in the full reader."""
    table = _csv(small()).replace(",120,", ",+120,", 1).replace(",0.12,", ", .12 ,", 1).replace(",0,", ",0.,", 1)
    _assert_same_as_pydantic(*_csv_files(tmp_path, small(), table))


def test_generated_csv_agrees_with_its_json(tmp_path):
    doc = generate(200, 3, 3, 3, "general")
    table, header = _csv_files(tmp_path, doc, _csv(doc))
    _assert_same_as_pydantic(table, header)
    assert load_prepared(table, header).prepared.canonical == load_prepared(_write(tmp_path, doc)).prepared.canonical


def _dense_csv(doc: dict, names: bool, end: str, blank_rows: bool = True) -> str:
    """A table with every cell given and no quotes (the usual export), text columns first."""
    ind, res = list(doc["indicators"]), list(doc["resources"])
    head = ["id"] + (["name"] if names else []) + ["min", "max", "u0", "g", "alpha", "reservation"]
    head += [f"benefit.{k}" for k in ind] + [f"use.{r}" for r in res] + [f"cap.{r}" for r in res]
    rows = [",".join(head)]
    for j, e in enumerate(doc["enterprises"]):
        cells = [e["id"]] + ([e.get("name", "")] if names else []) + [repr(e[k]) for k in ("min", "max", "u0", "g")]
        cells += [repr(e.get("alpha", 0.0)), str(e.get("reservation", 0))]
        cells += [repr(e["benefit"][k]) for k in ind] + [repr(e["use"][r]) for r in res] + [repr(e["cap"][r]) for r in res]
        rows.append(",".join(cells))
        if blank_rows and j % 7 == 3:
            rows.append(",,," if j % 2 else "")  # rows with no cell given: skipped, as the csv module skips them
    return end.join(rows) + end


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("names, end, block", [(False, "\r\n", 4 << 20), (True, "\n", 4 << 20), (True, "\r\n", 1), (False, "\n", 300)])
def test_dense_csv_read_without_a_string_per_cell_agrees(tmp_path, monkeypatch, names, end, block, parallel):
    """The usual table (every cell given, no quotes) takes the dense reader, a block of rows at a time (with
    ``parallel``, as `coopchain solve` reads it, a forked process reads the second half of the blocks); it agrees
    with the pydantic reader, and with the same table read through the csv module."""
    from coopchain.models import problem_columns

    monkeypatch.setattr(problem_columns, "CSV_BLOCK", block)
    monkeypatch.setattr(problem_columns, "PARALLEL_PARSE_MIN", 0)

    doc = generate(120, 3, 2, 4, "general")
    for j, e in enumerate(doc["enterprises"]):
        e["reservation"] = 0 if j % 3 else 1e-9
        if names:
            e["name"] = ["Ferme des Prés", "农场 7", " padded ", ""][j % 4]
        if j % 5 == 0:
            e["id"] = f"é-{j}"
        if j % 4 == 0:
            e["max"] = float(round(e["max"]))
    table, header = _csv_files(tmp_path, doc, _dense_csv(doc, names, end))
    taken = []
    dense = problem_columns._dense_csv_columns
    monkeypatch.setattr(problem_columns, "_dense_csv_columns", lambda text, *rest: taken.append(dense(text, *rest)) or taken[-1])
    _assert_same_as_pydantic(table, header, parallel=parallel)
    assert taken and taken[0] is not None, "a dense table takes the dense reader"
    monkeypatch.setattr(problem_columns, "_dense_csv_columns", lambda text, *rest: None)
    general = load_prepared(table, header)
    monkeypatch.setattr(problem_columns, "_dense_csv_columns", dense)
    assert load_prepared(table, header).prepared.canonical == general.prepared.canonical


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("names, end, block", [(False, "\r\n", 4 << 20), (True, "\n", 4 << 20), (True, "\r\n", 700), (False, "\n", 1)])
def test_dense_csv_read_from_its_bytes_agrees(tmp_path, monkeypatch, names, end, block, parallel):
    """A table with no blank row is read from its bytes, a block at a time, no Python string per row (ids and
    names with blanks around, non-ASCII, empty names); it agrees with the pydantic reader, and the row-by-row
    reader is not called."""
    from coopchain.models import problem_columns

    monkeypatch.setattr(problem_columns, "CSV_BLOCK", block)
    monkeypatch.setattr(problem_columns, "PARALLEL_PARSE_MIN", 0)
    doc = generate(90, 3, 3, 8, "general")
    for j, e in enumerate(doc["enterprises"]):
        e["reservation"] = 0 if j % 3 else 2.5e-7
        if names:
            e["name"] = ["Ferme des Prés", "农场 7", " padded\t", "", "x"][j % 5]
        e["id"] = [f"e{j}", f" é-{j} ", f"\x1f{j}"][j % 3] if j % 4 else f"E {j}"
    table, header = _csv_files(tmp_path, doc, _dense_csv(doc, names, end, blank_rows=False))
    rows = []
    monkeypatch.setattr(problem_columns, "_dense_csv_block", lambda *a: rows.append(a) or None)
    _assert_same_as_pydantic(table, header, parallel=parallel)
    assert not rows, "every block read from its bytes"


@pytest.mark.parametrize("how", ["raises", "killed"])
@pytest.mark.parametrize("kind", ["json", "csv"])
def test_a_failed_forked_helper_is_said_and_its_half_read_here(tmp_path, monkeypatch, caplog, kind, how):
    """A forked helper of the parse that fails (an exception, SIGKILL as from the out-of-memory killer) is said in a
    warning, and this process reads the helper's half itself: the columnar path still gives the pydantic reader's
    result, without reading the whole document again."""
    import os
    import signal

    from coopchain.models import problem_columns

    monkeypatch.setattr(problem_columns, "PARALLEL_PARSE_MIN", 0)
    monkeypatch.setattr(problem_columns, "CSV_BLOCK", 500)

    def failing():
        if how == "killed":
            os.kill(os.getpid(), signal.SIGKILL)
        raise MemoryError

    monkeypatch.setattr(problem_columns, "_fork_compute", lambda compute: problem_columns._fork_call(failing, "coopchain-columns"))
    doc = generate(80, 3, 3, 9, "uniform")
    if kind == "csv":
        path, header = _csv_files(tmp_path, doc, _dense_csv(doc, False, "\n", blank_rows=False))
        dense = problem_columns._dense_csv_columns
        taken = []
        monkeypatch.setattr(problem_columns, "_dense_csv_columns", lambda *a: taken.append(dense(*a)) or taken[-1])
    else:
        path, header = _write(tmp_path, doc), None
        halves = problem_columns._json_columns_halved
        taken = []
        monkeypatch.setattr(problem_columns, "_json_columns_halved", lambda *a: taken.append(halves(*a)) or taken[-1])
    with caplog.at_level("INFO", logger="coopchain.models.problem_columns"):
        _assert_same_as_pydantic(path, header, parallel=True)
    assert taken and taken[0] is not None, "the helper's half read here, not the whole document again"
    said = [r for r in caplog.records if r.name == "coopchain.models.problem_columns"]
    assert said and said[0].levelname == "WARNING" and "failed" in said[0].getMessage()
    assert ("signal 9" if how == "killed" else "exit status 1") in said[0].getMessage()


def _same_rows(ours, theirs) -> bool:
    if ours is None or theirs is None:
        return ours is theirs
    return ours[0].tobytes() == theirs[0].tobytes() and ours[0].shape == theirs[0].shape and ours[1] == theirs[1]


@pytest.mark.parametrize("end", ["\n", "\r\n"])
@pytest.mark.parametrize("lead", [1, 2])
def test_rows_read_from_bytes_are_the_rows_read_row_by_row(end, lead):
    """Block by block, the byte reader gives what the row-by-row reader gives (numbers bit for bit, stripped text
    cells; None alike where the table leaves the dense path), or declines (False) and leaves the block to it.
    Blocks made of usual rows and odd ones: blank rows, short and long rows, blanks in cells, lone line ends,
    float()'s own syntax, text, exponents, big integers, an empty id."""
    from coopchain.models.problem_columns import _dense_csv_block, _dense_csv_rows

    width = 4
    usual = [["a1", "1.5", "0", "-2e-3", "7"], [" b ", "3", "1E5", "0.25", "-0"], ["é", "12", "4", "5", "6"]]
    odd = ["", ",,,,", ",,,,,", "c,1,2,3", "d,1,2,3,4,5", "e, 1,2,3,4", "f,+1,2,3,4", "g,.5,2,3,4", "h,1,2,x,4",
           "i,1,2,3,4\r", "j\r,1,2,3,4", "k,1,2,3,4\n", ",1,2,3,4", "l,1e400,2,3,4", "m,123456789012345678901,1,2,3",
           "n,nan,1,2,3", "s,1,2,3,45\nt,1,2,3,4", "o,1.,2,3,4", "p,-,1,2,3", "q\x0b,1,2,3,4", "r,1,2,3,"]
    rng = np.random.default_rng(5)
    declined = 0
    for trial in range(400):
        lines = []
        for _ in range(int(rng.integers(1, 7))):
            if rng.random() < 0.25:
                line = odd[int(rng.integers(len(odd)))]
                lines.append(line if lead == 1 else line.replace(",", ",nm,", 1) if "," in line else line)
            else:
                cells = usual[int(rng.integers(len(usual)))]
                lines.append(",".join(cells[:1] + ([" n m "] if lead == 2 else []) + cells[1:]))
        text = end.join(lines) + (end if rng.random() < 0.5 else "")
        ours = _dense_csv_rows(text.encode(), end.encode(), lead, width)
        theirs = _dense_csv_block(text, end, lead, width)
        if ours is False:
            declined += 1
        else:
            assert _same_rows(ours, theirs), repr(text)
    assert 50 < declined < 350  # both kinds of blocks were met


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("change", ["quote", "blank", "plus", "lone-cr", "lone-lf", "short-row", "nan", "id-last"])
def test_tables_off_the_dense_path_still_agree_or_are_refused_alike(tmp_path, monkeypatch, change, parallel):
    """What the dense reader leaves to the csv module (quotes, blank cells, float()'s own syntax, odd line ends, a
    short row, nan, text columns not first) is read or refused as before; with ``parallel`` the change is in the
    second half of the blocks, which a forked process reads."""
    from coopchain.models import problem_columns

    monkeypatch.setattr(problem_columns, "CSV_BLOCK", 300)
    monkeypatch.setattr(problem_columns, "PARALLEL_PARSE_MIN", 0)
    doc = generate(30, 2, 2, 6, "uniform")
    table = _dense_csv(doc, True, "\n")
    lines = table.split("\n")
    at = 21 if parallel else 0  # lines of the second half of the blocks
    if change == "quote":
        cells = lines[at + 2].split(",")
        cells[1] = '"farm, north"'
        lines[at + 2] = ",".join(cells)
    elif change == "blank":
        lines[at + 3] = lines[at + 3][: lines[at + 3].rindex(",")] + ","
    elif change == "plus":
        cells = lines[at + 1].split(",")
        cells[3] = "+" + cells[3]
        lines[at + 1] = ",".join(cells)
    elif change == "lone-cr":
        lines[at + 4] += "\r"
    elif change == "lone-lf":  # "\r\n" line ends but one
        lines = [line + "\r" for line in lines[:-1]] + [""]
        lines[6] = lines[6][:-1]
    elif change == "short-row":
        lines[at + 5] = lines[at + 5][: lines[at + 5].rindex(",")]
    elif change == "nan":
        cells = lines[at + 1].split(",")
        cells[4] = "nan"
        lines[at + 1] = ",".join(cells)
    elif change == "id-last":
        rows = [line.split(",") for line in lines if line]
        lines = [",".join(row[1:] + row[:1]) for row in rows] + [""]
    table_path, header = _csv_files(tmp_path, doc, "\n".join(lines))
    try:
        reference = load_problem_file(table_path, header)
    except ProblemError:
        _assert_same_refusal(table_path, header, parallel=parallel)
    else:
        if change == "short-row" and parallel:  # a real row short of its last cap: valid, read by models.problem itself
            assert load_prepared(table_path, header, parallel=True).prepared.canonical == canonical_json(reference)
        else:
            _assert_same_as_pydantic(table_path, header, parallel=parallel)


# --- invalid documents: the same issues, word for word ------------------------------------------------


INVALID = {
    "schema": {"schema": "coopchain/problem/v2"},
    "no cooperative": {"cooperative": DELETE},
    "empty round": {"round": ""},
    "extra top-level field": {"note": "x"},
    "negative min": {"enterprises.0.min": -3},
    "text number": {"enterprises.1.max": "120"},
    "boolean number": {"enterprises.1.g": True},
    "null number": {"enterprises.2.u0": None},
    "null cap": {"enterprises.1.cap": None},
    "null use": {"enterprises.1.use": None},
    "null reservation": {"enterprises.1.reservation": None},
    "list benefit": {"enterprises.0.benefit": [1, 2]},
    "unknown enterprise field": {"enterprises.0.colour": "red"},
    "missing indicator": {"enterprises.0.benefit": {"profit": 1.0, "wages": 2.0}},
    "unknown indicator": {"enterprises.0.benefit": {"profit": 1.0, "wages": 2.0, "tax": 1.0, "fun": 3.0}},
    "unknown cap": {"enterprises.0.cap": {"air": 3}},
    "missing use": {"enterprises.2.use": {"water": 1.0}},
    "min above max": {"enterprises.0.min": 200},
    "demand min above max": {"demand.min": 400},
    "development above one": {"enterprises.0.g": 0.5},
    "duplicate id": {"enterprises.2.id": "e01"},
    "empty id": {"enterprises.2.id": ""},
    "numeric id": {"enterprises.2.id": 3},
    "alpha for some only": {"enterprises.0.alpha": 0.5},
    "alpha all zero": {"enterprises.0.alpha": 0, "enterprises.1.alpha": 0, "enterprises.2.alpha": 0},
    "negative alpha": {"enterprises.0.alpha": -1},
    "zero cooperative cap": {"resources.water.cap": 0},
    "resource field": {"resources.water.size": 3},
    "negative indicator weight": {"indicators.profit": -0.5},
    "no enterprises": {"enterprises": []},
    "enterprise not an object": {"enterprises.1": "e02"},
    "enterprises not a list": {"enterprises": {"e01": {}}},
    "huge benefit": {"enterprises.0.benefit": {"profit": 1e300, "wages": 2.0, "tax": 1.0}},
    "reservation never met": {"enterprises.0.reservation": 1e7},
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_document_refused_with_the_same_issues(tmp_path, name):
    _assert_same_refusal(_write(tmp_path, changed(**INVALID[name])))


@pytest.mark.parametrize("text", [
    "{", "[]", "null", '{"schema": NaN}', json.dumps(small()).replace("0.12", "NaN"), json.dumps(small()).replace("0.12", "1e400"),
    json.dumps(small()).replace('"max": 120', '"max": 123456789012345678901234567890'), "[" * 5000 + "]" * 5000,
    json.dumps(small()).replace('"Li family farm"', '"\\ud800"'),
])
def test_unreadable_or_odd_json_refused_with_the_same_issues(tmp_path, text):
    _assert_same_refusal(_write(tmp_path, text))


@pytest.mark.parametrize("change", [
    lambda t: t.replace("0.12", "nan", 1),
    lambda t: t.replace("0.12", "inf", 1),
    lambda t: t.replace("0.12", "abc", 1),
    lambda t: t.replace("e01", "", 1),
    lambda t: t.replace("benefit.tax", "benefit.fun", 1),
    lambda t: t.replace("\r\n", ",9\r\n", 2),
    lambda t: t.replace("0.12", "-0.12", 1),
    lambda t: t.split("\r\n", 1)[0] + "\r\n",
])
def test_invalid_csv_refused_with_the_same_issues(tmp_path, change):
    _assert_same_refusal(*_csv_files(tmp_path, small(), change(_csv(small()))))


def test_a_semicolon_table_takes_the_full_reader_and_agrees(tmp_path):
    table = _csv(small()).replace(",", ";")
    path, header = _csv_files(tmp_path, small(), table)
    loaded = load_prepared(path, header)
    reference = load_problem_file(path, header)
    assert loaded.prepared.canonical == canonical_json(reference) and loaded.problem.notices == reference.notices


# --- the number writer -------------------------------------------------------------------------


def test_numbers_are_written_as_rfc8785_writes_them():
    rng = np.random.default_rng(0)
    xs = [0.0, -0.0, 1.0, 100.0, 1e-6, 9.99e-7, 1e-7, 1e15, 1e16, 1e17, 1.2345e20, 1e21, 1e22, 0.1, 1 / 3, 5e-324,
          1.7976931348623157e308, 2.0**53, 2.0**53 + 2, 1e15 + 0.3, -2.5e-5, -120.0]
    xs += (10.0 ** rng.uniform(-12, 25, 5000) * rng.choice([-1, 1], 5000)).tolist()
    xs += np.round(rng.uniform(0, 1e6, 500)).tolist()
    assert _numbers(xs) == [rfc8785.dumps(x + 0.0).decode() for x in xs]
    assert _numbers([]) == []
    assert math.isnan(float(np.float64("nan")))  # NaN (a cap not given) is written but never used


# --- the bulk writer of the enterprise array, against rfc8785 ------------------------------------

_AWKWARD = [0.0, -0.0, 1.0, 7.0, 1e-5, 9.99e-6, 1e-6, 9.99e-7, 1e-7, 1.5e-7, 5e-324, 2.2250738585072014e-308, 2.2250738585072009e-308,
            1e14, 999999999999999.0, 1e15, 1e15 + 2, 123456789012345.6, 1e16, 2.0**53, 1.2345e20, 1e21, 1e22, 1.7976931348623157e308, 0.1, 1 / 3]


def test_number_texts_are_rfc8785s():
    """Every number of a chunk, in row-major order, as rfc8785 writes it: integral, tiny, subnormal, huge, -0.0, and
    random magnitudes; mostly integral chunks (one bulk replace) and mostly not (a fix per number) both."""
    from coopchain.models.problem_columns import _number_texts

    rng = np.random.default_rng(11)
    magnitudes = 10.0 ** rng.uniform(-12, 25, (400, 7)) * rng.choice([-1, 1], (400, 7))
    integral = np.round(rng.uniform(0, 1e6, (300, 5)))
    awkward = np.array(_AWKWARD * 6).reshape(-1, 13)
    for values in (magnitudes, integral, awkward, np.vstack([magnitudes[:, :5], integral]), -awkward):
        assert _number_texts(values) == [rfc8785.dumps(x + 0.0).decode() for x in values.ravel().tolist()]


@pytest.mark.parametrize("seed", range(6))
def test_random_awkward_problems_written_as_the_reference_writer_writes_them(tmp_path, monkeypatch, seed):
    """Random documents with names and ids in any script and with characters to escape, -0.0, 1e15 (the largest
    magnitude a document may hold: 1e21 is refused, and checked above on the writer alone), 1e-7, subnormals,
    integral numbers, constant columns, and caps given for some enterprises only: the canonical text is
    rfc8785.dumps of the pydantic reader's canonical document, byte for byte, whatever the chunk size."""
    from coopchain.models import problem_columns

    rng = np.random.default_rng(seed)
    monkeypatch.setattr(problem_columns, "CHUNK", int(rng.choice([3, 16, 65_536])))
    doc = generate(int(rng.integers(5, 60)), int(rng.integers(1, 4)), int(rng.integers(1, 4)), seed, ["uniform", "general"][seed % 2])
    texts = ["Ferme « Nord »", "农场", "🐄 farm", 'say "hi"', "back\\slash", "tab\there", "nl\n", "\x01ctl", "\u2028line", "é", "plain"]
    small_values = [1e-7, 5e-324, 2.2250738585072014e-308, 1e-300, -0.0, 0.0, 1e-5, 9.99e-7]
    large_values = [1e15, 999999999999999.0, 123456789012345.0, 123456789012345.6, 7.0]  # past 1e15: refused (overflow)
    for j, e in enumerate(doc["enterprises"]):
        if rng.random() < 0.5:
            e["name"] = str(rng.choice(texts)) + str(j)
        if rng.random() < 0.2:
            e["id"] = str(rng.choice(texts)) + f"#{j}"
        if rng.random() < 0.3:  # a reservation, met by the generated benefits
            e["reservation"] = float(rng.choice([0.0, -0.0, 1e-9, 0.5]))
        else:
            for k in e["benefit"]:
                if rng.random() < 0.3:
                    e["benefit"][k] = float(rng.choice(large_values + small_values))
        if rng.random() < 0.3:
            e["u0"] = float(rng.choice([1e-7, 5e-324, 9.99e-7, 0.25, 1e-5]))
        if rng.random() < 0.3:
            e["min"] = -0.0
        for r in list(e["cap"]):
            if rng.random() < 0.3:
                e["cap"].pop(r)
            elif rng.random() < 0.2:
                e["cap"][r] = 1e15
        if seed % 3 == 0:
            e["g"] = 0.001  # one value throughout: written once as literal text
    _assert_same_as_pydantic(_write(tmp_path, doc))


@pytest.mark.parametrize("chunk, fork", [(7, True), (65_536, True), (5, False)])
def test_text_written_half_by_a_forked_process_agrees(tmp_path, monkeypatch, chunk, fork):
    """`coopchain solve` has a forked process write the second half of a large problem's text; the halves join into
    exactly the reference writer's bytes (and without fork or memfd, this process writes both halves)."""
    from coopchain.models import problem_columns

    monkeypatch.setattr(problem_columns, "CHUNK", chunk)
    monkeypatch.setattr(problem_columns, "PARALLEL_MIN", 1)
    if not fork:
        monkeypatch.delattr(problem_columns.os, "memfd_create")
    doc = generate(41, 3, 3, 9, "general")
    for j, e in enumerate(doc["enterprises"]):
        if j % 3 == 0:
            e["cap"].pop("r2")
        if j % 2:
            e["name"] = f"ferme « {j} »\n"
    path = _write(tmp_path, doc)
    collected = []
    collect = problem_columns._collect
    monkeypatch.setattr(problem_columns, "_collect", lambda forked: collected.append(collect(forked)) or collected[-1])
    loaded = load_prepared(path, parallel=True)
    assert [text is not None for text in collected] == ([True] if fork else [])
    reference = load_problem_file(path)
    assert loaded.prepared.canonical == rfc8785.dumps(_canonical_document(reference)).decode()
    assert loaded.problem_hash == hashlib.sha256(loaded.prepared.canonical.encode()).hexdigest()


@pytest.mark.parametrize("layout", ["enterprises first", "an indicator named enterprises", "pretty", "usual"])
def test_document_read_in_one_pass_or_two_agrees(tmp_path, layout):
    """The reader guesses the indicator and resource names from the text around the enterprise array (one pass); where
    the guess cannot be made or is wrong it reads the document in two passes: the same result either way."""
    doc = generate(25, 2, 2, 8, "uniform")
    if layout == "enterprises first":
        doc = {"enterprises": doc.pop("enterprises"), **doc}
    elif layout == "an indicator named enterprises":
        doc["indicators"] = {"enterprises": doc["indicators"]["k0"], "k1": doc["indicators"]["k1"]}
        for e in doc["enterprises"]:
            e["benefit"] = {"enterprises": e["benefit"]["k0"], "k1": e["benefit"]["k1"]}
        doc = {"indicators": doc.pop("indicators"), **doc}
    text = json.dumps(doc, indent=2 if layout == "pretty" else None)
    _assert_same_as_pydantic(_write(tmp_path, text))


def test_the_certificate_names_the_problem_by_the_hash_of_its_text(tmp_path):
    """The reader's hash, taken as it wrote the text, is what the certificate carries; it is SHA-256 of the text's bytes
    (hashlib here), and a text equal to it but another object is hashed afresh."""
    from coopchain.models.certificate import hashed_as_written, problem_hash
    from coopchain.models.solve import solve

    loaded = load_prepared(_write(tmp_path, generate(40, 2, 2, 3, "uniform")))
    text = loaded.prepared.canonical
    expected = hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert solve(loaded.prepared, "F1").certificate["problem_hash"] == expected == problem_hash(text)
    hashed_as_written(text, "0" * 64)
    try:
        assert problem_hash(text) == "0" * 64  # the same object: the remembered hash
    finally:
        hashed_as_written(text, expected)
    assert problem_hash("".join([text[:10], text[10:]])) == expected  # an equal text, another object: hashed


def _halves_taken(monkeypatch) -> list:
    """Each result of the reader's two-process decoding (None where it declined), as the reader gets it."""
    from coopchain.models import problem_columns

    monkeypatch.setattr(problem_columns, "PARALLEL_PARSE_MIN", 0)
    taken = []
    halved = problem_columns._json_columns_halved
    monkeypatch.setattr(problem_columns, "_json_columns_halved", lambda *a: taken.append(halved(*a)) or taken[-1])
    return taken


@pytest.mark.parametrize("layout", ["usual", "compact", "pretty", "names and no reservation", "general alpha", "alpha null", "alpha left out"])
def test_enterprises_decoded_half_by_a_forked_process_agree(tmp_path, monkeypatch, layout):
    """`coopchain solve` has a forked process decode the second half of a large document's enterprises, cut between
    two of them near the middle; the halves join into exactly what the reference reader reads."""
    taken = _halves_taken(monkeypatch)
    doc = generate(57, 3, 3, 11, "general" if layout == "general alpha" else "uniform")
    for j, e in enumerate(doc["enterprises"]):
        if layout == "names and no reservation":
            e["name"] = f"ferme « {j} » \\ \"x\"" if j % 2 else None
            e.pop("reservation", None)
        else:
            e["reservation"] = 0.5 * j if j % 3 else 0.0
        if layout.startswith("alpha"):
            e["alpha"] = None
            if layout == "alpha left out":
                del e["alpha"]
    text = json.dumps(doc, ensure_ascii=False, indent=1 if layout == "pretty" else None,
                      separators=(",", ":") if layout == "compact" else None)
    _assert_same_as_pydantic(_write(tmp_path, text), parallel=True)
    assert len(taken) == 1 and taken[0] is not None, "the document must be read in two halves"


@pytest.mark.parametrize("case", ["a cut inside a name", "cap left out in the first half",
                                  "enterprises not last"])
def test_documents_the_halves_cannot_prove_are_read_in_one_pass_and_agree(tmp_path, monkeypatch, case):
    """A separator "},{" inside a text, or enterprises outside the usual case: the two-process decoding declines (or
    its cut fails to decode) and the one-process reader reads the document, with the same result."""
    taken = _halves_taken(monkeypatch)
    doc = generate(40, 2, 2, 4, "uniform")
    ents = doc["enterprises"]
    if case == "a cut inside a name":  # every name holds the separator, last in its enterprise: the first one met from the middle
        doc["enterprises"] = [{**{k: v for k, v in e.items() if k != "name"}, "name": 'n},{"id":"z' * 40} for e in ents]
    elif case == "cap left out in the first half":
        ents[2].pop("cap")
    else:
        doc = {"enterprises": doc.pop("enterprises"), **doc}
    _assert_same_as_pydantic(_write(tmp_path, json.dumps(doc, ensure_ascii=False)), parallel=True)
    assert taken in ([None], [])


@pytest.mark.parametrize("case", ["repeated key in the second half", "repeated key in the first half", "form feed between two",
                                  "alpha left out everywhere, a key repeated in each enterprise",
                                  "a negative volume in the second half", "unknown field in the second half"])
def test_invalid_documents_read_in_halves_are_refused_with_the_same_issues(tmp_path, monkeypatch, case):
    _halves_taken(monkeypatch)
    doc = generate(40, 2, 2, 4, "uniform")
    text = json.dumps(doc)
    ents = [json.dumps(e) for e in doc["enterprises"]]
    if case == "repeated key in the second half":
        text = text.replace(ents[30], ents[30][:-1] + ', "u0": 3.5}')
    elif case == "repeated key in the first half":
        text = text.replace(ents[3], '{"g": 0.25, ' + ents[3][1:])
    elif case == "form feed between two":  # not a JSON blank: the document is not JSON
        text = text.replace(ents[20] + ", ", ents[20] + "\f, ")
    elif case == "alpha left out everywhere, a key repeated in each enterprise":  # as many colons as alphas would have had
        for e in doc["enterprises"]:
            del e["alpha"]
        text = json.dumps(doc).replace('"g": ', '"g": 0.5, "g": ')
    elif case == "a negative volume in the second half":
        doc["enterprises"][33]["max"] = -1.0
        text = json.dumps(doc)
    else:
        doc["enterprises"][35]["colour"] = "red"
        text = json.dumps(doc)
    assert text != json.dumps(doc) or case in ("a negative volume in the second half", "unknown field in the second half")
    path = _write(tmp_path, text)
    _assert_same_refusal(path, parallel=True)
    _assert_same_refusal(path)  # and by one process
