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

    frame = marshal.dumps(([key.raw for key, _, _ in items], [s for _, s, _ in items], [m for _, _, m in items]))
    try:
        suspects = _Helper.shared().ask(frame)
    except OSError:  # no helper could start (no interpreter path, no process left): as below
        suspects = None
    if suspects is None:  # the helper is gone: this batch is checked here, the next starts a new helper
        verify_many(items)
        return
    _raise_first(items, suspects)


class _Helper:
    """The helper process of this process, and the pipe to it (one batch at a time)."""

    _current: _Helper | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.process = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    @classmethod
    def shared(cls) -> _Helper:
        with cls._lock:
            # A forked child must not write into its parent's pipe: it starts its own helper.
            if cls._current is None or cls._current.pid != os.getpid() or cls._current.process.poll() is not None:
                cls._current = cls()
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
            self.process.kill()
            self.process.wait()
            return None
        return marshal.loads(answer)


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
