"""The problem document (SPEC §6): what a cooperative manager submits, validated.

A ``coopchain/problem/v1`` document carries the data of SPEC §1 for one
cooperative and one allocation round.  This module reads it from JSON or from a
CSV enterprise table plus a JSON header, refuses anything malformed or
meaningless with the field's path and a sentence a manager understands, and
gives the problem its identity: the SHA-256 of its canonical form (RFC 8785
JSON with every default written out).  ``to_instance`` hands the solvers the
same numbers an auditor reads back from that canonical form.

Validation runs in two passes.  Pydantic checks the structure (fields, types,
signs, finiteness); only when the structure is sound do the meaning checks run
(indicator and resource names, bounds, development levels, reservations, the
demand window, ids, alpha), vectorised with numpy so that 100,000 enterprises
take well under a second.  Every issue found is reported, not just the first.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Iterable, Literal

import numpy as np
import rfc8785
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from coopchain.models.certificate import Instance, instance_from_document, problem_hash
from coopchain.models.problem_rules import (  # noqa: F401  (the tolerances are re-exported for callers)
    ALPHA_SUM_TOLERANCE,
    DEVELOPMENT_TOLERANCE,
    Columns,
    Issue,
    meaning_issues,
)
from coopchain.models.problem_rules import enterprise_template
from coopchain.models.problem_rules import given as _given
from coopchain.models.problem_rules import show as _show
from coopchain.models.problem_canonical import (  # noqa: F401  (the text helpers keep their old names here)
    NEEDS_ESCAPE as _NEEDS_ESCAPE,
    SCHEMA,
    ProblemError,
    bulk as _bulk,
    numbers as _numbers,
    sorted_names as _sorted,
    string as _string,
)

# --- errors ---------------------------------------------------------------------------


# --- the document ----------------------------------------------------------------------

# Numbers are strict: a JSON number (integer or not), never a string or true/false.
Number = Annotated[float, Field(strict=True)]
NonNegative = Annotated[float, Field(strict=True, ge=0)]
Positive = Annotated[float, Field(strict=True, gt=0)]
Text = Annotated[str, Field(strict=True, min_length=1)]

_DOCUMENT = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class Resource(BaseModel):
    """A resource r (SPEC §1): the cooperative cap R_0^r and the footprint weight ω_r."""

    model_config = _DOCUMENT

    cap: Positive
    weight: NonNegative


class Demand(BaseModel):
    """The demand window D_min <= Σ_j W_j <= D_max (SPEC §1)."""

    model_config = _DOCUMENT

    min: NonNegative
    max: NonNegative


class Enterprise(BaseModel):
    """One member enterprise j (SPEC §1, §6); ``cap`` holds only the caps it has."""

    model_config = _DOCUMENT

    id: Text
    name: Annotated[str, Field(strict=True)] | None = None
    min: NonNegative
    max: NonNegative
    benefit: dict[str, NonNegative]
    use: dict[str, NonNegative] = Field(default_factory=dict)  # may be absent when there are no resources
    cap: dict[str, NonNegative] = Field(default_factory=dict)
    u0: Number
    g: NonNegative
    alpha: NonNegative | None = None
    reservation: NonNegative = 0.0


class Problem(BaseModel):
    """A ``coopchain/problem/v1`` document (SPEC §6), structurally and semantically valid.

    ``alpha`` is None on every enterprise when the document leaves it out (equal
    weights); when given but not summing to 1 it is stored rescaled, and
    ``notices`` says so.
    """

    model_config = _DOCUMENT

    schema_: Literal["coopchain/problem/v1"] = Field(alias="schema")
    cooperative: Text
    round: Text
    indicators: dict[Text, NonNegative] = Field(min_length=1)
    resources: dict[Text, Resource]
    demand: Demand
    enterprises: list[Enterprise] = Field(min_length=1)

    _notices: tuple[str, ...] = PrivateAttr(default=())

    @property
    def notices(self) -> tuple[str, ...]:
        """What validation changed in the document and tells the user (e.g. alpha rescaled)."""
        return self._notices

    @model_validator(mode="wrap")
    @classmethod
    def _meaning(cls, data: Any, handler):
        # A wrap validator runs the meaning checks only once the structure is valid,
        # and may return a corrected copy (rescaled alpha) of a frozen model.
        if isinstance(data, Problem):
            return data
        problem = handler(data)
        issues, alpha, notices = _check(problem)
        if issues:
            raise ProblemError(issues)
        if alpha is not None:
            enterprises = [e.model_copy(update={"alpha": a}) for e, a in zip(problem.enterprises, alpha)]
            problem = problem.model_copy(update={"enterprises": enterprises})
        problem._notices = tuple(notices)
        return problem


_KNOWN_FIELDS = {
    "a problem document": ("schema", "cooperative", "round", "indicators", "resources", "demand", "enterprises"),
    "a resource": tuple(Resource.model_fields),
    "the demand window": tuple(Demand.model_fields),
    "an enterprise": tuple(Enterprise.model_fields),
}


# --- meaning checks ---------------------------------------------------------------------


def _fmt(x: float) -> str:
    """A computed number for a sentence: 6 significant digits, no exponent in the usual range."""
    s = f"{x:.6g}"
    if "e" in s and 1e-4 <= abs(float(s)) < 1e16:
        s = f"{float(s):f}".rstrip("0").rstrip(".")
    return s


def _names(names: Iterable[str]) -> str:
    return ", ".join(names) or "none"


def _key_issues(where: str, given: dict, known: dict, kind: str, missing: str | None) -> list[Issue]:
    """Unknown names in ``given`` and, with a ``missing`` sentence, the known names it leaves out."""
    out = [
        Issue(f"{where}.{k}", f"{json.dumps(k, ensure_ascii=False)} is not {kind} of this problem (known: {_names(known)})")
        for k in given
        if k not in known
    ]
    if missing:
        out += [Issue(f"{where}.{k}", f"is missing: {missing}") for k in known if k not in given]
    return out


_NO_BENEFIT = "every enterprise must give its benefit per unit of volume for every indicator (0 if none)"
_NO_USE = "every enterprise must give its use per unit of volume of every resource (0 if none)"


def _check(p: Problem) -> tuple[list[Issue], list[float] | None, list[str]]:
    """The meaning checks of SPEC §1/§6 on a structurally valid document.

    Returns the issues, the rescaled alpha (None when alpha stays as given) and the notices.
    """
    issues: list[Issue] = []
    ents = p.enterprises
    n = len(ents)
    indicators, resources = p.indicators, p.resources
    ind_keys, res_keys = indicators.keys(), resources.keys()

    issues += _text_issues(p)

    # Names and ids: one Python pass, the cheap equality test first.
    broken = np.zeros(n, dtype=bool)
    first_seen: dict[str, int] = {}
    for j, e in enumerate(ents):
        where = f"enterprises[{j}]"
        first = first_seen.setdefault(e.id, j)
        if first != j:
            issues.append(Issue(f"{where}.id", f"the id {_show(e.id)} is used twice, by enterprises[{first}] and enterprises[{j}]; ids must be unique"))
        if e.benefit.keys() != ind_keys:
            broken[j] = True
            issues += _key_issues(f"{where}.benefit", e.benefit, indicators, "an indicator", _NO_BENEFIT)
        if e.use.keys() != res_keys:
            broken[j] = True
            issues += _key_issues(f"{where}.use", e.use, resources, "a resource", _NO_USE)
        if not e.cap.keys() <= res_keys:
            broken[j] = True
            issues += _key_issues(f"{where}.cap", e.cap, resources, "a resource", None)

    # Columns, one list comprehension each: cheaper than a row loop at n = 100,000.
    lo_vol = np.array([e.min for e in ents])
    hi_vol = np.array([e.max for e in ents])
    u0 = np.array([e.u0 for e in ents])
    g = np.array([e.g for e in ents])
    reservation = np.array([e.reservation for e in ents])
    weights = np.array([indicators[k] for k in ind_keys])
    benefits, uses, caps = [e.benefit for e in ents], [e.use for e in ents], [e.cap for e in ents]
    if broken.any():  # a missing name reads as 0 here; those enterprises are left out below
        benefit = np.array([[b.get(k, 0.0) for b in benefits] for k in ind_keys]).reshape(len(ind_keys), n).T
        use = np.array([[u.get(r, 0.0) for u in uses] for r in res_keys], dtype=float).reshape(len(res_keys), n).T
    else:
        benefit = np.array([[b[k] for b in benefits] for k in ind_keys]).reshape(len(ind_keys), n).T
        use = np.array([[u[r] for u in uses] for r in res_keys], dtype=float).reshape(len(res_keys), n).T
    cap = np.array([[c.get(r, math.inf) for c in caps] for r in res_keys], dtype=float).reshape(len(res_keys), n).T

    # The numeric rules are the leaf's (models.problem_rules): the certificate verifier runs the same ones.
    d = p.demand
    alpha = np.array([math.nan if e.alpha is None else e.alpha for e in ents])
    columns = Columns(
        ids=tuple(e.id for e in ents), indicators=tuple(ind_keys), resources=tuple(res_keys),
        weights=weights, resource_cap=np.array([resources[r].cap for r in res_keys], dtype=float),
        resource_weight=np.array([resources[r].weight for r in res_keys], dtype=float),
        demand_min=d.min, demand_max=d.max, volume_min=lo_vol, volume_max=hi_vol, u0=u0, g=g,
        reservation=reservation, alpha=alpha, benefit=benefit, use=use, cap=cap, broken=broken,
    )
    more, alpha, notices = meaning_issues(columns)
    return issues + more, alpha, notices


def _text_issues(p: Problem) -> list[Issue]:
    """Text that cannot be UTF-8 (lone surrogates from ``\\ud800`` escapes) cannot be hashed."""
    texts = [("cooperative", p.cooperative), ("round", p.round)]
    texts += [(f"indicators.{k}", k) for k in p.indicators] + [(f"resources.{k}", k) for k in p.resources]
    # Only non-ASCII text can hold a surrogate; ids and names are nearly always ASCII.
    texts += [(f"enterprises[{j}].id", e.id) for j, e in enumerate(p.enterprises) if not e.id.isascii()]
    texts += [(f"enterprises[{j}].name", e.name) for j, e in enumerate(p.enterprises) if e.name is not None and not e.name.isascii()]
    out = []
    for path, text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            out.append(Issue(path, "contains an invalid character (a lone UTF-16 surrogate); use plain Unicode text"))
    return out


# --- pydantic's errors, in words ------------------------------------------------------------


def loc_path(loc: tuple) -> str:
    """A pydantic error location as a document path: ("enterprises", 1, "max") -> "enterprises[1].max"."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _owner(parent: tuple) -> str:
    """Which kind of object sits at ``parent`` (for the known-fields list of extra_forbidden)."""
    if not parent:
        return "a problem document"
    if parent[0] == "demand":
        return "the demand window"
    return "a resource" if parent[0] == "resources" else "an enterprise"


def _sentence(err: dict) -> str:
    kind, given, ctx, loc = err["type"], err.get("input"), err.get("ctx") or {}, err["loc"]
    if kind == "missing":
        return "is required but missing"
    if kind == "extra_forbidden":
        owner = _owner(loc[:-1])
        known = _KNOWN_FIELDS[owner]
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"is not a field of {owner} (known fields: {_names(known)}){hint}"
    if kind == "finite_number":
        return "must be a finite number, not NaN or infinity"
    if kind == "greater_than_equal":
        return f"must not be negative (got {_show(given)})" if ctx.get("ge") == 0 else f"must be at least {ctx.get('ge')} (got {_show(given)})"
    if kind == "greater_than":
        return f"must be positive (got {_show(given)})" if ctx.get("gt") == 0 else f"must be greater than {ctx.get('gt')} (got {_show(given)})"
    if kind in ("float_type", "float_parsing"):
        return f"must be a number (got {_show(given)})"
    if kind == "string_type":
        return f"must be text (got {_show(given)})"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "too_short":
        return "must not be empty" if loc[-1] != "enterprises" else "must list at least one enterprise"
    if kind == "literal_error":
        return f"must be {json.dumps(SCHEMA)}, the only version this service reads (got {_show(given)})"
    if kind == "dict_type":
        return f"must be an object of names and values {{...}} (got {_show(given)})"
    if kind in ("model_type", "model_attributes_type"):
        return f"must be an object {{...}} (got {_show(given)})"
    if kind == "list_type":
        return f"must be a list [...] (got {_show(given)})"
    return err["msg"][0].lower() + err["msg"][1:]


def _issues(error: ValidationError) -> list[Issue]:
    out: list[Issue] = []
    for err in error.errors(include_url=False):
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, ProblemError):
            out += cause.issues
        elif err["loc"] and err["loc"][-1] == "[key]":
            out.append(Issue(loc_path(err["loc"][:-2]), f"names must not be empty (got {_show(err['loc'][-2])})"))
        else:
            out.append(Issue(loc_path(err["loc"]), _sentence(err)))
    return out


# --- reading ---------------------------------------------------------------------------------


def parse_problem(doc: dict) -> Problem:
    """Validate a parsed problem document (SPEC §6); raise ProblemError listing every issue."""
    if not isinstance(doc, dict):
        raise ProblemError([Issue("", f"a problem document must be a JSON object {{...}}, not {_show(doc)}")])
    try:
        with _bulk():
            return Problem.model_validate(doc)
    except ValidationError as e:
        raise ProblemError(_issues(e) + _meaning_beside(doc, e)) from e


# Top-level fields whose structural fault does not stop the meaning checks of the rest: a stand-in
# takes their place (unknown top-level fields are left out).  A fault in indicators, resources or
# demand does stop them: every enterprise is checked against those.
_STAND_INS = {"schema": SCHEMA, "cooperative": "?", "round": "?"}


def _meaning_beside(doc: dict, error: ValidationError) -> list[Issue]:
    """The meaning issues of the structurally sound part of a document that has structural issues.

    A manager fixing a document wants every issue at once, not the meaning issues only after the
    structural ones are fixed.  Each enterprise with a structural issue is replaced by a stand-in
    with no benefit and no use: the meaning checks count it as broken, so it takes no part in the
    sums (the demand window is not judged), and what they say about the stand-in is dropped.
    """
    bad: set[int] = set()
    doc = dict(doc)
    for err in error.errors(include_url=False):
        loc = err["loc"]
        if isinstance((err.get("ctx") or {}).get("error"), ProblemError):
            return []  # the meaning checks ran already
        if len(loc) >= 2 and loc[0] == "enterprises" and isinstance(loc[1], int):
            bad.add(loc[1])
        elif len(loc) == 1 and loc[0] in _STAND_INS:
            doc[loc[0]] = _STAND_INS[loc[0]]
        elif len(loc) == 1 and err["type"] == "extra_forbidden":
            doc.pop(loc[0], None)
        else:
            return []
    enterprises = doc.get("enterprises")
    if not isinstance(enterprises, list) or len(bad) == len(enterprises):
        return []
    doc["enterprises"] = [_stand_in(j, e) if j in bad else e for j, e in enumerate(enterprises)]
    try:
        Problem.model_validate(doc)
    except ValidationError as e:
        found = [i for err in e.errors(include_url=False) if isinstance(cause := (err.get("ctx") or {}).get("error"), ProblemError) for i in cause.issues]
        return [i for i in found if not {int(j) for j in _ENTERPRISE_REF.findall(i.path + " " + i.message)} & bad]
    return []


def _stand_in(j: int, given: Any) -> dict:
    """A structurally valid enterprise in place of a broken one, keeping its alpha when that is sound."""
    alpha = given.get("alpha") if isinstance(given, dict) else None
    sound = type(alpha) in (int, float) and math.isfinite(alpha) and alpha >= 0
    return {"id": f"\x00stand-in {j}", "min": 0, "max": 0, "benefit": {}, "use": {}, "u0": 0.5, "g": 0, **({"alpha": alpha} if sound else {})}


def _json(text: str | bytes, what: str) -> Any:
    if isinstance(text, str):
        text = text.removeprefix("\ufeff")  # a byte-order mark from a Windows editor is not content
    try:
        # Python's json reads NaN and Infinity; they reach the model and are refused there, with a path.
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ProblemError([Issue("", f"{what} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}")]) from e
    except UnicodeDecodeError as e:
        raise ProblemError([Issue("", f"{what} is not UTF-8 text (byte {e.start} cannot be read)")]) from e
    except RecursionError as e:
        raise ProblemError([Issue("", f"{what} is nested too deeply to be a problem document")]) from e
    except ValueError as e:
        # CPython refuses to convert an integer of more than 4,300 digits (a plain ValueError, review R-9).
        raise ProblemError([Issue("", f"{what} holds a number too long to read ({str(e).split(':')[0]})")]) from e
    _refuse_repeated_keys(text, doc)
    return doc


def _refuse_repeated_keys(text: str | bytes, doc) -> None:
    """json.loads reads a key given twice last-wins, which a reader of the file would not: refuse it, naming the
    key and where it is (cheap when there is none: counts of members and of colons; models.strict_json)."""
    from coopchain.models.strict_json import count_members, repeated_key_issue

    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    found = repeated_key_issue(raw.removeprefix(b"\xef\xbb\xbf"), count_members(doc))
    if found is not None:
        where, key = found
        place = "in this object" if where else "at the top level of the document"
        raise ProblemError([Issue(where, f"the key {json.dumps(key, ensure_ascii=False)} is given twice {place}: which value is meant? Give each key once")])


def load_problem_json(text: str | bytes) -> Problem:
    """Read a problem document from JSON text (SPEC §6)."""
    with _bulk():
        return parse_problem(_json(text, "the problem"))


_CSV_FIELDS = ("id", "name", "min", "max", "u0", "g", "alpha", "reservation")
_CSV_TEXT = ("id", "name")
_CSV_REQUIRED = ("id", "min", "max", "u0", "g")
_CSV_GROUPS = ("benefit", "use", "cap")
_CSV_KNOWN = ", ".join(_CSV_FIELDS) + ", benefit.<indicator>, use.<resource>, cap.<resource>"
_ENTERPRISE_REF = re.compile(r"enterprises\[(\d+)\]")


_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+")


def _cell_number(text: str, decimal_comma: bool = False) -> float | str:
    try:
        return float(text)
    except ValueError:
        if decimal_comma and _DECIMAL_COMMA.fullmatch(text):
            return float(text.replace(",", "."))
        return text  # left as text so that validation says "must be a number (got ...)" with the path


# Spreadsheets save "CSV" with the list separator of the user's locale: a semicolon where the
# decimal mark is a comma (most of Europe, Latin America), sometimes a tab.  Column names hold
# none of these, so the header row says which one the table uses.
_DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}


def _delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _header_issues(header: dict) -> list[Issue]:
    """The issues of the cooperative-level fields alone (reported beside issues with the columns)."""
    try:
        Problem.model_validate({**header, "enterprises": [None]})
    except ValidationError as e:
        return [i for i in _issues(e) if not i.path.startswith("enterprises")]
    return []


def _csv_columns(names: list[str], header: dict) -> tuple[list[tuple[str | None, str]], list[Issue]]:
    """Each column as (group or None, key), and the issues with the header row itself."""
    columns: list[tuple[str | None, str]] = []
    issues: list[Issue] = []
    seen: set[str] = set()
    for name in names:
        name = name.strip()
        where = f"CSV column {name!r}"
        if name in seen:
            issues.append(Issue(where, "appears twice in the header row"))
        seen.add(name)
        group, dot, key = name.partition(".")
        if dot and group in _CSV_GROUPS and key:
            columns.append((group, key))
        elif not dot and name in _CSV_FIELDS:
            columns.append((None, name))
        else:
            issues.append(Issue(where, f"is not a column of the enterprise table (known columns: {_CSV_KNOWN})"))
            columns.append(("?", name))
    issues += [Issue(f"CSV column {f!r}", "is required but missing from the header row") for f in _CSV_REQUIRED if f not in seen]
    # Names are checked per column, not per row: every row would repeat the same complaint.
    for group, table, kind in (("benefit", "indicators", "an indicator"), ("use", "resources", "a resource"), ("cap", "resources", "a resource")):
        known = header.get(table)
        if not isinstance(known, dict):
            continue  # the header's own issue is reported when the document is validated
        keys = [key for g, key in columns if g == group]
        issues += [Issue(f"CSV column '{group}.{k}'", f"{k!r} is not {kind} of this problem (known: {_names(known)})") for k in keys if k not in known]
        if group != "cap":
            issues += [Issue(f"CSV column '{group}.{k}'", f"is missing: the table needs a {group} column for each {kind.split()[1]}") for k in known if k not in keys]
    return columns, issues


def load_problem_csv(csv_text: str, header: dict) -> Problem:
    """Read a problem from a CSV enterprise table and its cooperative-level header (SPEC §6).

    One row per enterprise; an empty cell means "not given" (no cap, default
    alpha or reservation).  Issues name the document path and the CSV row, e.g.
    ``enterprises[3] (CSV row 5).benefit.profit``.  Problems with the columns
    are reported with the header's own, before any row is read: every row would
    repeat them.  A table separated by semicolons (or tabs) is read as such, with
    decimal commas in a semicolon table read as decimal points; a notice says so.
    """
    if not isinstance(header, dict):
        raise ProblemError([Issue("", f"the header must be a JSON object {{...}} with the cooperative-level fields, not {_show(header)}")])
    issues: list[Issue] = []
    if "enterprises" in header:
        issues.append(Issue("enterprises", "must not be in the header: the CSV table carries the enterprises"))
    text = csv_text.removeprefix("\ufeff")
    delimiter = _delimiter(text)
    decimal_comma = delimiter == ";" and any(_DECIMAL_COMMA.fullmatch(c.strip()) for c in re.split(r"[;\n]", text))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        names = next(reader, None)
        if names is None:
            raise ProblemError(issues + [Issue("", "the CSV is empty: it needs a header row naming the columns and one row per enterprise")])
        columns, column_issues = _csv_columns(names, header)
        if column_issues:
            raise ProblemError(issues + _header_issues(header) + column_issues)
        with _bulk():
            rows, enterprises = _csv_rows(reader, columns, issues, decimal_comma)
    except csv.Error as e:
        raise ProblemError(issues + [Issue("", f"the CSV cannot be read at line {reader.line_num}: {e}")]) from e
    problem = None
    try:
        problem = parse_problem({**header, "enterprises": enterprises})
    except ProblemError as e:
        issues += e.issues
    if issues:
        raise ProblemError(_with_rows(issues, rows))
    if delimiter != ",":
        read = f"read as a {_DELIMITERS[delimiter]}-separated table"
        if decimal_comma:
            read += ", decimal commas as decimal points (0,5 = 0.5)"
        problem._notices = (read,) + problem.notices
    return problem


def _csv_rows(reader, columns: list[tuple[str | None, str]], issues: list[Issue], decimal_comma: bool = False) -> tuple[list[int], list[dict]]:
    """Each non-blank row as an enterprise object, and the CSV row (line) it came from."""
    rows: list[int] = []
    enterprises: list[dict] = []
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue  # blank lines, common at the end of exported files
        j = len(enterprises)
        rows.append(reader.line_num)
        if len(cells) > len(columns):
            issues.append(Issue(f"enterprises[{j}]", f"has {len(cells)} cells but the header row names {len(columns)} columns"))
        ent: dict[str, Any] = {"benefit": {}, "use": {}}
        for (group, key), cell in zip(columns, cells):
            cell = cell.strip()
            if not cell:
                continue
            if group is None:
                ent[key] = cell if key in _CSV_TEXT else _cell_number(cell, decimal_comma)
            else:
                ent.setdefault(group, {})[key] = _cell_number(cell, decimal_comma)
        enterprises.append(ent)
    return rows, enterprises


def _with_rows(issues: list[Issue], rows: list[int]) -> list[Issue]:
    """Add the CSV row to every enterprises[j] in paths and messages."""

    def label(m: re.Match) -> str:
        j = int(m.group(1))
        return f"{m.group(0)} (CSV row {rows[j]})" if j < len(rows) else m.group(0)

    return [Issue(_ENTERPRISE_REF.sub(label, i.path), _ENTERPRISE_REF.sub(label, i.message)) for i in issues]


def load_problem_file(path: str | Path, header_path: str | Path | None = None) -> Problem:
    """Read a .json problem document, or a .csv enterprise table with its header (SPEC §6).

    The header of ``table.csv`` defaults to ``table.header.json`` beside it.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return load_problem_json(_read(path))
    if suffix != ".csv":
        raise ProblemError([Issue("", f"{path.name} must be a .json problem document or a .csv enterprise table")])
    header_path = Path(header_path) if header_path is not None else path.with_name(path.stem + ".header.json")
    if not header_path.is_file():
        raise ProblemError([Issue("", (
            f"the CSV {path.name} needs a header file with the cooperative-level fields "
            f"(schema, cooperative, round, indicators, resources, demand); {header_path} does not exist"
        ))])
    header = _json(_read(header_path), f"the header file {header_path.name}")
    try:
        text = _read(path).decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ProblemError([Issue("", f"{path.name} is not UTF-8 text (byte {e.start} cannot be read); save it as CSV UTF-8")]) from e
    return load_problem_csv(text, header)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise ProblemError([Issue("", f"cannot read {path}: {e.strerror or e}")]) from e


# --- identity --------------------------------------------------------------------------------


def _canonical_head(p: Problem) -> dict:
    """The cooperative-level part of the canonical document (all but the enterprises)."""
    return {
        "schema": p.schema_,
        "cooperative": p.cooperative,
        "round": p.round,
        "indicators": {k: p.indicators[k] for k in _sorted(p.indicators)},
        "resources": {r: {"cap": p.resources[r].cap, "weight": p.resources[r].weight} for r in _sorted(p.resources)},
        "demand": {"min": p.demand.min, "max": p.demand.max},
    }


def _canonical_document(p: Problem) -> dict:
    """The canonical document as Python objects: what ``json.loads(canonical_json(p))`` gives.

    Every default is written out (alpha 1/n each when absent, reservation, cap),
    and names are in canonical order, as an auditor reading the text sees them:
    the order of indicators and resources is the order of the instance's columns.
    """
    ind, res = _sorted(p.indicators), _sorted(p.resources)
    uniform = 1.0 / len(p.enterprises)
    enterprises = []
    for e in p.enterprises:
        b, u, c = e.benefit, e.use, e.cap
        doc = {
            "id": e.id, "min": e.min, "max": e.max,
            "benefit": {k: b[k] for k in ind},
            "use": {r: u[r] for r in res},
            "cap": {r: c[r] for r in res if r in c},
            "u0": e.u0, "g": e.g,
            "alpha": uniform if e.alpha is None else e.alpha,
            "reservation": e.reservation,
        }
        if e.name is not None:
            doc["name"] = e.name
        enterprises.append(doc)
    return {**_canonical_head(p), "enterprises": enterprises}


def _enterprises_text(p: Problem) -> str:
    """The canonical enterprise array, written column by column: rfc8785.dumps takes ~4 s at n = 100,000."""
    ind, res = _sorted(p.indicators), _sorted(p.resources)
    ents = p.enterprises
    uniform = 1.0 / len(ents)
    nan = math.nan
    columns = [_numbers([uniform if e.alpha is None else e.alpha for e in ents])]
    columns += [_numbers([e.benefit[k] for e in ents]) for k in ind]
    columns += [_numbers([e.cap.get(r, nan) for e in ents]) for r in res]
    columns += [
        _numbers([e.g for e in ents]),
        [_string(e.id) for e in ents],
        _numbers([e.max for e in ents]),
        _numbers([e.min for e in ents]),
        ["" if e.name is None else f'"name":{_string(e.name)},' for e in ents],
        _numbers([e.reservation for e in ents]),
        _numbers([e.u0 for e in ents]),
    ]
    columns += [_numbers([e.use[r] for e in ents]) for r in res]
    # One template per set of caps given (usually one or two sets in a whole document).
    shapes = [tuple(e.cap) for e in ents]
    templates = {shape: enterprise_template(ind, res, shape) for shape in set(shapes)}
    return "[" + ",".join([templates[shape].format(*row) for shape, row in zip(shapes, zip(*columns))]) + "]"


def canonical_json(problem: Problem) -> str:
    """The canonical form (SPEC §6): RFC 8785 JSON of the document with every default explicit.

    Documents that mean the same thing (key order, 120 vs 120.0, alpha absent vs
    equal) have the same canonical form.  The cooperative-level part goes through
    rfc8785.dumps; the enterprise array is written in bulk by ``_enterprises_text``,
    which the tests check against rfc8785.dumps.
    """
    with _bulk():
        doc = {**_canonical_head(problem), "enterprises": None}
        fields = []
        for key in _sorted(doc):
            value = _enterprises_text(problem) if key == "enterprises" else rfc8785.dumps(doc[key]).decode()
            fields.append(f"{_string(key)}:{value}")
        return "{" + ",".join(fields) + "}"


def problem_id(problem: Problem) -> str:
    """The problem's identity (SPEC §6): SHA-256 of its canonical form, hex."""
    return problem_hash(canonical_json(problem))


def to_instance(problem: Problem) -> Instance:
    """The solver's arrays, exactly as an auditor reads them from the canonical form.

    Equal to ``instance_from_document(json.loads(canonical_json(problem)))``: the
    canonical text writes each float in its shortest round-trip digits, so reading
    it back gives the same floats; the dictionary is used directly to skip the text.
    """
    with _bulk():
        inst = instance_from_document(_canonical_document(problem))
    for value in vars(inst).values():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            value += 0.0  # -0.0 becomes 0.0, as it does when the text "0" is read back
    return inst
