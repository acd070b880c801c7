"""A block's signatures checked while the commit applies it, in a helper process (SPEC §7).

`Ledger.commit` checks the signatures of a block beside applying its transactions: a block of
1,000 Ed25519 signatures costs libsodium about 120 ms of CPU here, the state transitions,
trie and writes about 200 ms of the committing thread.  Checked by threads of the committing
process (`chain.keys.verify_many`), every signature needs the GIL back after libsodium
releases it, while the committing thread holds it for pure-Python work: each hand-back waits
out the interpreter's switch interval, and the commit waited a further 50 ms a block for its
signatures (3,350 tx/s; a switch interval of 0.2 ms instead removed the wait but slowed the
committing thread as much).  A helper process shares no GIL with the commit.

The helper is ``python -m coopchain.chain.signature_checker``, one per process, started at the
first batch of `PROCESS_MIN` Ed25519 signatures or more and shared by every ledger the process
opens.  It reads batches from its standard input (an 8-byte length, then the marshalled raw
keys, signatures and messages) and answers each with the positions libsodium refuses; it ends
when its standard input closes, that is when the process that started it ends, however it ends.
It decides nothing: every position it names is decided again by the rule (`PublicKey.verify`),
so the verdict is exactly verify_many's.  A smaller batch, one holding P-256 keys, and any batch
when the helper cannot run (no PyNaCl, the helper killed) is checked by verify_many in a thread.
"""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

PROCESS_MIN = 256
"""From this many Ed25519 signatures a batch goes to the helper process: below it, a thread's
check costs less than the hand-over (and a short command never starts a helper)."""

_HEADER = 8  # bytes of a frame's length, big-endian


class SignatureChecker:
    """`submit(items)` starts checking (public key, signature, message) items and returns a Future
    whose `result()` returns, or raises InvalidSignature, as `chain.keys.verify_many(items)` would."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="signatures")

    def submit(self, items: Sequence[tuple]) -> Future:
        from coopchain.chain.keys import verify_many

        items = list(items)
        if len(items) >= PROCESS_MIN and _helper_eligible(items):
            return self._thread.submit(_check_in_helper, items)
        return self._thread.submit(verify_many, items)

    def shutdown(self) -> None:
        """Stop this checker's thread (the helper process is shared and ends with this process)."""
        self._thread.shutdown()


def _helper_eligible(items: list) -> bool:
    from coopchain.chain.keys import ED25519, PublicKey, _nacl_verifier

    return _nacl_verifier() is not None and all(
        type(key) is PublicKey and key.scheme == ED25519 and type(signature) is bytes and len(signature) == 64 and type(message) is bytes
        for key, signature, message in items
    )


def _check_in_helper(items: list) -> None:
    from coopchain.chain.keys import _raise_first, verify_many

    helper = _Helper.shared()
    suspects = None
    if helper is not None:
        frame = marshal.dumps(([key.raw for key, _, _ in items], [s for _, s, _ in items], [m for _, _, m in items]))
        suspects = helper.ask(frame)
    if suspects is None:  # no helper, or it died: this batch is checked here, the next starts a new helper
        verify_many(items)
        return
    _raise_first(items, suspects)


RETRY_AFTER = 60.0
"""Seconds after a helper failed to start (or died before its first answer) during which batches
are checked in the thread: a helper that cannot run would otherwise cost a process start per block."""


class _Helper:
    """The helper process of this process, and the pipe to it (one batch at a time)."""

    _current: _Helper | None = None
    _failed_start = -RETRY_AFTER  # time.monotonic() of the last start that came to nothing
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.answered = False
        self.process = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    @classmethod
    def shared(cls) -> _Helper | None:
        """The running helper, a new one, or None while a failed start is recent (or none can start)."""
        with cls._lock:
            # A forked child must not write into its parent's pipe: it starts its own helper.
            if cls._current is None or cls._current.pid != os.getpid() or cls._current.process.poll() is not None:
                cls._current = None
                if time.monotonic() - cls._failed_start < RETRY_AFTER:
                    return None
                try:
                    cls._current = cls()
                except OSError:  # no interpreter at that path, no process left
                    cls._failed_start = time.monotonic()
                    return None
            return cls._current

    def ask(self, frame: bytes) -> list[int] | None:
        """The positions the helper refuses, or None if it died (it is then forgotten)."""
        with self.lock:
            try:
                self.process.stdin.write(len(frame).to_bytes(_HEADER, "big") + frame)
                self.process.stdin.flush()
                answer = _read_frame(self.process.stdout)
            except (OSError, ValueError):
                answer = None
        if answer is None:
            with _Helper._lock:
                if _Helper._current is self:
                    _Helper._current = None
                if not self.answered:  # it never worked: do not start another at every block
                    _Helper._failed_start = time.monotonic()
            self.process.kill()
            self.process.wait()
            return None
        self.answered = True
        return marshal.loads(answer)


def helper_pid() -> int | None:
    """The process id of this process's running helper, or None (for benchmarks that count its CPU)."""
    helper = _Helper._current
    return None if helper is None or helper.pid != os.getpid() or helper.process.poll() is not None else helper.process.pid


def _read_frame(stream) -> bytes | None:
    head = stream.read(_HEADER)
    if len(head) < _HEADER:
        return None
    size = int.from_bytes(head, "big")
    body = stream.read(size)
    return body if len(body) == size else None


def _rejected(keys: list, signatures: list, messages: list) -> list[int]:
    """The positions libsodium refuses (keys the parent checked to be Ed25519, 64-byte signatures)."""
    from nacl.bindings import crypto_sign_open
    from nacl.exceptions import CryptoError

    out = []
    for i, (key, signature, message) in enumerate(zip(keys, signatures, messages)):
        try:
            crypto_sign_open(signature + message, key)
        except (CryptoError, TypeError, ValueError):
            out.append(i)
    return out


def main() -> None:
    """The helper's loop: one answer per batch, until standard input closes."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        frame = _read_frame(stdin)
        if frame is None:
            return
        answer = marshal.dumps(_rejected(*marshal.loads(frame)))
        stdout.write(len(answer).to_bytes(_HEADER, "big") + answer)
        stdout.flush()


if __name__ == "__main__":
    main()
