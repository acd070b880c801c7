"""The problem document read column by column: the fast path of `coopchain solve FILE` (issue 16).

models.problem validates a document as one pydantic object per enterprise, which at
n = 100,000 costs seconds before any solving.  Here the same document goes from
its bytes to columns (msgspec decodes the enterprises into typed structs, checking
names and JSON types in C; a CSV table goes through the csv module), the structural
rules are checked on whole columns (signs and finiteness by numpy), the meaning
rules are the leaf's own (models.problem_rules.meaning_issues, which the pydantic
path runs too), and the canonical text, its hash and the solver's arrays are made
once from those columns.

Only a sound document takes this path to the end.  At the first doubt (anything
msgspec refuses, a field of the wrong type, a sign, an unknown or missing name, an
id used twice, any meaning issue) the document is read again by models.problem,
whose messages are the ones a user sees: the fast path never words an error.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import math
import mmap
import os
import pickle
import re
import time
from dataclasses import dataclass, field
from functools import cached_property
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
import numpy as np
import orjson
import rfc8785

from coopchain.models.certificate import Instance, hashed_as_written
from coopchain.models.problem_rules import Columns, meaning_issues
from coopchain.models.problem_canonical import SCHEMA, NEEDS_ESCAPE, Issue, ProblemError, bulk, numbers, sorted_names, string
from coopchain.models.strict_json import count_members, repeated_key_issue
from coopchain.models.solve import Prepared

if TYPE_CHECKING:
    from coopchain.models.problem import Problem

# The helpers under the names this module has always used.
_NEEDS_ESCAPE, _bulk, _numbers, _sorted, _string = NEEDS_ESCAPE, bulk, numbers, sorted_names, string


class Demand(NamedTuple):
    """The demand window, as models.problem.Demand shows it (min, max)."""

    min: float
    max: float


class _Doubt(Exception):
    """The fast path cannot vouch for the document: models.problem reads it and says why."""


class EnterpriseRow(NamedTuple):
    """What a summary shows of one enterprise."""

    id: str
    name: str | None
    min: float
    max: float


@dataclass(frozen=True, eq=False)
class ColumnProblem:
    """A validated problem read by columns: the cooperative-level fields a summary shows, and the arrays."""

    cooperative: str
    round: str
    demand: Demand
    notices: tuple[str, ...]
    instance: Instance
    names: tuple[str | None, ...] | None = field(repr=False)  # None when no enterprise has a name

    @cached_property
    def enterprises(self) -> list[EnterpriseRow]:
        inst = self.instance
        names = self.names or (None,) * inst.n
        return [EnterpriseRow(*row) for row in zip(inst.ids, names, inst.volume_min.tolist(), inst.volume_max.tolist())]


@dataclass(frozen=True, eq=False)
class Loaded:
    """A problem ready to solve: what `coopchain solve` prints about it and what the solvers take."""

    problem: Problem | ColumnProblem
    prepared: Prepared
    problem_hash: str


def load_prepared(path: str | Path, header_path: str | Path | None = None, phases: dict | None = None, *,
                  parallel: bool = False) -> Loaded:
    """Read, validate, canonicalise and hash a problem file, and build its arrays, once.

    Raises models.problem.ProblemError with exactly the issues models.problem reports.
    ``phases``, when given, receives [wall, cpu] seconds per phase (for bench/bench_e2e.py).
    ``parallel``: a forked process writes half of a large problem's canonical text (a
    command's choice: a process with threads of its own, a server, should not fork).
    """
    clock = _Clock(phases)
    try:
        with _bulk():  # millions of small objects and no cycles: the collector's passes only cost
            return _fast(Path(path), header_path, clock, parallel)
    except _Doubt:
        pass
    from coopchain.models.problem import load_problem_file  # pydantic: only for documents the fast path doubts
    from coopchain.models.solve import prepare

    problem = load_problem_file(path, header_path)  # raises ProblemError with the user's messages
    clock.lap("validate")
    prepared = prepare(problem)
    clock.lap("canonical")
    digest = hashlib.sha256(prepared.canonical.encode("utf-8")).hexdigest()
    return Loaded(problem, prepared, digest)


def columns_form(loaded: Loaded) -> bytes:
    """The problem's columns form (models.problem_form), from its arrays: what a v3 certificate names by hash."""
    from coopchain.models.problem_form import encode_instance

    problem = loaded.problem
    names = problem.names if isinstance(problem, ColumnProblem) else tuple(e.name for e in problem.enterprises)
    return encode_instance(loaded.prepared.instance, problem.cooperative, problem.round, names)


def load_uploaded(data: bytes, header: str | bytes | None = None) -> Loaded | None:
    """An uploaded document (JSON bytes; or CSV bytes with its header's JSON text) by the same columnar path; None
    where the path doubts it: the caller then reads it with models.problem, whose messages the user sees."""
    try:
        with _bulk():
            if header is None:
                return _from_bytes(".json", data, None, _Clock(None), False)
            return _from_bytes(".csv", data, header.encode("utf-8") if isinstance(header, str) else header, _Clock(None), False)
    except (_Doubt, UnicodeEncodeError):
        return None


def read_problem_timed(path: str | Path, phases: dict, parallel: bool = True) -> Prepared:
    """`load_prepared` with each phase timed into ``phases`` (name -> [wall s, cpu s]), as `coopchain solve` runs it."""
    return load_prepared(path, None, phases, parallel=parallel).prepared


class _Clock:
    def __init__(self, phases: dict | None):
        self.phases = phases
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self, name: str) -> None:
        if self.phases is not None:
            wall, cpu = time.perf_counter(), time.process_time()
            spent = self.phases.setdefault(name, [0.0, 0.0])
            spent[0] += wall - self.wall
            spent[1] += cpu - self.cpu
            self.wall, self.cpu = wall, cpu


# --- reading ----------------------------------------------------------------------------------


def _fast(path: Path, header_path, clock: _Clock, parallel: bool = False) -> Loaded:
    suffix = path.suffix.lower()
    if suffix not in (".json", ".csv"):
        raise _Doubt
    try:
        data = path.read_bytes()
        header_bytes = None
        if suffix == ".csv":
            header_path = Path(header_path) if header_path is not None else path.with_name(path.stem + ".header.json")
            header_bytes = header_path.read_bytes()
    except OSError:
        raise _Doubt from None
    clock.lap("read")
    return _from_bytes(suffix, data, header_bytes, clock, parallel)


def _from_bytes(suffix: str, data: bytes, header_bytes: bytes | None, clock: _Clock, parallel: bool) -> Loaded:
    try:
        if suffix == ".json":
            head, columns = _json_columns(data.removeprefix(b"\xef\xbb\xbf"), parallel)
            del data  # at n = 10^6 the file's 370 MB are no longer needed
        else:
            header_bytes = header_bytes.removeprefix(b"\xef\xbb\xbf")
            head = orjson.loads(header_bytes)
            if not isinstance(head, dict) or "enterprises" in head:
                raise _Doubt
            _refuse_repeated_keys(header_bytes, count_members(head), "the header")  # orjson reads them last-wins
            columns = _csv_columns(data, parallel)
    except (orjson.JSONDecodeError, msgspec.DecodeError, UnicodeDecodeError):
        raise _Doubt from None
    clock.lap("parse")
    checked = _check(head, columns, csv_table=suffix == ".csv")
    clock.lap("validate")
    canonical, digest = _canonical(checked, parallel)
    hashed_as_written(canonical, digest)  # the certificate names the problem by this hash: not taken twice
    clock.lap("canonical")
    instance = _instance(checked)
    clock.lap("instance")
    problem = ColumnProblem(checked.cooperative, checked.round, Demand(min=checked.demand_min, max=checked.demand_max),
                            checked.notices, instance, checked.names)
    return Loaded(problem, Prepared(canonical, instance), digest)


_FIELDS = frozenset(("id", "min", "max", "benefit", "u0", "g", "name", "use", "cap", "alpha", "reservation"))  # of a CSV table
_NUMBER_TYPES = {float, int}


class _Head(msgspec.Struct, forbid_unknown_fields=True):
    """The top level of a JSON document; its enterprises are read once their names are known."""

    schema: Any
    cooperative: Any
    round: Any
    indicators: Any
    resources: Any
    demand: Any
    enterprises: msgspec.Raw


_UNSET = type(msgspec.UNSET)


def _group(name: str, keys: list[str], required: bool) -> type:
    """A struct type for benefit, use or cap with the document's own names as fields (any text: renamed)."""
    kind = float if required else float | msgspec.UnsetType
    fields = [(f"f{i}", kind) if required else (f"f{i}", kind, msgspec.UNSET) for i in range(len(keys))]
    return msgspec.defstruct(name, fields, rename={f"f{i}": k for i, k in enumerate(keys)}, forbid_unknown_fields=True, gc=False)


def _enterprise_type(ind: list[str], res: list[str]) -> type:
    """One enterprise as a typed struct: msgspec checks names and JSON types in C, no dict per enterprise.

    Absent and null differ where models.problem says they do: name and alpha may be
    null; use, cap, reservation and every cap value may be absent, not null.
    """
    benefit, use, cap = _group("Benefit", ind, True), _group("Use", res, True), _group("Cap", res, False)
    return msgspec.defstruct("Enterprise", [
        ("id", str), ("min", float), ("max", float), ("benefit", benefit), ("u0", float), ("g", float),
        ("name", str | None, None), ("use", use | msgspec.UnsetType, msgspec.UNSET), ("cap", cap | msgspec.UnsetType, msgspec.UNSET),
        ("alpha", float | None, None), ("reservation", float | msgspec.UnsetType, msgspec.UNSET),
    ], forbid_unknown_fields=True, gc=False)


def _document_type(ind: list[str], res: list[str]) -> type:
    """The whole document as one struct, its enterprises typed by the names of its indicators and resources."""
    return msgspec.defstruct("Document", [(k, Any) for k in _Head.__struct_fields__ if k != "enterprises"]
                             + [("enterprises", list[_enterprise_type(ind, res)])], forbid_unknown_fields=True)


def _names_around_enterprises(data: bytes) -> tuple[list[str], list[str], int, int] | None:
    """The indicator and resource names, read from the document with its enterprise array left out; None if unsure.

    Usually the enterprise array is the document's last member: cut from the "[" after
    the first "enterprises" key to the document's last "]", the rest is the small top
    level, read in microseconds.  Reading the whole document first to learn these names
    cost a pass over all of it (0.5 s at n = 10^6).  A guess only: the document is then
    read with the names guessed, and its own names must be the same.  Also returned: where
    the guessed array starts ("[") and ends ("]").
    """
    at = data.find(b'"enterprises"')
    start = data.find(b"[", at) if at >= 0 else -1
    end = data.rfind(b"]")
    if start < 0 or end < start or data[at + len(b'"enterprises"'):start].strip() != b":":
        return None
    try:
        top = msgspec.json.decode(data[:start] + b"[]" + data[end + 1:], type=_Head)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if type(top.indicators) is not dict or type(top.resources) is not dict:
        return None
    return list(top.indicators), list(top.resources), start, end


def _floats(values: list) -> np.ndarray:
    return np.fromiter(values, dtype=float, count=len(values))


def _optional_floats(values: list, absent) -> np.ndarray | None:
    """A column where ``absent`` (None or UNSET) marks a value not given: NaN there; None when none is given."""
    kinds = set(map(type, values))
    if type(absent) not in kinds:
        return _floats(values)
    if kinds == {type(absent)}:
        return None
    return np.array([math.nan if v is absent else v for v in values], dtype=float)


def _refuse_repeated_keys(data: bytes, members: int, what: str = "the document") -> None:
    """ProblemError naming a key given twice in the JSON `data`, whose last-wins decoding held `members` members."""
    found = repeated_key_issue(data, members)  # read again (strictly) only when the counts differ, to name the key
    if found is not None:
        where, key = found
        place = "in this object" if where else f"at the top level of {what}"
        raise ProblemError([Issue(where, f"the key {json.dumps(key, ensure_ascii=False)} is given twice {place}: "
                                         "which value is meant? Give each key once")])


def _json_columns(data: bytes, parallel: bool = False) -> tuple[dict, dict]:
    """The document's top level as a dict, and its enterprises as columns (numpy arrays, lists of texts).

    msgspec decodes the enterprise array into typed structs (JSON numbers to floats,
    integers included; a wrong type, a missing or unknown name raises, which is a
    doubt); attrgetter then pulls each field across all of them in C.  A third of the
    memory of dicts: at n = 10^6 the dicts alone took 2.7 GB.
    """
    names = _names_around_enterprises(data)
    top = None
    if names is not None and parallel and len(data) >= PARALLEL_PARSE_MIN:
        halves = _json_columns_halved(data, *names)
        if halves is not None:
            return halves
    if names is not None:  # the usual layout: one pass over the document, enterprises typed
        ind, res = names[:2]
        try:
            top = msgspec.json.decode(data, type=_document_type(ind, res))
        except msgspec.ValidationError:
            top = None
        if top is not None and (type(top.indicators) is not dict or type(top.resources) is not dict
                                or list(top.indicators) != ind or list(top.resources) != res):
            top = None  # the names guessed were not the document's: read it in two passes
    if top is None:
        try:
            top = msgspec.json.decode(data, type=_Head)
        except msgspec.ValidationError:
            raise _Doubt from None
        if type(top.indicators) is not dict or type(top.resources) is not dict:
            raise _Doubt
        ind, res = list(top.indicators), list(top.resources)
        try:
            top = msgspec.structs.replace(top, enterprises=msgspec.json.decode(top.enterprises, type=list[_enterprise_type(ind, res)]))
        except msgspec.ValidationError:
            raise _Doubt from None
    head = {k: getattr(top, k) for k in _Head.__struct_fields__}
    ents = head.pop("enterprises")
    head["enterprises"] = None
    del top
    if not ents:
        raise _Doubt
    n = len(ents)

    def column(name: str) -> list:
        return list(map(attrgetter(name), ents))

    cols: dict[str, Any] = {"id": column("id"), "columnar": True}
    names = column("name")
    cols["name"] = None if names.count(None) == n else names
    # Every number an enterprise must have, in one pass: a tuple per enterprise, flattened into one array.
    required = ["min", "max", "u0", "g"] + [f"benefit.f{i}" for i in range(len(ind))] + [f"use.f{i}" for i in range(len(res))]
    given = ["alpha"] + [f"cap.f{i}" for i in range(len(res))]  # usually given for every enterprise: in the same pass
    table = None
    try:
        table = np.fromiter(itertools.chain.from_iterable(map(attrgetter(*required, *given), ents)), dtype=float,
                            count=n * (len(required) + len(given))).reshape(n, -1)
    except (AttributeError, TypeError):  # an alpha null, a cap left out (UNSET): these columns one by one, below
        try:
            table = np.fromiter(itertools.chain.from_iterable(map(attrgetter(*required), ents)), dtype=float,
                                count=n * len(required)).reshape(n, len(required))
        except AttributeError:
            raise _Doubt from None  # use left out (UNSET), which it may be only when there are no resources
        given = []
    column_of = {name: np.ascontiguousarray(table[:, j]) for j, name in enumerate(required + given)}
    del table
    for k in ("min", "max", "u0", "g"):
        cols[k] = column_of[k]
    cols["reservation"] = reservation = _optional_floats(column("reservation"), msgspec.UNSET)
    cols["benefit"] = {k: column_of[f"benefit.f{i}"] for i, k in enumerate(ind)}
    cols["use"] = {r: column_of[f"use.f{i}"] for i, r in enumerate(res)}
    # Members decoded: msgspec reads a key given twice in one object last-wins (review R-8, for solve), and
    # every member in the text is one colon outside strings; equal counts prove no key was given twice.
    # Counted from what is decoded already where it can be: a JSON number is never NaN, so the NaNs of the
    # reservation column are its members left out; with resources, the table above read every use value (and,
    # when ``given``, every alpha and cap value), so each of those objects is there with all its members.
    members = 7 + count_members(*(head[k] for k in _Head.__struct_fields__ if k != "enterprises"))
    members += n * (6 + len(ind)) + n - names.count(None)
    members += 0 if reservation is None else n - int(np.isnan(reservation).sum())
    if res:
        members += n * (1 + len(res))
    else:
        members += n - column("use").count(msgspec.UNSET)
    if given and res:  # an alpha null or left out reads as NaN: counted as absent (a null then sends the check to its strict read)
        members += n - int(np.isnan(column_of["alpha"]).sum()) + n * (1 + len(res))
    else:
        caps = column("cap")
        present = [c for c in caps if c is not msgspec.UNSET]
        members += n - column("alpha").count(None) + len(present)
        members += sum(len(present) - list(map(attrgetter(f"f{i}"), present)).count(msgspec.UNSET) for i in range(len(res)))
    _refuse_repeated_keys(data, members)
    if given:
        cols["alpha"] = column_of["alpha"]
        cols["cap"] = {r: column_of[f"cap.f{i}"] for i, r in enumerate(res)}
        return head, cols
    cols["alpha"] = _optional_floats(column("alpha"), None)
    cols["cap"] = {}
    caps = column("cap")
    if res and caps.count(msgspec.UNSET) != n:
        if msgspec.UNSET in caps:
            empty = caps[[c is not msgspec.UNSET for c in caps].index(True)].__class__()
            caps = [empty if c is msgspec.UNSET else c for c in caps]
        for i, r in enumerate(res):
            values = _optional_floats(list(map(attrgetter(f"f{i}"), caps)), msgspec.UNSET)
            if values is not None:
                cols["cap"][r] = values
    return head, cols


PARALLEL_PARSE_MIN = 8 << 20  # bytes of JSON from which a forked process decodes half the enterprises (~20,000 of them)
_BETWEEN_ENTERPRISES = re.compile(rb"\}[ \t\n\r]*,[ \t\n\r]*\{")  # JSON's own blanks only: \s would skip \f


def _json_columns_halved(data: bytes, ind: list[str], res: list[str], start: int, end: int) -> tuple[dict, dict] | None:
    """`_json_columns` of the usual document with a forked process decoding the second half of its enterprises; None
    where this cannot be done or proven (the caller then reads the document in one process).

    The enterprise array (data[start] "[" to data[end] "]", the document's last member)
    is cut at a "}" "," "{" near its middle.  The cut is sound only outside strings, where
    it can only separate two enterprises (no value inside an enterprise is an array).  A
    cut inside a string is refused by the decoder: the first half, closed with "]" and
    the document's last "}", then ends inside that string, as nothing after the cut holds
    a quote.  Both halves must decode, as typed enterprises, for the columns to be used.
    """
    if not res or data[end + 1:].strip() != b"}":  # the common case only: every other one is read in one pass
        return None
    found = _BETWEEN_ENTERPRISES.search(data, start + (end - start) // 2, end)
    if found is None:
        return None
    cut, resume = found.start() + 1, found.end() - 1  # data[cut - 1] is the "}" of one enterprise, data[resume] the "{" of the next
    kind = list[_enterprise_type(ind, res)]

    def second_half():
        second = b"".join((b"[", memoryview(data)[resume:end + 1]))
        try:
            ents = msgspec.json.decode(second, type=kind)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None, 0  # declined: the document is read in one process, which says why
        return _usual_columns(ents, ind, res), second.count(b":")

    forked = _fork_compute(second_half)
    if forked is None:
        return None
    try:
        try:
            view = memoryview(data)
            top = msgspec.json.decode(b"".join((view[:cut], b"]", view[end + 1:])), type=_document_type(ind, res))
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        if type(top.indicators) is not dict or type(top.resources) is not dict or list(top.indicators) != ind or list(top.resources) != res:
            return None
        first = _usual_columns(top.enterprises, ind, res)
        head = {k: getattr(top, k) for k in _Head.__struct_fields__}
        del top
    finally:
        second = _fork_result(forked, pickle.loads)
    if first is not None and second is None:  # the helper failed (killed, out of memory): its half is read here
        second = second_half()
    if first is None or second is None or second[0] is None:
        _helper_note("the halves of the JSON enterprises declined: the document is read again in one process", declined=True)
        return None
    (table_a, ids_a, names_a, reservation_a), ((table_b, ids_b, names_b, reservation_b), colons) = first, second
    head["enterprises"] = None
    ids, names = ids_a + ids_b, names_a + names_b
    n = len(ids)
    table = np.concatenate([table_a, table_b], axis=1)  # one row per field: each column below is a contiguous view
    reservation = np.concatenate([reservation_a, reservation_b])
    del table_a, table_b, ids_a, ids_b, names_a, names_b
    column = dict(zip(_usual_fields(ind, res), table))
    # Members decoded, as in _json_columns: every enterprise has all its numbers, use and cap (the table holds
    # them); a JSON number is never NaN, so the NaNs of reservation and alpha (null or left out) are not counted.
    members = 7 + count_members(*(head[k] for k in _Head.__struct_fields__ if k != "enterprises"))
    members += n * (6 + len(ind)) + n - names.count(None) + n - int(np.isnan(reservation).sum()) + 2 * n * (1 + len(res))
    members += n - int(np.isnan(column["alpha"]).sum())
    if colons + data.count(b":", 0, resume) + data.count(b":", end) != members:
        _refuse_repeated_keys(data, members)
    cols: dict[str, Any] = {"id": ids, "columnar": True, "name": None if names.count(None) == n else names,
                            "reservation": None if np.isnan(reservation).all() else reservation}
    for k in ("min", "max", "u0", "g", "alpha"):
        cols[k] = column[k]
    cols["benefit"] = {k: column[f"benefit.f{i}"] for i, k in enumerate(ind)}
    cols["use"] = {r: column[f"use.f{i}"] for i, r in enumerate(res)}
    cols["cap"] = {r: column[f"cap.f{i}"] for i, r in enumerate(res)}
    return head, cols


def _usual_fields(ind: list[str], res: list[str]) -> list[str]:
    return ["min", "max", "u0", "g"] + [f"benefit.f{i}" for i in range(len(ind))] + [f"use.f{i}" for i in range(len(res))] \
        + ["alpha"] + [f"cap.f{i}" for i in range(len(res))]


def _usual_columns(ents: list, ind: list[str], res: list[str]) -> tuple | None:
    """(numbers, ids, names, reservation) of decoded enterprises that give every number, alpha, use and cap; else None.

    The numbers one row per field (_usual_fields), each row the field's column."""
    n = len(ents)
    fields = _usual_fields(ind, res)
    try:
        table = np.fromiter(itertools.chain.from_iterable(map(attrgetter(*fields), ents)), dtype=float,
                            count=n * len(fields)).reshape(n, len(fields))
    except (AttributeError, TypeError):  # an alpha null, a cap left out: _json_columns reads these
        return None
    reservation = _optional_floats(list(map(attrgetter("reservation"), ents)), msgspec.UNSET)
    return (np.ascontiguousarray(table.T), list(map(attrgetter("id"), ents)), list(map(attrgetter("name"), ents)),
            np.full(n, math.nan) if reservation is None else reservation)


def _fork_call(produce, name: str) -> tuple[int, int] | None:
    """The byte chunks produce() yields, written by a forked process into an anonymous in-memory file while this one goes on.

    A file, not a pipe: a pipe would stall the writer until this process, busy with its
    own half and holding the GIL, read it.  Returns (pid, fd, name) for `_fork_result`, or None
    where there is no fork or memfd (the caller then does the work itself)."""
    if not hasattr(os, "fork") or not hasattr(os, "memfd_create") or (os.cpu_count() or 1) < 2:
        return None
    try:
        fd = os.memfd_create(name, os.MFD_CLOEXEC)
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(fd)
        return None
    if pid == 0:  # the child: leave without running anything of the parent's (atexit, buffered output)
        status = 1
        try:
            for chunk in produce():
                data = memoryview(chunk)
                while data:
                    data = data[os.write(fd, data):]
            status = 0
        finally:
            os._exit(status)
    return pid, fd, name


def _fork_result(forked: tuple[int, int, str], decode):
    """decode(the bytes the forked process wrote), once it has ended well; None if it did not (said in a warning:
    the caller then does the helper's work itself, which costs this process that time again)."""
    pid, fd, name = forked
    try:
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            _helper_note(f"the forked helper {name} failed ({f'exit status {code}' if code > 0 else f'signal {-code}'}): "
                         "this process does its work again")
            return None
        size = os.fstat(fd).st_size
        if size == 0:
            _helper_note(f"the forked helper {name} wrote nothing: this process does its work again")
            return None
        with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as view:
            return decode(view)
    finally:
        os.close(fd)


def _fork_compute(compute) -> tuple[int, int, str] | None:
    """compute() run by a forked process; its result, pickled, for `_fork_result(forked, pickle.loads)`."""
    return _fork_call(lambda: [pickle.dumps(compute(), protocol=pickle.HIGHEST_PROTOCOL)], "coopchain-columns")


def _helper_note(message: str, declined: bool = False) -> None:
    """Say that work done by a forked helper is done again here: a warning where the helper failed (killed, out of
    memory: on stderr, and bench/bench_e2e.py prints it beside its figures), information where it declined (a
    document off the usual path, which the one-process reader then reads whole)."""
    import logging  # only on this rare path: `coopchain solve` does not import it otherwise

    logging.getLogger(__name__).log(logging.INFO if declined else logging.WARNING, message)


def _csv_columns(data: bytes, parallel: bool = False) -> dict:
    """A plain comma-separated table as the same columns; doubt on anything the full reader treats specially.

    The csv module splits the rows (C), zip turns them into columns, and numpy reads
    each numeric column in one call (float()'s own syntax, surrounding blanks included);
    only the text columns are stripped cell by cell.
    """
    data = data.removeprefix(b"\xef\xbb\xbf")
    if not data.isascii():
        data.decode("utf-8")  # UnicodeDecodeError: not UTF-8, which the full reader words
    first = data[:data.find(b"\n")] if b"\n" in data else data  # not split: that would copy the rest of the table
    if b";" in first or b"\t" in first:
        raise _Doubt  # another separator, perhaps decimal commas: the full reader says what it read
    dense = _dense_csv_columns(data, parallel)
    if dense is not None:
        return dense
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    try:
        names = [name.strip() for name in next(reader)]
        rows = [row for row in reader if any(row)]  # a row of blanks only is doubted below, not skipped
    except (StopIteration, csv.Error):
        raise _Doubt from None
    del data
    width = len(names)
    if not rows or len(set(names)) != width or set(map(len, rows)) != {width}:
        raise _Doubt
    cells = list(zip(*rows))
    del rows
    cols: dict[str, Any] = {"benefit": {}, "use": {}, "cap": {}}
    for name, column in zip(names, cells):
        group, dot, key = name.partition(".")
        if dot:
            if group not in cols or not key:
                raise _Doubt
            cols[group][key] = column
        elif name in _FIELDS and name not in cols:
            cols[name] = column
        else:
            raise _Doubt
    for k in ("id", "min", "max", "u0", "g"):
        if k not in cols:
            raise _Doubt
    ids = [c.strip() for c in cols["id"]]
    if not all(ids):
        raise _Doubt  # an empty id
    out: dict[str, Any] = {"id": ids, "name": [c.strip() or None for c in cols["name"]] if "name" in cols else None}
    for k in ("min", "max", "u0", "g"):
        out[k] = _csv_numbers(cols[k], optional=False)
    for k in ("alpha", "reservation"):
        out[k] = _csv_numbers(cols[k], optional=True) if k in cols else None
    for group in ("benefit", "use", "cap"):
        out[group] = {key: _csv_numbers(column, optional=group == "cap") for key, column in cols[group].items()}
    return out


def _dense_csv_columns(data: bytes, parallel: bool = False) -> dict | None:
    """The usual table read without a Python string per cell, or None for the general reader above.

    Usual: no quotes, "\n" or "\r\n" line ends, the text columns (id, and name if
    present) first, every other cell a JSON number.  The table's UTF-8 bytes are read
    a block of whole rows at a time (_dense_csv_rows); the numeric rest of the rows is
    read by orjson as one flat array (Rust) and reshaped.  The numbers are orjson's,
    as on the general path, so both give the same doubles.
    """
    if b'"' in data or b"\x00" in data:  # quoted cells; NUL, which the csv module refuses
        return None
    # Spreadsheets and the csv module end lines with "\r\n"; a lone "\r" or "\n" left in a row is the general reader's.
    end = b"\r\n" if b"\r" in data else b"\n"
    cut = data.find(end)
    header = data if cut < 0 else data[:cut]
    if b"\r" in header or b"\n" in header:
        return None
    names = [name.strip() for name in header.decode("utf-8").split(",")]
    lead = 2 if names[:2] in (["id", "name"], ["name", "id"]) else 1 if names[:1] == ["id"] else 0
    width = len(names) - lead
    if not lead or not width or len(set(names)) != len(names):
        return None
    body = data  # the rows are read where they are, past the header: no copy of the table
    del data
    spans, start = [], len(body) if cut < 0 else cut + len(end)
    while start < len(body):  # a few hundred kilobytes of rows at a time: the temporaries of one block only
        stop = body.find(end, start + CSV_BLOCK)
        stop = len(body) if stop < 0 else stop
        spans.append((start, stop))
        start = stop + len(end)

    def read(spans: list[tuple[int, int]]) -> tuple[np.ndarray, list[list[str]]] | None:
        """The rows of these spans: their numbers one row per column (each a contiguous view), their text cells."""
        blocks, texts = [], [[] for _ in range(lead)]
        for lo, hi in spans:
            block = body[lo:hi]
            rows = _dense_csv_rows(block, end, lead, width)
            if rows is False:  # a block the byte reader cannot vouch for (blank rows, blanks in cells): row by row
                rows = _dense_csv_block(block.decode("utf-8"), end.decode(), lead, width)
            if rows is None:
                return None
            blocks.append(rows[0].T)
            for column, cells in zip(texts, rows[1]):
                column += cells
        return np.concatenate(blocks, axis=1) if blocks else np.zeros((width, 0)), texts

    # `coopchain solve`: a forked process reads the second half of the blocks while this one reads the first.
    half = len(spans) // 2 if parallel and len(spans) > 1 and len(body) >= PARALLEL_PARSE_MIN else len(spans)
    forked = _fork_compute(lambda: (read(spans[half:]),)) if half < len(spans) else None  # (None,): declined
    try:
        here = read(spans[:half] if forked is not None else spans)
    finally:
        there = _fork_result(forked, pickle.loads) if forked is not None else None
    if forked is not None and here is not None:
        # The helper failed (killed, out of memory): its half is read here, not the whole table by the general reader.
        there = read(spans[half:]) if there is None else there[0]
        if there is None:
            _helper_note("the second half of the CSV table is off the dense path: the table is read again by the csv module",
                         declined=True)
    del body
    if here is None or (forked is not None and there is None):
        return None
    numbers, texts = here
    if there is not None:
        numbers = np.concatenate([numbers, there[0]], axis=1)
        for column, cells in zip(texts, there[1]):
            column += cells
    del here, there
    if not numbers.size:
        return None
    text_columns = dict(zip(names[:lead], texts))
    ids = text_columns["id"]  # stripped by the block readers
    if not all(ids):
        raise _Doubt  # an empty id
    out: dict[str, Any] = {"id": ids, "benefit": {}, "use": {}, "cap": {}, "alpha": None, "reservation": None,
                           "name": [c or None for c in text_columns["name"]] if "name" in text_columns else None}
    for j, name in enumerate(names[lead:]):
        group, dot, key = name.partition(".")
        column = numbers[j]
        if dot:
            if group not in ("benefit", "use", "cap") or not key:
                raise _Doubt
            out[group][key] = column
        elif name in _FIELDS and name not in ("id", "name", "benefit", "use", "cap"):
            out[name] = column
        else:
            raise _Doubt
    if any(k not in out for k in ("min", "max", "u0", "g")):
        raise _Doubt
    return out


CSV_BLOCK = 1 << 18  # bytes of a table read at a time by the dense reader: its temporaries reused, not paged in afresh

_CSV_NUMBER_BYTES = b"0123456789.eE+-,"  # all a row's numeric cells hold in the usual table
_ASCII_BLANKS = bytes(c for c in range(128) if chr(c).isspace())  # what str.strip() takes off an ASCII cell


def _dense_csv_rows(block: bytes, end: bytes, lead: int, width: int) -> tuple[np.ndarray, list[list[str]]] | None | bool:
    """Some whole rows of the dense table from their bytes: numbers (rows x width), stripped text cells by column.

    No Python code runs per cell: numpy finds the line ends and the commas, and each
    row's text cells and its numeric rest are one slice of the block.  None: the block
    is off the dense path (a row with another count of cells, a cell orjson refuses),
    as _dense_csv_block would find; False: this reader cannot vouch for the block (a
    blank row, which the csv module skips; cells with blanks, or with anything but
    digits, signs, points and exponents; a lone "\r"), which _dense_csv_block then
    reads row by row.
    """
    if block.endswith(end):  # the table's last line end
        block = block[:-len(end)]
    raw = np.frombuffer(block, dtype=np.uint8)
    breaks = np.flatnonzero(raw == ord("\n"))
    starts = np.insert(breaks + 1, 0, 0)
    if end == b"\r\n":
        if len(breaks) and (raw[breaks - 1] != ord("\r")).any():
            return False  # a lone "\n"; a lone "\r" is looked for in the cells below
        stops = np.append(breaks - 1, len(block))
    else:
        stops = np.append(breaks, len(block))  # no "\r" anywhere in the table (else its line end is "\r\n")
    commas = np.flatnonzero(raw == ord(","))
    first = np.searchsorted(commas, starts)
    counts = np.searchsorted(commas, stops) - first
    if (counts == stops - starts).any():
        return False  # a row of commas only (or empty) is blank, skipped by the csv module: the row reader skips it
    if (counts != lead + width - 1).any():
        return None  # a row with another count of cells: the general reader says which
    rests = (commas[first + lead - 1] + 1).tolist()  # the first numeric cell of each row
    numbers = b",".join([block[a:b] for a, b in zip(rests, stops.tolist())])
    if numbers.translate(None, _CSV_NUMBER_BYTES):
        return False  # blanks, "\r", letters: the row reader
    try:
        flat = orjson.loads(b"[%b]" % numbers)  # digits, signs, points and exponents: JSON numbers, or refused
    except orjson.JSONDecodeError:
        return None  # float()'s own syntax ("+1", ".5"): the general reader
    del numbers
    rows = len(starts)
    if len(flat) != rows * width:
        return None
    heads = b",".join([block[a:b - 1] for a, b in zip(starts.tolist(), rests)])
    if b"\r" in heads:
        return False
    cells = heads.decode("utf-8").split(",")
    if not heads.isascii() or len(heads.translate(None, _ASCII_BLANKS)) != len(heads):
        cells = [cell.strip() for cell in cells]
    return np.fromiter(flat, dtype=float, count=len(flat)).reshape(rows, width), [cells[i::lead] for i in range(lead)]


def _dense_csv_block(text: str, end: str, lead: int, width: int) -> tuple[np.ndarray, list[list[str]]] | None:
    """Some whole rows of the dense table: their numbers (rows x width) and their stripped text cells by column; None to doubt."""
    lines = [line for line in text.split(end) if line.strip(",")]  # the csv module skips empty rows too
    if not lines:
        return np.zeros((0, width)), [[] for _ in range(lead)]
    split = [line.split(",", lead) for line in lines]
    del lines
    if set(map(len, split)) != {lead + 1}:
        return None
    rests = list(map(itemgetter(lead), split))
    commas = np.fromiter(map(str.count, rests, itertools.repeat(",")), dtype=np.int64, count=len(rests))
    if (commas != width - 1).any():
        return None
    numbers = "[" + ",".join(rests) + "]"
    del rests
    texts = [list(map(itemgetter(i), split)) for i in range(lead)]
    if "\r" in numbers or "\n" in numbers or any("\r" in t or "\n" in t for t in map("".join, texts)):
        return None  # a line end other than the table's: JSON would take it for a blank
    texts = [[cell.strip() for cell in column] for column in texts]
    try:
        flat = orjson.loads(numbers)
    except orjson.JSONDecodeError:
        return None  # blanks (caps not given), float()'s own syntax, text: the general reader
    del numbers
    if len(flat) != len(split) * width or not set(map(type, flat)) <= _NUMBER_TYPES:
        return None
    return np.array(flat, dtype=float).reshape(len(split), width), texts


def _csv_numbers(cells: tuple[str, ...], optional: bool) -> np.ndarray:
    """A numeric column; an empty cell is NaN (not given) where ``optional``.  Doubt where float() refuses a cell."""
    joined = "".join(cells)
    if "n" in joined or "N" in joined:
        raise _Doubt  # nan, inf, infinity: read as numbers by float(), refused by the full reader with a path
    blank = optional and "" in cells
    try:
        # Cells as JSON numbers, the usual case (a program's or a spreadsheet's digits): orjson reads them twice
        # as fast as float() does one by one.  Both round correctly, so the doubles are the same.  null is NaN.
        listed = ["null" if c == "" else c for c in cells] if blank else cells
        return np.array(orjson.loads("[" + ",".join(listed) + "]"), dtype=float)
    except (orjson.JSONDecodeError, TypeError, ValueError, OverflowError):
        pass
    try:
        # float()'s syntax: "+1", ".5", "1.", blanks around; an empty optional cell is NaN.
        return np.array(["nan" if c == "" else c for c in cells] if blank else cells, dtype=float)
    except ValueError:
        raise _Doubt from None  # an empty required cell, a blank one, text


# --- checking ---------------------------------------------------------------------------------


@dataclass
class _Checked:
    cooperative: str
    round: str
    indicators: dict[str, float]
    resources: dict[str, tuple[float, float]]
    demand_min: float
    demand_max: float
    ids: list[str]
    names: tuple[str | None, ...] | None
    volume_min: np.ndarray
    volume_max: np.ndarray
    u0: np.ndarray
    g: np.ndarray
    alpha: np.ndarray | None  # None: absent everywhere (1/n each)
    reservation: np.ndarray
    benefit: dict[str, np.ndarray]
    use: dict[str, np.ndarray]
    cap: dict[str, np.ndarray]  # NaN where not given
    notices: tuple[str, ...] = ()


def _number(x: Any) -> bool:
    return type(x) in _NUMBER_TYPES and math.isfinite(x)


def _text(x: Any) -> bool:
    return type(x) is str and len(x) > 0 and (x.isascii() or _utf8(x))


def _utf8(x: str) -> bool:
    try:
        x.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _all_utf8(texts) -> bool:
    """No lone surrogate in any text (only non-ASCII text can hold one; nearly all is ASCII)."""
    return "".join(texts).isascii() or all(map(_utf8, texts))


def _head(head: dict, csv_table: bool) -> tuple:
    keys = {"schema", "cooperative", "round", "indicators", "resources", "demand"} | (set() if csv_table else {"enterprises"})
    if set(head) != keys or head["schema"] != SCHEMA or not _text(head["cooperative"]) or not _text(head["round"]):
        raise _Doubt
    indicators, resources, demand = head["indicators"], head["resources"], head["demand"]
    if type(indicators) is not dict or not indicators or type(resources) is not dict or type(demand) is not dict:
        raise _Doubt
    if not all(_text(k) and _number(v) and v >= 0 for k, v in indicators.items()):
        raise _Doubt
    for k, r in resources.items():
        if not _text(k) or type(r) is not dict or set(r) != {"cap", "weight"}:
            raise _Doubt
        if not (_number(r["cap"]) and r["cap"] > 0 and _number(r["weight"]) and r["weight"] >= 0):
            raise _Doubt
    if set(demand) != {"min", "max"} or not all(_number(demand[k]) and demand[k] >= 0 for k in ("min", "max")):
        raise _Doubt
    return indicators, resources, demand


def _numeric(values, *, optional: bool = False, positive: bool = False, signed: bool = False) -> np.ndarray | None:
    """A column of JSON numbers (or a CSV column already parsed) as float64; doubt on a wrong type, sign, NaN or inf."""
    if isinstance(values, np.ndarray):  # from the CSV table: NaN where a cell is empty
        array = values
        if not optional and np.isnan(array).any():
            raise _Doubt
        given = array[~np.isnan(array)] if optional else array
    else:
        kinds = set(map(type, values))
        if optional and type(None) in kinds:
            kinds.discard(type(None))
            if not kinds <= _NUMBER_TYPES:
                raise _Doubt
            if not kinds:
                return None
            array = np.array([math.nan if v is None else v for v in values], dtype=float)
            given = array[~np.isnan(array)]
        else:
            if not kinds <= _NUMBER_TYPES:
                raise _Doubt  # text, true/false, lists: pydantic says "must be a number" with the path
            array = given = np.array(values, dtype=float)
    if not np.isfinite(given).all() or (not signed and (given < 0).any()) or (positive and (given <= 0).any()):
        raise _Doubt
    return array


def _check(head: dict, cols: dict, csv_table: bool) -> _Checked:
    """Every structural rule of models.problem on whole columns, then the leaf's meaning rules."""
    indicators, resources, demand = _head(head, csv_table)
    ind, res = list(indicators), list(resources)
    ids = cols["id"]
    n = len(ids)
    unique = set(ids)
    if set(map(type, ids)) != {str} or len(unique) != n or "" in unique or not _all_utf8(ids):
        raise _Doubt
    names = cols["name"]
    if names is not None:
        kinds = set(map(type, names))
        if not kinds <= {str, type(None)} or not _all_utf8([x for x in names if x is not None]):
            raise _Doubt
        names = None if kinds == {type(None)} else tuple(names)
    volume_min, volume_max = _numeric(cols["min"]), _numeric(cols["max"])
    u0, g = _numeric(cols["u0"], signed=True), _numeric(cols["g"])
    alpha = None if cols["alpha"] is None else _numeric(cols["alpha"], optional=True)
    reservation = np.zeros(n) if cols["reservation"] is None else _numeric(cols["reservation"], optional=True)
    if reservation is None:
        reservation = np.zeros(n)
    reservation = np.where(np.isnan(reservation), 0.0, reservation)
    benefit, use, cap = cols["benefit"], cols["use"], cols["cap"]
    if set(benefit) != set(ind) or set(use) != set(res) or not set(cap) <= set(res):
        raise _Doubt
    for k, column in itertools.chain(benefit.items(), use.items()):
        _numeric(column)
    for column in cap.values():
        _numeric(column, optional=True)
    cap = {r: cap.get(r, np.full(n, math.nan)) for r in res}
    if alpha is not None and np.isnan(alpha).all():
        alpha = None
    columns = Columns(
        ids=tuple(ids), indicators=tuple(ind), resources=tuple(res),
        weights=np.array([indicators[k] for k in ind], dtype=float),
        resource_cap=np.array([resources[r]["cap"] for r in res], dtype=float),
        resource_weight=np.array([resources[r]["weight"] for r in res], dtype=float),
        demand_min=float(demand["min"]), demand_max=float(demand["max"]),
        volume_min=volume_min, volume_max=volume_max, u0=u0, g=g, reservation=reservation,
        alpha=np.full(n, math.nan) if alpha is None else alpha,
        benefit=np.column_stack([benefit[k] for k in ind]).reshape(n, len(ind)),
        use=np.column_stack([use[r] for r in res]).reshape(n, len(res)) if res else np.zeros((n, 0)),
        cap=np.column_stack([np.where(np.isnan(cap[r]), math.inf, cap[r]) for r in res]).reshape(n, len(res)) if res else np.zeros((n, 0)),
        broken=np.zeros(n, dtype=bool),
    )
    issues, rescaled, notices = meaning_issues(columns)
    if issues:
        raise _Doubt
    if rescaled is not None:
        alpha = np.asarray(rescaled, dtype=float)
    elif alpha is not None:
        alpha = np.where(np.isnan(alpha), 1.0 / n, alpha)  # not given: 1/n, as the canonical form writes it
    return _Checked(
        cooperative=head["cooperative"], round=head["round"],
        indicators={k: float(indicators[k]) for k in ind},
        resources={r: (float(resources[r]["cap"]), float(resources[r]["weight"])) for r in res},
        demand_min=float(demand["min"]), demand_max=float(demand["max"]),
        ids=ids, names=names, volume_min=volume_min, volume_max=volume_max, u0=u0, g=g, alpha=alpha,
        reservation=reservation, benefit=benefit, use=use, cap=cap, notices=tuple(notices),
    )


# --- the canonical text and the arrays --------------------------------------------------------------


def _canonical(c: _Checked, parallel: bool = False) -> tuple[str, str]:
    """The canonical form, byte for byte models.problem.canonical_json's (tests/models pin it), and its SHA-256.

    The hash is taken piece by piece, before the pieces are joined: hashing the whole
    text would first encode a copy of it (370 MB at n = 10^6)."""
    ind, res = _sorted(c.indicators), _sorted(c.resources)
    head = {
        "schema": SCHEMA, "cooperative": c.cooperative, "round": c.round,
        "indicators": {k: c.indicators[k] for k in ind},
        "resources": {r: {"cap": c.resources[r][0], "weight": c.resources[r][1]} for r in res},
        "demand": {"min": c.demand_min, "max": c.demand_max},
        "enterprises": None,
    }
    pieces = ["{"]
    for i, key in enumerate(_sorted(head)):
        pieces.append(("," if i else "") + _string(key) + ":")
        if key == "enterprises":
            pieces += _enterprises_text(c, ind, res, parallel)
        else:
            pieces.append(rfc8785.dumps(head[key]).decode())
    pieces.append("}")
    sha = hashlib.sha256()
    for piece in pieces:
        sha.update(piece.encode("utf-8"))
    return "".join(pieces), sha.hexdigest()  # the one copy of the whole text (37 MB at n = 100,000)


PARALLEL_MIN = 50_000  # enterprises from which a forked process writes half the text (its fork and hand-over cost ~10 ms)


CHUNK = 65_536  # enterprises written at a time: their texts are freed before the next chunk's are made

_ID, _NAME, _CAP = "id", "name", "cap"  # the runs of a row that are not numbers nor literal text


def _enterprises_text(c: _Checked, ind: list[str], res: list[str], parallel: bool = False) -> list[str]:
    """The canonical enterprise array as pieces of text, one per chunk of rows.

    Every row has the same shape: literal text (keys, braces) between runs that vary
    (numbers, the quoted id, the optional name member, the cap object where caps are
    given for some enterprises only).  A chunk's numbers are written by orjson as one
    2-D array (Rust, shortest round-trip digits) and split once into a row-major list
    of texts; each run of the row is then one slice assignment into the chunk's list
    of texts (row-major, S per row), joined once.  No Python code runs per number.
    """
    n = len(c.ids)
    if _NEEDS_ESCAPE.search("".join(c.ids)):
        ids = [_string(i) for i in c.ids]
    else:
        ids = ['"' + i + '"' for i in c.ids]
    names = None if c.names is None else ["" if name is None else f'"name":{_string(name)},' for name in c.names]
    alpha = np.full(n, 1.0 / n) if c.alpha is None else c.alpha
    given = {r: ~np.isnan(c.cap[r]) for r in res}
    mixed = not all(given[r].all() or not given[r].any() for r in res)
    every = [r for r in res if given[r].all()]
    layout: list = [',{"alpha":', alpha, ',"benefit":{']
    for i, k in enumerate(ind):
        layout += [("," if i else "") + _string(k) + ":", c.benefit[k]]
    layout.append('},"cap":{')
    if mixed:
        layout.append(_CAP)
    else:
        for i, r in enumerate(every):
            layout += [("," if i else "") + _string(r) + ":", c.cap[r]]
    layout += ['},"g":', c.g, ',"id":', _ID, ',"max":', c.volume_max, ',"min":', c.volume_min, ",", *([] if names is None else [_NAME]),
               '"reservation":', c.reservation, ',"u0":', c.u0, ',"use":{']
    for i, r in enumerate(res):
        layout += [("," if i else "") + _string(r) + ":", c.use[r]]
    layout.append("}}")
    runs: list = []  # literal texts merged; a number column stands as its index among the numbers
    numeric: list[np.ndarray] = []
    for part in layout:
        if isinstance(part, np.ndarray) and len(part) and (part == part[0]).all():
            part = _numbers(part[:1])[0]  # one value throughout (min 0, reservation 0, uniform alpha): literal text
        if isinstance(part, np.ndarray):
            numeric.append(part)
            runs.append(len(numeric) - 1)
        elif part in (_ID, _NAME, _CAP) or not runs or not isinstance(runs[-1], str) or runs[-1] in (_ID, _NAME, _CAP):
            runs.append(part)
        else:
            runs[-1] += part
    m, width = len(numeric), len(runs)

    def rows(lo: int, hi: int) -> str:
        k = hi - lo
        values = np.empty((k, m))
        for j, column in enumerate(numeric):
            values[:, j] = column[lo:hi]
        tokens = _number_texts(values)
        row: list = [None] * (k * width)
        for slot, part in enumerate(runs):
            if isinstance(part, int):
                row[slot::width] = tokens[part::m]
            elif part == _ID:
                row[slot::width] = ids[lo:hi]
            elif part == _NAME:
                row[slot::width] = names[lo:hi]
            elif part == _CAP:
                texts = {r: _numbers(np.where(given[r][lo:hi], c.cap[r][lo:hi], 0.0)) for r in res}
                row[slot::width] = [",".join(f"{_string(r)}:{texts[r][j]}" for r in res if given[r][lo + j]) for j in range(k)]
            else:
                row[slot::width] = [part] * k
        return "".join(row)

    half = n // 2 if parallel and n >= PARALLEL_MIN else n
    later = _forked(rows, half, n) if half < n else None
    pieces = [rows(lo, min(half, lo + CHUNK)) for lo in range(0, half, CHUNK)]
    if half < n:
        pieces.append(_collect(later) if later is not None else None)
        if pieces[-1] is None:  # no fork, or the forked process failed: this process writes the rest
            pieces[-1:] = [rows(lo, min(n, lo + CHUNK)) for lo in range(half, n, CHUNK)]
    pieces[0] = "[" + pieces[0][1:]  # every row starts with its separating comma, the first one's dropped
    pieces.append("]")
    return pieces


def _forked(rows, lo: int, hi: int) -> tuple[int, int, str] | None:
    """Rows lo..hi written as UTF-8 by a forked process while this one writes the rest; None where there is no fork."""
    return _fork_call(lambda: (rows(start, min(hi, start + CHUNK)).encode("utf-8") for start in range(lo, hi, CHUNK)), "coopchain-canonical")


def _collect(forked: tuple[int, int, str]) -> str | None:
    """The text the forked process wrote, once it has ended well; None if it did not."""
    return _fork_result(forked, lambda view: str(view, "utf-8"))


def _number_texts(values: np.ndarray) -> list[str]:
    """A 2-D array's numbers in RFC 8785 form (§3.2.2.3), row-major: orjson's digits, one split.

    orjson and ECMAScript's Number::toString pick the same shortest round-trip digits
    and, from 1e-5 up to 1e15, the same plain layout but for the ".0" orjson writes
    after integral values, dropped here.  Outside that range (exponent forms; orjson
    switches to them at other bounds than ECMAScript) each distinct value's text is
    compared with rfc8785's, and rfc8785's taken where they differ.
    """
    values = values + 0.0  # -0.0 + 0.0 is 0.0, written "0"
    flat = values.ravel()
    text = orjson.dumps(flat, option=orjson.OPT_SERIALIZE_NUMPY)
    size = np.abs(flat)
    integral = np.flatnonzero((flat == np.floor(flat)) & (size < 1e15))
    if len(integral) * 8 > len(flat):
        tokens = (b"%b," % text[1:-1]).replace(b".0,", b",")[:-1].decode().split(",")
    else:
        tokens = text[1:-1].decode().split(",")
        for i in integral.tolist():
            tokens[i] = tokens[i][:-2]
    odd = np.flatnonzero((size >= 1e15) | ((size < 1e-5) & (size > 0)))
    if len(odd):
        for x in np.unique(flat[odd]).tolist():
            at = odd[flat[odd] == x]
            ours = tokens[at[0]]
            theirs = rfc8785.dumps(x).decode()
            if ours != theirs:
                for i in at.tolist():
                    tokens[i] = theirs
    return tokens


def _instance(c: _Checked) -> Instance:
    """The solver's arrays, in the canonical order of names, as models.problem.to_instance gives them."""
    ind, res = _sorted(c.indicators), _sorted(c.resources)
    n = len(c.ids)

    def clean(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a, dtype=float) + 0.0  # -0.0 reads back from the text as 0.0

    def stack(columns: list[np.ndarray], width: int) -> np.ndarray:
        return clean(np.column_stack(columns).reshape(n, width)) if columns else np.zeros((n, 0))

    return Instance(
        ids=tuple(c.ids), indicators=tuple(ind), resources=tuple(res),
        indicator_weight=clean(np.array([c.indicators[k] for k in ind])),
        benefit=stack([c.benefit[k] for k in ind], len(ind)),
        use=stack([c.use[r] for r in res], len(res)),
        enterprise_cap=stack([np.where(np.isnan(c.cap[r]), math.inf, c.cap[r]) for r in res], len(res)),
        cooperative_cap=clean(np.array([c.resources[r][0] for r in res])),
        resource_weight=clean(np.array([c.resources[r][1] for r in res])),
        volume_min=clean(c.volume_min), volume_max=clean(c.volume_max), u0=clean(c.u0), g=clean(c.g),
        alpha=np.full(n, 1.0 / n) if c.alpha is None else clean(c.alpha),
        reservation=clean(c.reservation),
        demand_min=c.demand_min + 0.0, demand_max=c.demand_max + 0.0,
    )


__all__ = ["ColumnProblem", "Loaded", "ProblemError", "load_prepared", "load_uploaded", "read_problem_timed"]
