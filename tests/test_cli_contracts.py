"""The contract commands end to end, as a manager and an auditor run them: real processes, a real SQLite file."""

from __future__ import annotations

import json

from tests.conftest import SAMPLE
from tests.test_cli import coopchain


def test_create_solve_front_commit_history_show_bundle_verify(tmp_path):
    db = f"sqlite:///{tmp_path}/coop.db"
    node, manager, other = tmp_path / "node.key", tmp_path / "manager.key", tmp_path / "other.key"
    for key in (node, manager, other):
        assert coopchain("keys", "new", key).returncode == 0
    from coopchain.chain.keys import PrivateKey

    manager_pub = PrivateKey.load(manager).public_key.to_text()
    assert coopchain("chain", "init", "--db", db, "--node-key", node, "--chain-id", "coop-e2e").returncode == 0
    writer = ("--db", db, "--node-key", node)

    created = coopchain("cooperative", "create", "green-valley", "--manager", manager_pub, "--key", node, *writer)
    assert created.returncode == 0 and json.loads(created.stdout)["receipt"]["status"] == "applied"
    refused = coopchain("cooperative", "create", "hill-farms", "--manager", manager_pub, "--key", manager, *writer)
    assert refused.returncode == 3 and json.loads(refused.stdout)["receipt"]["code"] == "not_admin"
    shown = json.loads(coopchain("cooperative", "show", "green-valley", "--db", db).stdout)
    assert (shown["cooperative"], shown["managers"], shown["registered"]) == ("green-valley", [manager_pub], json.loads(created.stdout)["height"])
    unknown = coopchain("cooperative", "show", "hill-farms", "--db", db)
    assert unknown.returncode == 2 and "no cooperative 'hill-farms' is registered" in unknown.stderr

    assert coopchain("solve", SAMPLE, "--objective", "F1", "--output", tmp_path / "solution.json").returncode == 0
    assert coopchain("front", SAMPLE, "--points", "12", "--output", tmp_path / "front.json").returncode == 0
    committed = coopchain("commit", tmp_path / "front.json", "--pick", "knee", "--problem", SAMPLE, "--key", manager, *writer)
    assert committed.returncode == 0, committed.stderr
    out = json.loads(committed.stdout)
    assert out["receipt"]["status"] == "applied" and out["registered"]["receipt"]["status"] == "applied"
    assert out["chosen_by"] == {"objective": "scalarised", "method": "epsilon", "pick": "knee"}
    tx = out["transaction"]

    again = coopchain("commit", tmp_path / "solution.json", "--key", manager, *writer)
    assert again.returncode == 3 and "already committed" in again.stderr and tx in again.stderr
    stranger = coopchain("commit", tmp_path / "solution.json", "--key", other, "--supersedes", tx, "--reason", "mine", *writer)
    assert stranger.returncode == 3 and json.loads(stranger.stdout)["receipt"]["code"] == "not_manager"

    history = json.loads(coopchain("history", "green-valley", "--db", db).stdout)
    assert history["count"] == 1 and history["commits"][0]["transaction"] == tx and history["commits"][0]["current"] is True
    shown = json.loads(coopchain("show", tx, "--db", db).stdout)
    assert shown["receipt"]["status"] == "applied" and shown["transaction"]["kind"] == "allocation.commit_allocation"
    round_ = json.loads(coopchain("show", "green-valley/2026-Q4", "--db", db).stdout)
    assert [c["transaction"] for c in round_["commits"]] == [tx]
    block = json.loads(coopchain("show", str(shown["height"]), "--db", db).stdout)
    assert [t["receipt"]["status"] for t in block["transactions"]] == ["applied", "applied"]

    assert coopchain("chain", "bundle", tx, "--db", db, "--output", tmp_path / "bundle.json").returncode == 0
    verified = coopchain("verify", tmp_path / "bundle.json")
    assert verified.returncode == 0 and "certificate valid" in verified.stdout and "knee pick" in verified.stdout
    assert coopchain("chain", "verify", "--db", db).returncode == 0
    assert coopchain("chain", "replay", "--db", db).returncode == 0


def test_show_of_nothing_says_what_it_looked_for(tmp_path):
    db = f"sqlite:///{tmp_path}/coop.db"
    assert coopchain("keys", "new", tmp_path / "node.key").returncode == 0
    assert coopchain("chain", "init", "--db", db, "--node-key", tmp_path / "node.key", "--chain-id", "c").returncode == 0
    for what, words in (("7", "no block 7"), ("ab" * 32, "no transaction"), ("green-valley/2026-Q4", "no block height")):
        run = coopchain("show", what, "--db", db)
        assert run.returncode == 2 and words in run.stderr


def test_commit_of_a_file_it_cannot_read_or_parse_says_which(tmp_path):
    (tmp_path / "text.json").write_text("not json")
    for name, words in (("missing.json", "missing.json: cannot read it (No such file or directory)"), ("text.json", "text.json: not JSON (Expecting value")):
        run = coopchain("commit", tmp_path / name, "--db", f"sqlite:///{tmp_path}/coop.db")
        assert run.returncode == 2 and words in run.stderr and "Traceback" not in run.stderr, run.stderr
