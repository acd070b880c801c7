"""SPEC §8: kill -9 at random moments while committing; after restart the chain verifies,
no block is partial, and every acknowledged transaction is there.

bench/crash_committer.py commits blocks of 1 or 100 signed records in a loop and
prints each block's transaction hashes once `commit` has returned.  Each run
starts it, sends SIGKILL at a seeded random moment, then reopens the database.
Half the moments count from the process start (so some land while it imports,
opens the ledger or commits its first block), half from its first acknowledgement
(so they land among steady commits).  Runs share a database a few at a time, as
a real node restarts onto its own growing ledger; a new database every few runs
keeps the full re-verification after each kill cheap.
"""

import random
import signal
import subprocess
import sys
import threading
import time

from coopchain.chain.keys import PrivateKey
from coopchain.chain.ledger import Ledger
from coopchain.chain.store import open_store
from coopchain.chain.verify import BadBlock, verify_chain
from tests.conftest import ROOT

COMMITTER = ROOT / "bench" / "crash_committer.py"
CHAIN = "crash-chain"
RUNS = 50
RUNS_PER_DATABASE = 5
SIZES = "1,1,1,100"  # mostly single-transaction blocks, a 100-transaction one every few
SEED = 8_2026


class Committer:
    """The committer as a subprocess, its stdout read line by line as it arrives."""

    def __init__(self, url: str, node_key: str, seed: int) -> None:
        self.lines: list[str] = []
        self.first_ack = threading.Event()
        self.proc = subprocess.Popen(
            [sys.executable, str(COMMITTER), "--db", url, "--node-key", node_key, "--chain-id", CHAIN, "--sizes", SIZES, "--seed", str(seed)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, cwd=ROOT,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            self.first_ack.set()

    def wait_first_ack(self, timeout: float) -> bool:
        """True once a block is acknowledged; False at the timeout or if the process ends first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self.first_ack.wait(timeout=0.02):
                return True
        return self.first_ack.is_set()

    def kill(self) -> tuple[list[bytes], str]:
        """SIGKILL it; (the hashes it acknowledged, complete lines only; its stderr)."""
        self.proc.send_signal(signal.SIGKILL)  # a no-op if it already ended (then `alive` says so)
        self.proc.wait()
        self.reader.join(timeout=10)
        stderr = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        # A line cut by the kill ends without a newline: it was never fully printed, so not acknowledged.
        return [bytes.fromhex(line[:-1]) for line in self.lines if line.endswith("\n")], stderr


def _check_after_restart(url: str, acknowledged: list[bytes]) -> tuple[int, int]:
    """Reopen: verify_chain passes, the head block has all its rows, every acknowledged hash is stored."""
    store = open_store(url)
    try:
        try:
            report = verify_chain(store)  # every block's transaction_count equals its stored rows, among the rest
        except BadBlock as e:
            raise AssertionError(f"the chain does not verify after the kill: {e}") from e
        ledger = Ledger(store)
        head = ledger.head()
        assert len(store.transaction_rows(head.height)) == head.transaction_count
        assert report.blocks == head.height + 1
        missing = [h.hex() for h in acknowledged if store.transaction_location(h) is None]
        assert not missing, f"{len(missing)} acknowledged transactions are not in the store: {missing[:3]}"
        return head.height, report.transactions
    finally:
        store.close()


def test_kill_9_at_random_moments_loses_no_acknowledged_transaction(tmp_path):
    rng = random.Random(SEED)
    node_key = tmp_path / "node.key"
    PrivateKey.generate("ed25519").save(node_key)
    acknowledged_in_all = killed_while_committing = 0
    for run in range(RUNS):
        if run % RUNS_PER_DATABASE == 0:
            url = f"sqlite:///{tmp_path}/ledger{run // RUNS_PER_DATABASE}.db"
            Ledger.create(url, PrivateKey.load(node_key), CHAIN).close()
            acknowledged: list[bytes] = []
        committer = Committer(url, str(node_key), seed=run)
        if run % 2 == 0:
            time.sleep(rng.uniform(0.0, 1.0))  # from the start: import, open, first commit, or later
        else:
            if committer.wait_first_ack(timeout=60):
                time.sleep(rng.uniform(0.0, 0.3))  # among steady commits
        acked = committer.first_ack.is_set() or run % 2 == 0
        alive = committer.proc.poll() is None
        hashes, stderr = committer.kill()
        assert alive, f"run {run}: the committer died before the kill:\n{stderr}"
        assert acked, f"run {run}: the committer acknowledged nothing within 60 s:\n{stderr}"
        acknowledged += hashes
        acknowledged_in_all += len(hashes)
        killed_while_committing += bool(hashes)
        try:
            _check_after_restart(url, acknowledged)
        except AssertionError as e:
            raise AssertionError(f"run {run} (seed {SEED}): {e}") from e
    print(f"{RUNS} kills: {killed_while_committing} after at least one acknowledgement, {acknowledged_in_all} transactions acknowledged")
    # The test checked commits, not just start-ups.
    assert killed_while_committing >= RUNS // 2
    assert acknowledged_in_all > 0
