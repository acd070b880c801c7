"""`coopchain keys api new|list|revoke` and `coopchain serve`'s refusals, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from coopchain.service.api_store import ApiStore


def coopchain(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coopchain.app.cli", *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture
def in_process(capsys):
    """The command's entry point in this process, as a CompletedProcess (the keys commands are about their
    output and exit codes; `serve`'s refusals below run as a real process)."""
    from coopchain.app.cli import main

    def run(*args: str) -> subprocess.CompletedProcess:
        code = main(list(args))
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    return run


def test_keys_api_new_list_revoke(server, in_process):
    coopchain = in_process
    made = coopchain("keys", "api", "new", "manager", "--cooperative", "green-valley", "--cooperative", "hill-top", "--label", "cli", "--db", server.db)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert "shown once" in made.stderr
    store = ApiStore(server.db)
    key = store.authenticate(token)
    assert key.role == "manager" and key.cooperatives == ("green-valley", "hill-top") and key.label == "cli"
    listed = [json.loads(line) for line in coopchain("keys", "api", "list", "--db", server.db).stdout.splitlines()]
    assert {"id": key.id, "role": "manager", "cooperatives": ["green-valley", "hill-top"], "label": "cli", "revoked": False} in listed
    assert all(token.split("_", 2)[2] not in json.dumps(entry) for entry in listed)  # never a secret
    revoked = coopchain("keys", "api", "revoke", key.id, "--db", server.db)
    assert revoked.returncode == 0 and store.authenticate(token) is None
    store.close()


def test_keys_api_refusals(server, tmp_path, in_process):
    coopchain = in_process
    no_coop = coopchain("keys", "api", "new", "manager", "--db", server.db)
    assert no_coop.returncode == 2 and "names the cooperatives" in no_coop.stderr and "Traceback" not in no_coop.stderr
    unknown = coopchain("keys", "api", "revoke", "0000000000000000", "--db", server.db)
    assert unknown.returncode == 2 and "no API key" in unknown.stderr
    nowhere = coopchain("keys", "api", "new", "admin", "--db", f"sqlite:///{tmp_path / 'none.db'}")
    assert nowhere.returncode == 2 and "no ledger" in nowhere.stderr
    assert not (tmp_path / "none.db").exists()


def test_serve_refusals(server, tmp_path):
    run = coopchain("serve", "--db", f"sqlite:///{tmp_path / 'none.db'}", "--port", "1")
    assert run.returncode == 2 and "no ledger" in run.stderr and "Traceback" not in run.stderr
    bad = coopchain("serve", "--db", server.db, "--workers", "0")
    assert bad.returncode == 2 and "--workers" in bad.stderr
