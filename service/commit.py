"""Committing an allocation as a use case (SPEC §4, §6 `coopchain commit SOLUTION|FRONT --pick ...`).

A manager commits either a solve's output (its certificate proves it) or one
point of a front, picked by rule (knee, closest to the ideal, TOPSIS) or by
index.  A front's points carry no certificate, so the pick is certified first:
the allocation committed is the certified max F2 among those at least as good
as the pick in F1 and F3, which weakly dominates it.  The problem is
registered in the same block when the chain does not hold it yet, and the
commit goes through the allocation contract, which checks everything again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from coopchain.chain.ledger import Ledger
from coopchain.chain.encoding import decode
from coopchain.chain.namespaces import contract_key
from coopchain.chain.seals.endorsement import endorse
from coopchain.contracts.allocation import NAME, endorsement_message, problem_key, round_key
from coopchain.models.certificate import problem_hash
from coopchain.models.problem_text import problem_identity
from coopchain.service.wiring import Submitted, submit

PICKS = {"knee": "knee", "ideal": "closest to ideal", "topsis": "TOPSIS"}


class CommitError(ValueError):
    """A commit that cannot be made as asked; `field` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Chosen:
    """A certified allocation ready to commit, and how it was chosen."""

    solution: dict  # the solve output (status, allocation, values, certificate, ...)
    chosen_by: dict  # {"objective", "method", "pick"} as the contract reads it
    description: str  # e.g. "the knee pick, certified as max F2 with F1 and F3 no worse"


@dataclass(frozen=True)
class CommitResult:
    cooperative: str
    round: str
    problem: str  # its hash
    registered: Submitted | None  # the register_problem transaction, when this commit registered it
    commit: Submitted
    chosen: Chosen


def from_solution(solution: dict) -> Chosen:
    """A solve's output: its certificate says what it proves."""
    if not isinstance(solution, dict) or not isinstance(solution.get("certificate"), dict):
        raise CommitError("solution", "not a solve's output with a certificate (coopchain solve PROBLEM --objective ... writes one)")
    if solution.get("status") not in (None, "optimal"):
        raise CommitError("solution", f"the solution's status is {solution.get('status')!r}; only a certified optimum can be committed")
    cert = solution["certificate"]
    objective = cert.get("objective")
    method = (cert.get("scalarisation") or {}).get("method") if objective == "scalarised" else None
    what = f"a {method} scalarisation" if method else f"{'min' if objective == 'F3' else 'max'} {objective}"
    return Chosen(solution, {"objective": objective, "method": method, "pick": None}, f"the solution, certified as {what}")


def problem_of_front(front: dict):
    """The problem a front document carries once at its top (`problem_text`, written by `coopchain front`),
    read strictly and checked against the front's `problem_hash`: a models.problem.Problem."""
    from coopchain.models.problem import ProblemError, parse_problem
    from coopchain.models.strict_json import StrictJsonError, loads

    text = front.get("problem_text") if isinstance(front, dict) else None
    if not isinstance(text, str):
        raise CommitError("problem", "the front does not carry its problem (fronts written before it did): give it with --problem FILE")
    try:
        digest = problem_hash(text)
    except UnicodeEncodeError:
        raise CommitError("problem", "the front's problem_text holds a lone UTF-16 surrogate: it is no problem text") from None
    if digest != front.get("problem_hash"):
        raise CommitError("problem", f"the front's problem_text has SHA-256 {digest}, not its problem_hash {front.get('problem_hash')!r}")
    try:
        return parse_problem(loads(text, what="the front's problem_text"))
    except (StrictJsonError, ProblemError) as e:
        raise CommitError("problem", f"the front's problem_text: {e}") from e


def from_front(problem, front: dict, pick: str) -> Chosen:
    """One point of a front (`pick`: knee, ideal, topsis or an index), certified on `problem` (models.problem.Problem)."""
    from coopchain.models.scalarise import epsilon_constraint
    from coopchain.models.solve import prepare

    points = front.get("points") if isinstance(front, dict) else None
    if not isinstance(points, list) or not points:
        raise CommitError("front", "not a front with points (coopchain front PROBLEM writes one)")
    if pick in PICKS:
        named = [p for p in front.get("picks", []) if p.get("name") == PICKS[pick]]
        if not named:
            raise CommitError("pick", f"the front names no {PICKS[pick]} pick")
        index, label = named[0]["index"], f"the {PICKS[pick]} pick"
    else:
        try:
            index = int(pick)
        except ValueError:
            raise CommitError("pick", f"--pick is knee, ideal, topsis or a point's index, not {pick!r}") from None
        if not 0 <= index < len(points):
            raise CommitError("pick", f"the front has points 0 .. {len(points) - 1}; there is no point {index}")
        label = f"point {index} of the front"
    prepared = prepare(problem)
    named = front.get("problem_hash")
    if isinstance(named, str) and problem_hash(prepared.canonical) != named:
        raise CommitError("problem", f"the front is of another problem: it names {named}, the problem given is {problem_hash(prepared.canonical)}")
    point = points[index]
    if sorted(point.get("allocation", {})) != sorted(prepared.instance.ids):
        raise CommitError("problem", "the front is of another problem: its enterprises differ")
    v = point["values"]
    # Certified max F2 with F1 and F3 no worse than the pick's (a hair of slack for the rounding of its values).
    solution = epsilon_constraint(prepared.instance, prepared.canonical, "F2", {"F1": v["F1"] - 1e-7 * abs(v["F1"]), "F3": v["F3"] + 1e-7 * abs(v["F3"])})
    if not solution.success:
        raise CommitError("pick", f"{label} could not be certified: {solution.message}")
    name = pick if pick in PICKS else f"index {index}"
    return Chosen(json.loads(json.dumps(solution.as_json())), {"objective": "scalarised", "method": "epsilon", "pick": name},
                  f"{label}, certified as max F2 with F1 and F3 no worse")


def committed_round(ledger: Ledger, cooperative: str, round_: str) -> dict | None:
    """{"commits", "current"} of a round, or None when it has no commit yet."""
    value = ledger.state(contract_key(NAME, round_key(cooperative, round_)))
    return None if value is None else decode(value)


def problem_text(solution: dict) -> str:
    """The canonical problem a solve's output is for: beside its certificate (v2), or inside it (v1)."""
    cert = solution.get("certificate") or {}
    text = solution.get("problem_text") if isinstance(solution.get("problem_text"), str) else cert.get("problem")
    if not isinstance(text, str):
        raise CommitError("solution", "the solution carries no problem beside its certificate (coopchain solve writes it as 'problem_text')")
    return text


def commit_arguments(chosen: Chosen, supersedes: str | None = None, reason: str | None = None) -> dict:
    """allocation.commit_allocation's arguments (no endorsements yet).  The certificate names the problem by
    its hash (the contract holds the registered text), so the transaction stays small; an auditor's bundle
    carries the problem beside it."""
    solution = chosen.solution
    cert = solution["certificate"]
    text = problem_text(solution)
    cooperative, round_ = problem_identity(text)
    allocation = solution.get("allocation") if isinstance(solution.get("allocation"), dict) else cert["allocation"]
    return {
        "cooperative": cooperative,
        "round": round_,
        "problem": problem_hash(text),
        "allocation": {eid: repr(float(w)) for eid, w in allocation.items()},
        "certificate": json.dumps(cert, separators=(",", ":"), allow_nan=False),
        "chosen_by": chosen.chosen_by,
        "supersedes": supersedes,
        "reason": reason,
        "endorsements": [],
    }


@dataclass(frozen=True)
class CommitPlan:
    """The transactions a commit consists of, in order, before they are signed."""

    cooperative: str
    round: str
    problem: str  # its hash
    calls: tuple[tuple[str, dict], ...]  # (kind, arguments): register_problem when needed, then commit_allocation
    registers: bool


def plan_commit(read_state: Callable[[bytes], bytes | None], chain_id: str, chosen: Chosen, supersedes: str | None = None,
                reason: str | None = None, endorsers: Sequence = ()) -> CommitPlan:
    """What committing `chosen` takes, given the chain's state as `read_state(state key)` shows it: the
    local ledger's `Ledger.state`, or a client's proof-checked reads over HTTP (`coopchain commit --api`).

    Refuses plainly (CommitError) when the round is already committed and this is no amendment."""
    text = problem_text(chosen.solution)
    (cooperative, round_), digest = problem_identity(text), problem_hash(text)
    value = read_state(contract_key(NAME, round_key(cooperative, round_)))
    current = None if value is None else decode(value)
    if current is not None and supersedes is None:
        raise CommitError("round", f"round {round_!r} of {cooperative!r} is already committed (transaction {current['current']}); "
                                   f"to amend it, commit again with --supersedes {current['current']} --reason \"why\"")
    if supersedes is not None and reason is None:
        raise CommitError("reason", "an amendment says why: give --reason")
    calls = []
    registers = read_state(contract_key(NAME, problem_key(digest))) is None
    if registers:
        calls.append((f"{NAME}.register_problem", {"problem": text}))
    args = commit_arguments(chosen, supersedes, reason)
    if endorsers:
        args["endorsements"] = endorse(endorsers, endorsement_message(chain_id, args))
    calls.append((f"{NAME}.commit_allocation", args))
    return CommitPlan(cooperative, round_, digest, tuple(calls), registers)


def commit(ledger: Ledger, manager_key, chosen: Chosen, supersedes: str | None = None, reason: str | None = None, endorsers: Sequence = ()) -> CommitResult:
    """Register the problem if needed and commit the allocation, signed with `manager_key`.

    Refuses plainly (CommitError) when the round is already committed and this is no amendment."""
    plan = plan_commit(ledger.state, ledger.config.chain_id, chosen, supersedes, reason, endorsers)
    done = submit(ledger, manager_key, plan.calls)
    return CommitResult(plan.cooperative, plan.round, plan.problem, done[0] if plan.registers else None, done[-1], chosen)
