"""chain.signature_checker: the helper process gives verify_many's verdict, survives its helper's death, ends with its parent."""

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from coopchain.chain.errors import InvalidSignature
from coopchain.chain.keys import ED25519, P256, PrivateKey
from coopchain.chain.signature_checker import PROCESS_MIN, RETRY_AFTER, SignatureChecker, _Helper, helper_pid
from tests.chain.test_keys import corrupt, single_verdict, torsion_signature

pytest.importorskip("nacl")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def batch():
    """PROCESS_MIN + 44 good Ed25519 items from 9 signers: enough to go to the helper."""
    signers = [PrivateKey.generate(ED25519) for _ in range(9)]
    items = []
    for i in range(PROCESS_MIN + 44):
        message = hashlib.sha256(str(i).encode()).digest() * 5 + b"tx"
        items.append((signers[i % 9].public_key, signers[i % 9].sign(message), message))
    return items


@pytest.fixture
def checker():
    checker = SignatureChecker()
    yield checker
    checker.shutdown()


def test_a_good_batch_passes_in_the_helper(batch, checker):
    assert checker.submit(batch).result() is None
    assert helper_pid() is not None  # the batch went to the helper, which stays for the next


@pytest.mark.parametrize("bad", [{0: "message"}, {PROCESS_MIN + 43: "bit"}, {200: "key", 201: "message"}, {150: "length", 12: "bit"}])
def test_the_first_bad_index_is_the_reference_verdict(batch, checker, bad):
    items = [corrupt(item, bad[i]) if i in bad else item for i, item in enumerate(batch)]
    first = single_verdict(items)
    assert first == min(bad)
    with pytest.raises(InvalidSignature, match=rf"^item {first}: "):
        checker.submit(items).result()


def test_what_libsodium_refuses_and_the_rule_accepts_is_accepted(batch, checker):
    # The helper only names suspects: the rule (pycryptodome, cofactored) decides them.
    items = list(batch)
    items[99] = torsion_signature()
    checker.submit(items).result()
    assert helper_pid() is not None


def test_a_batch_with_p256_keys_is_checked_in_a_thread(batch, checker):
    key = PrivateKey.generate(P256)
    items = list(batch) + [(key.public_key, key.sign(b"p"), b"p"), (key.public_key, key.sign(b"q"), b"p")]
    with pytest.raises(InvalidSignature, match=rf"^item {len(batch) + 1}: "):
        checker.submit(items).result()


def test_a_killed_helper_costs_no_verdict(batch, checker):
    checker.submit(batch).result()
    first = helper_pid()
    os.kill(first, signal.SIGKILL)
    bad = [corrupt(item, "bit") if i == 77 else item for i, item in enumerate(batch)]
    with pytest.raises(InvalidSignature, match="^item 77: "):
        checker.submit(bad).result()
    checker.submit(batch).result()  # and a new helper takes the next batch
    assert helper_pid() not in (None, first)


@pytest.mark.parametrize("interpreter", ["/nonexistent/python", "/bin/false"])
def test_a_helper_that_cannot_start_costs_no_verdict_and_is_not_restarted_at_every_batch(batch, checker, monkeypatch, interpreter):
    """No interpreter at that path (OSError), or one that ends at once: the batches are checked in the
    thread, and no new helper is tried until RETRY_AFTER has passed."""
    starts, popen, python = [], subprocess.Popen, sys.executable
    monkeypatch.setattr("coopchain.chain.signature_checker.subprocess.Popen", lambda *a, **k: starts.append(a) or popen(*a, **k))
    monkeypatch.setattr(_Helper, "_current", None)
    monkeypatch.setattr(_Helper, "_failed_start", -RETRY_AFTER)
    monkeypatch.setattr("coopchain.chain.signature_checker.sys.executable", interpreter)
    bad = [corrupt(item, "message") if i == 250 else item for i, item in enumerate(batch)]
    with pytest.raises(InvalidSignature, match="^item 250: "):
        checker.submit(bad).result()
    checker.submit(batch).result()
    checker.submit(batch).result()
    assert len(starts) == 1 and helper_pid() is None
    monkeypatch.setattr(_Helper, "_failed_start", time.monotonic() - RETRY_AFTER)  # a minute later
    monkeypatch.setattr("coopchain.chain.signature_checker.sys.executable", python)
    checker.submit(batch).result()
    assert len(starts) == 2 and helper_pid() is not None


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for whoever adopts it to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_helper_ends_with_its_parent_even_on_sigkill():
    script = textwrap.dedent("""
        import sys, time
        from coopchain.chain.keys import ED25519, PrivateKey
        from coopchain.chain.signature_checker import PROCESS_MIN, RETRY_AFTER, SignatureChecker, _Helper, helper_pid
        key = PrivateKey.generate(ED25519)
        SignatureChecker().submit([(key.public_key, key.sign(b"m"), b"m")] * PROCESS_MIN).result()
        print(_Helper._current.process.pid, flush=True)
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        pid = int(parent.stdout.readline())
        assert running(pid)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 20
        while running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if running(pid):
            pytest.fail(f"the helper {pid} outlived its parent")
    finally:
        parent.kill()
