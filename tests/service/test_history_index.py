"""service.history over service.events: the index of receipt events grows with the chain, counts only
applied commits, and reads each round's current commit afresh (an amendment turns the earlier one to
superseded).  References: the transactions this test signs and what it knows the contract must do
with each (SPEC §4: a second commit of a round without `supersedes` is rejected, `round_committed`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coopchain.chain.keys import PrivateKey
from coopchain.models.problem import load_problem_json
from coopchain.models.solve import solve
from coopchain.service import history
from coopchain.service.commit import commit, commit_arguments, from_solution
from coopchain.service.cooperatives import create_cooperative
from coopchain.service.events import events
from coopchain.service.wiring import create_ledger, open_ledger, submit

SAMPLE = Path(__file__).resolve().parents[2] / "models" / "samples" / "green-valley.json"


def chosen(problem, objective):
    solution = solve(problem, objective)
    assert solution.success
    return from_solution(json.loads(json.dumps(solution.as_json())))


def test_the_index_follows_the_chain_and_counts_only_applied_commits(tmp_path):
    node = PrivateKey.generate("ed25519")
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger = create_ledger(url, node, "index-test")
    try:
        assert create_cooperative(ledger, node, "green-valley", [node.public_key.to_text()]).receipt.applied
        assert history.history_page(ledger, "green-valley").count == 0  # the index is built here, at height 1
        problem = load_problem_json(SAMPLE.read_text())
        first = commit(ledger, node, chosen(problem, "F2")).commit
        page = history.history_page(ledger, "green-valley")
        assert [(c.transaction, c.current, c.sequence) for c in page.commits] == [(first.transaction, True, 0)]

        # The same round again, without naming what it amends: included, rejected, not a commit.
        again = submit(ledger, node, [("allocation.commit_allocation", commit_arguments(chosen(problem, "F1")))])[0]
        assert (again.receipt.applied, again.receipt.code) == (False, "round_committed")
        assert history.history_page(ledger, "green-valley").count == 1

        amendment = commit(ledger, node, chosen(problem, "F1"), supersedes=first.transaction, reason="benefit first").commit
        page = history.history_page(ledger, "green-valley")
        assert [(c.transaction, c.current, c.supersedes) for c in page.commits] == [(amendment.transaction, True, first.transaction),
                                                                                    (first.transaction, False, None)]
        assert [c.transaction for c in history.history_page(ledger, "green-valley", offset=1, limit=1).commits] == [first.transaction]
        assert history.history_page(ledger, "hill-top").count == 0
        (summary,) = history.rounds(ledger, "green-valley")
        assert (summary.round, summary.commits, summary.current) == (problem.round, 2, amendment.transaction)
        assert [c.transaction for c in history.history(ledger)] == [first.transaction, amendment.transaction]  # oldest first, as the CLI prints
        assert len(events(ledger, "allocation_committed")) == 2
    finally:
        ledger.close()

    # Another process's ledger object (another API worker) builds its own index from the same blocks.
    other = open_ledger(url)
    try:
        assert [c.transaction for c in history.history_page(other, "green-valley").commits] == [amendment.transaction, first.transaction]
    finally:
        other.close()


def test_only_indexed_events_can_be_asked_for(tmp_path):
    ledger = create_ledger(f"sqlite:///{tmp_path / 'l.db'}", PrivateKey.generate("ed25519"), "index-test")
    try:
        with pytest.raises(ValueError, match="not indexed"):
            events(ledger, "manager_added")
    finally:
        ledger.close()
