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

from coopchain.models.problem import Issue, Problem, ProblemError, canonical_json, load_problem_csv, load_problem_file, load_problem_json
from coopchain.models.certificate import problem_hash

__all__ = ["Issue", "LoadedProblem", "ProblemError", "problem_from_csv", "problem_from_file", "problem_from_json", "problem_from_canonical"]


@dataclass(frozen=True, eq=False)
class LoadedProblem:
    """A valid problem, its canonical text (what certificates embed) and its identity."""

    problem: Problem
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


def problem_from_json(text: str | bytes) -> LoadedProblem:
    """A problem document (JSON text); raises ProblemError listing every issue with its path."""
    return _loaded(load_problem_json(text))


def problem_from_canonical(canonical: str) -> LoadedProblem:
    """A problem from its stored canonical text (already validated once; validated again, cheaply)."""
    return _loaded(load_problem_json(canonical))


def problem_from_csv(table: str | bytes, header: str | bytes | dict) -> LoadedProblem:
    """An enterprise table (CSV) and the cooperative-level fields (a JSON object, or its text)."""
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
