"""A ledger written by an earlier version replays with the same receipts: their sentences are in the receipts root.

tests/data/ledgers/allocation_v1_verdicts.db holds 217 allocation v1 transactions written by the code of commit
c635252 (tests/data/ledgers/make_allocation_v1_verdicts.py): problems registered or refused, commits applied, and
about 190 commits refused through the certificate verifier, each for its own reason (schemas v3 and v9, a v1
certificate's problem_hash of another type, embedded problems invalid or not canonical, values, bounds, gaps, fields,
pieces, multipliers, NaN and 1e400 ...).  A change of any verdict or sentence the allocation contract v1 reaches
fails here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

LEDGER = Path(__file__).resolve().parents[1] / "data" / "ledgers" / "allocation_v1_verdicts.db"

REPLAY = """
import sys
from coopchain.app.cli import main
if sys.argv[2] == "altered":  # the control: one sentence of the verifier worded otherwise
    import coopchain.models.certificate_verify as cv
    fail = cv.fail
    cv.fail = lambda code, message: fail(code, message.replace("must be", "has to be"))
sys.exit(main(["chain", "replay", "--db", "sqlite:///" + sys.argv[1]]))
"""


def _replay(tmp_path, how: str) -> subprocess.CompletedProcess:
    copy = tmp_path / f"{how}.db"
    shutil.copy(LEDGER, copy)
    return subprocess.run([sys.executable, "-c", REPLAY, str(copy), how], capture_output=True, text=True, timeout=300)


def test_an_earlier_versions_ledger_replays_with_the_same_receipts(tmp_path):
    run = _replay(tmp_path, "as is")
    assert run.returncode == 0 and "every state and receipts root matches; 218 blocks, 217 transactions" in run.stdout, run.stdout + run.stderr


def test_a_reworded_refusal_breaks_the_replay(tmp_path):
    run = _replay(tmp_path, "altered")
    assert run.returncode != 0 and "receipt" in (run.stdout + run.stderr).lower(), run.stdout + run.stderr
