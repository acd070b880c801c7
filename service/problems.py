"""Problem documents as a use case (SPEC §6): JSON or CSV in, a validated problem and its content hash out.

The command line reads files, the API reads request bodies; both come here, so a
document means the same thing, and is refused with the same field paths, whichever
door it came through.  Validation itself is `models.problem`'s; this module only
names the result and the one error a caller catches.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from coopchain.models.problem import Issue, Problem, ProblemError, canonical_json, load_problem_csv, load_problem_file, load_problem_json
from coopchain.models.certificate import problem_hash

if TYPE_CHECKING:
    from coopchain.models.problem_columns import ColumnProblem

__all__ = ["Issue", "LoadedProblem", "ProblemError", "problem_from_csv", "problem_from_file", "problem_from_json", "problem_from_canonical"]


@dataclass(frozen=True, eq=False)
class LoadedProblem:
    """A valid problem, its canonical text (what certificates embed) and its identity."""

    problem: Problem | ColumnProblem  # ColumnProblem: read by columns, the same fields a summary shows
    canonical: str
    hash: str  # SHA-256 of the canonical form, hex (SPEC §6: the problem's identity)
    notices: tuple[str, ...]

    @property
    def cooperative(self) -> str:
        return self.problem.cooperative

    @property
    def round(self) -> str:
        return self.problem.round


def _loaded(problem: Problem) -> LoadedProblem:
    canonical = canonical_json(problem)
    return LoadedProblem(problem, canonical, problem_hash(canonical), tuple(problem.notices))


def _columnar(data: str | bytes, header: str | bytes | None = None) -> LoadedProblem | None:
    """The upload read by columns, or None where that path doubts it (or it is text no UTF-8 can hold)."""
    from coopchain.models.problem_columns import load_uploaded

    try:
        loaded = load_uploaded(data.encode("utf-8") if isinstance(data, str) else data, header)
    except UnicodeEncodeError:
        return None
    if loaded is None:
        return None
    return LoadedProblem(loaded.problem, loaded.prepared.canonical, loaded.problem_hash, tuple(loaded.problem.notices))


def problem_from_json(text: str | bytes) -> LoadedProblem:
    """A problem document (JSON text); raises ProblemError listing every issue with its path.

    Read by columns (models.problem_columns, as `coopchain solve` reads a file): no object
    per enterprise.  What that path doubts is read by models.problem, whose messages the
    user sees."""
    loaded = _columnar(text)
    return loaded if loaded is not None else _loaded(load_problem_json(text))


def problem_from_canonical(canonical: str) -> LoadedProblem:
    """A problem from its stored canonical text (already validated once; validated again, cheaply)."""
    return _loaded(load_problem_json(canonical))


def problem_from_csv(table: str | bytes, header: str | bytes | dict) -> LoadedProblem:
    """An enterprise table (CSV) and the cooperative-level fields (a JSON object, or its text); by columns where it can."""
    loaded = None if isinstance(header, dict) else _columnar(table, header)
    if loaded is not None:
        return loaded
    if isinstance(table, bytes):
        try:
            table = table.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise ProblemError([Issue("", f"the CSV is not UTF-8 text (byte {e.start} cannot be read); save it as CSV UTF-8")]) from e
    if not isinstance(header, dict):
        try:
            header = json.loads(header)
        except (ValueError, RecursionError) as e:
            raise ProblemError([Issue("header", f"the header is not valid JSON ({e})")]) from e
    return _loaded(load_problem_csv(table, header))


def problem_from_file(path: str | Path, header_path: str | Path | None = None) -> LoadedProblem:
    """A .json document, or a .csv table with its header file."""
    return _loaded(load_problem_file(path, header_path))
