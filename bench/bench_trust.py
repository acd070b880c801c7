"""Checkpoints, witnesses and policies (issue 14): how fast, beside their anchors.

    .venv/bin/python bench/bench_trust.py            # about 30 s

- checkpoint signing per second: `sign_ledger_checkpoint` on a real SQLite ledger (read the
  block tree's root, format, Ed25519-sign), beside the anchor of one bare pycryptodome
  Ed25519 signature of the same text: the ratio is what the format and the root cost;
- cosignatures per second: `Witness.add_checkpoint` on its own SQLite file, each request a
  new checkpoint one block larger with its consistency proof (parse, verify the node's
  signature, verify the proof, cosign, insert with fsync, commit), beside the anchor of the
  two Ed25519 operations it cannot avoid (one verify, one sign);
- `verify --policy` for one bundle, in process (chain.policy.verify_bundle_policy: every
  proof, three header signatures, the transaction's, the checkpoint's and two
  cosignatures), against the issue's 50 ms target; and the whole `coopchain verify
  --policy` command as a user runs it (a fresh Python process), for scale.
One run each, times from time.perf_counter; the machine is shared (load average printed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from Crypto.Signature import eddsa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import markdown_table  # noqa: E402
from coopchain.chain import merkle  # noqa: E402
from coopchain.chain.checkpoint import (  # noqa: E402
    Checkpoint, add_signatures, bundle_checkpoint, node_note_key, note_key, parse_note, sign_checkpoint,
    sign_ledger_checkpoint,
)
from coopchain.chain.block import block_hash  # noqa: E402
from coopchain.chain.keys import PrivateKey  # noqa: E402
from coopchain.chain.ledger import Ledger  # noqa: E402
from coopchain.chain.policy import parse_policy, verify_bundle_policy  # noqa: E402
from coopchain.chain.transaction import sign_transaction, transaction_hash  # noqa: E402
from coopchain.chain.witness import Witness, WitnessStore, add_checkpoint_request  # noqa: E402


def rate(fn, seconds: float = 3.0) -> float:
    """Calls per second of fn over about `seconds`."""
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn()
        n += 1
    return n / elapsed


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-trust-"))
    node, user = PrivateKey.generate("ed25519"), PrivateKey.generate("ed25519")
    ledger = Ledger.create(f"sqlite:///{folder}/ledger.db", node, "bench-trust")
    txs = []
    for i in range(64):
        txs.append(sign_transaction(user, "bench-trust", i, "record.put", {"key": f"lot/{i}", "value": {"t": str(i)}}))
        ledger.commit([txs[-1]])
    rows = []

    # 1. checkpoint signing
    text = parse_note(sign_ledger_checkpoint(ledger, node)).text.encode()
    signer = eddsa.new(node._key, "rfc8032")
    ours = rate(lambda: sign_ledger_checkpoint(ledger, node))
    anchor = rate(lambda: signer.sign(text))
    rows.append(["checkpoint signing (per s), 65-block ledger", f"{ours:,.0f}", "bare Ed25519 sign of the text", f"{anchor:,.0f}", f"{ours / anchor:.2f}"])

    # 2. cosigning: a synthetic log of 2^16 leaves, one block more per request
    origin = "bench.example/log"
    tree = merkle.MemoryTree(merkle.leaf_hash(i.to_bytes(8, "big")) for i in range(1 << 16))
    wkey = PrivateKey.generate("ed25519")
    store = WitnessStore.create(folder / "witness.db", "bench.example/w", wkey.public_key)
    store.follow(origin, note_key(origin, node.public_key))
    witness = Witness(store, wkey)
    first = 1000
    witness.add_checkpoint(add_checkpoint_request(0, [], sign_checkpoint(Checkpoint(origin, first, tree.root_at(first)), node)))
    requests = []
    for size in range(first + 1, first + 4001):
        requests.append(add_checkpoint_request(size - 1, tree.consistency_proof(size - 1, size), sign_checkpoint(Checkpoint(origin, size, tree.root_at(size)), node)))
    it = iter(requests)
    ours = rate(lambda: witness.add_checkpoint(next(it)))
    verifier = eddsa.new(node.public_key._key, "rfc8032")
    note = parse_note(sign_checkpoint(Checkpoint(origin, first, tree.root_at(first)), node))
    ctext, csig = note.text.encode(), note.signatures[0].signature
    anchor = rate(lambda: (verifier.verify(ctext, csig), signer.sign(ctext)))
    rows.append(["cosignatures (per s), add-checkpoint with fsync", f"{ours:,.0f}", "bare Ed25519 verify + sign", f"{anchor:,.0f}", f"{ours / anchor:.2f}"])
    store.close()

    # 3. verify --policy
    witnesses = []
    for name in ("a", "b"):
        k = PrivateKey.generate("ed25519")
        s = WitnessStore.create(folder / f"{name}.db", f"w.example/{name}", k.public_key)
        s.follow(node_note_key(ledger).name, node_note_key(ledger))
        witnesses.append((name, Witness(s, k)))
    cp = sign_ledger_checkpoint(ledger, node)
    for _, w in witnesses:
        cp = add_signatures(cp, w.add_checkpoint(add_checkpoint_request(0, [], sign_ledger_checkpoint(ledger, node))))
    bundle = ledger.bundle(transaction_hash(txs[40]))
    bundle["checkpoint"] = bundle_checkpoint(ledger, bundle["head"]["height"], cp)
    policy_text = (f"genesis {block_hash(ledger.genesis).hex()}\nlog {node_note_key(ledger).vkey()}\n"
                   + "".join(f"witness {n} {w.identity.vkey()}\n" for n, w in witnesses) + "group both all a b\nquorum both\n")
    policy = parse_policy(policy_text)
    doc = json.loads(json.dumps(bundle))
    verify_bundle_policy(doc, policy)  # warm: imports, caches
    runs = []
    for _ in range(20):
        doc = json.loads(json.dumps(bundle))  # a fresh document each time, as read from a file
        start = time.perf_counter()
        verify_bundle_policy(doc, parse_policy(policy_text))
        runs.append(time.perf_counter() - start)
    ours_ms = sorted(runs)[len(runs) // 2] * 1000
    rows.append(["verify --policy, one bundle, in process (ms, median of 20)", f"{ours_ms:.1f}", "issue 14 target", "50", f"{ours_ms / 50:.2f}"])
    (folder / "bundle.json").write_text(json.dumps(bundle))
    (folder / "policy.txt").write_text(policy_text)
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "coopchain.app.cli", "verify", str(folder / "bundle.json"), "--policy", str(folder / "policy.txt")],
                         capture_output=True, text=True, cwd=ROOT)
    whole_ms = (time.perf_counter() - start) * 1000
    assert run.returncode == 0, run.stdout + run.stderr
    rows.append(["`coopchain verify --policy` as a command (ms, one run)", f"{whole_ms:.0f}", "the same, in process", f"{ours_ms:.1f}", f"{whole_ms / ours_ms:.1f}"])
    ledger.close()
    for _, w in witnesses:
        w.store.close()

    print(f"load average {os.getloadavg()[0]:.2f}; Python {sys.version.split()[0]}")
    print(markdown_table(["measure", "ours", "anchor", "anchor's figure", "ours / anchor"], rows))


if __name__ == "__main__":
    main()
