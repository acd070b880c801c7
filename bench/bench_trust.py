"""Checkpoints, witnesses and policies (issue 14): how fast, beside their anchors.

    .venv/bin/python bench/bench_trust.py            # about 30 s

- checkpoint signing per second: `sign_ledger_checkpoint` on a real SQLite ledger (read the
  block tree's root, format, Ed25519-sign), beside the anchor of one bare pycryptodome
  Ed25519 signature of the same text: the ratio is what the format and the root cost;
- cosignatures per second: `Witness.add_checkpoint` on its own SQLite file, each request a
  new checkpoint one block larger with its consistency proof (parse, verify the node's
  signature, verify the proof, cosign, insert with fsync, commit), beside the anchor of the
  two Ed25519 operations it cannot avoid (one verify, one sign);
- publishing: `service.checkpoints.publish` with two witnesses (in process, no HTTP): sign the
  head, two add-checkpoint requests with their proofs, merge, insert into the published
  checkpoints table, beside the anchor of three bare Ed25519 signatures and two verifies;
- `verify --policy` for one bundle, in process (chain.policy.verify_bundle_policy: every
  proof, three header signatures, the transaction's, the checkpoint's and two
  cosignatures), against the issue's 50 ms target: a signed chain's bundle as the API's bundle
  route builds it (service.checkpoints.pinned_bundle), and the bundles of pow, rpca16 and
  endorsement chains, whose seals are checked offline from the evidence they carry
  (chain.seal_evidence: the retarget window's headers, the endorsement policy's state proof);
  and the whole `coopchain verify --policy` command as a user runs it (a fresh Python process).
One run each; wall time (time.perf_counter) beside CPU time (time.process_time), since the
2 cores are shared: the load average is printed.
"""

from __future__ import annotations

import json
import os
import resource
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
    Checkpoint, node_note_key, note_key, parse_note, sign_checkpoint,
    sign_ledger_checkpoint,
)
from coopchain.chain.block import block_hash  # noqa: E402
from coopchain.chain.keys import PrivateKey  # noqa: E402
from coopchain.chain.ledger import Ledger  # noqa: E402
from coopchain.chain.policy import parse_policy, verify_bundle_policy  # noqa: E402
from coopchain.chain.transaction import sign_transaction, transaction_hash  # noqa: E402
from coopchain.chain.witness import Witness, WitnessStore, add_checkpoint_request  # noqa: E402
from coopchain.service.checkpoints import CheckpointStore, pinned_bundle, publish  # noqa: E402


def rate(fn, seconds: float = 3.0) -> tuple[float, float]:
    """Calls per second of fn over about `seconds`: (per wall second, per CPU second of this process)."""
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn()
        n += 1
    return n / elapsed, n / max(time.process_time() - cpu, 1e-9)


def timed(fn, runs: int = 20) -> tuple[float, float]:
    """Median wall and CPU milliseconds of `runs` calls (after one warm call)."""
    fn()
    wall, cpu = [], []
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return sorted(wall)[runs // 2] * 1000, sorted(cpu)[runs // 2] * 1000


def sealed_chain(folder: Path, kind: str) -> tuple[dict, str]:
    """A 12-block chain of `kind` (easy work targets), and the policy-ready bundle of its block 6's record with
    a checkpoint two witnesses cosigned (as the API serves it); returns (bundle, policy text)."""
    node, user = PrivateKey.generate("ed25519"), PrivateKey.generate("ed25519")
    members = [PrivateKey.generate("ed25519") for _ in range(3)]
    params = ({"members": [m.public_key.to_text() for m in members], "k": 2} if kind == "endorsement"
              else {} if kind == "signed" else {"target": f"{2**248:064x}", "interval_ms": 1000, "window": 10})
    url = f"sqlite:///{folder}/{kind}.db"
    ledger = Ledger.create(url, node, f"bench-{kind}", seal=kind, seal_params=params, other_keys=members[:2])
    txs = []
    for i in range(12):
        txs.append(sign_transaction(user, f"bench-{kind}", i, "record.put", {"key": f"lot/{i}", "value": {"t": str(i)}}))
        ledger.commit([txs[-1]], timestamp=ledger.head().timestamp + 10**6)
    witnesses, names = [], []
    for name in ("a", "b"):
        k = PrivateKey.generate("ed25519")
        s = WitnessStore.create(folder / f"{kind}-{name}.db", f"w.example/{name}", k.public_key)
        s.follow(node_note_key(ledger).name, node_note_key(ledger))
        w = Witness(s, k)
        witnesses.append((name, (lambda w: lambda body: (200, w.add_checkpoint(body)))(w)))
        names.append(f"witness {name} {w.identity.vkey()}\n")
    store = CheckpointStore(url)
    publish(ledger, witnesses, store)
    bundle = pinned_bundle(ledger, store, transaction_hash(txs[5]))
    store.close()
    policy = (f"genesis {block_hash(ledger.genesis).hex()}\nlog {node_note_key(ledger).vkey()}\n" + "".join(names)
              + "group both all a b\nquorum both\n")
    ledger.close()
    return bundle, policy


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
    ours, ours_cpu = rate(lambda: sign_ledger_checkpoint(ledger, node))
    anchor, anchor_cpu = rate(lambda: signer.sign(text))
    rows.append(["checkpoint signing (per s), 65-block ledger", f"{ours:,.0f}", f"{ours_cpu:,.0f}", "bare Ed25519 sign of the text",
                 f"{anchor:,.0f}", f"{anchor_cpu:,.0f}", f"{ours / anchor:.2f}"])

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
    ours, ours_cpu = rate(lambda: witness.add_checkpoint(next(it)))
    verifier = eddsa.new(node.public_key._key, "rfc8032")
    note = parse_note(sign_checkpoint(Checkpoint(origin, first, tree.root_at(first)), node))
    ctext, csig = note.text.encode(), note.signatures[0].signature
    anchor, anchor_cpu = rate(lambda: (verifier.verify(ctext, csig), signer.sign(ctext)))
    rows.append(["cosignatures (per s), add-checkpoint with fsync", f"{ours:,.0f}", f"{ours_cpu:,.0f}", "bare Ed25519 verify + sign",
                 f"{anchor:,.0f}", f"{anchor_cpu:,.0f}", f"{ours / anchor:.2f}"])
    store.close()

    # 3. publishing with two witnesses (in process), each publication one block newer
    publishers = []
    for name in ("a", "b"):
        k = PrivateKey.generate("ed25519")
        s = WitnessStore.create(folder / f"pub-{name}.db", f"w.example/{name}", k.public_key)
        s.follow(node_note_key(ledger).name, node_note_key(ledger))
        publishers.append((name, (lambda w: lambda body: (200, w.add_checkpoint(body)))(Witness(s, k))))
    published = CheckpointStore(f"sqlite:///{folder}/ledger.db")
    nonce = [len(txs)]

    def grow_and_publish():
        ledger.commit([sign_transaction(user, "bench-trust", nonce[0], "record.put", {"key": "p", "value": nonce[0]})])
        nonce[0] += 1
        publish(ledger, publishers, published)

    commit_only = lambda: (ledger.commit([sign_transaction(user, "bench-trust", nonce[0], "record.put", {"key": "p", "value": nonce[0]})]),  # noqa: E731
                           nonce.__setitem__(0, nonce[0] + 1))
    both, both_cpu = rate(grow_and_publish)
    alone, alone_cpu = rate(commit_only)
    ours, ours_cpu = 1 / (1 / both - 1 / alone), 1 / (1 / both_cpu - 1 / alone_cpu)  # the publication alone
    anchor, anchor_cpu = rate(lambda: ([signer.sign(text) for _ in range(3)], [verifier.verify(ctext, csig) for _ in range(2)]))
    rows.append(["publications (per s): sign, 2 witnesses cosign, store (a commit's time subtracted)", f"{ours:,.0f}", f"{ours_cpu:,.0f}", "3 bare Ed25519 signs + 2 verifies",
                 f"{anchor:,.0f}", f"{anchor_cpu:,.0f}", f"{ours / anchor:.2f}"])
    published.close()

    # 4. verify --policy, one bundle, in process: a signed chain's, then each sealed kind's
    for kind in ("signed", "pow", "rpca16", "endorsement"):
        bundle, policy_text = sealed_chain(folder, kind)
        text_doc = json.dumps(bundle)
        wall, cpu = timed(lambda: verify_bundle_policy(json.loads(text_doc), parse_policy(policy_text)))
        seal = {"signed": "", "pow": ", seals from a 10-header window", "rpca16": ", seals from a 10-header window",
                "endorsement": ", 2-of-3 endorsements and the policy's proof"}[kind]
        rows.append([f"verify --policy, one {kind} bundle{seal} (ms, median of 20)", f"{wall:.1f}", f"{cpu:.1f}", "issue 14 target", "50", "", f"{wall / 50:.2f}"])
        if kind == "signed":
            (folder / "bundle.json").write_text(text_doc)
            (folder / "policy.txt").write_text(policy_text)
            signed_ms = wall
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "coopchain.app.cli", "verify", str(folder / "bundle.json"), "--policy", str(folder / "policy.txt")],
                         capture_output=True, text=True, cwd=ROOT)
    whole_ms = (time.perf_counter() - start) * 1000
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert run.returncode == 0, run.stdout + run.stderr
    rows.append(["`coopchain verify --policy` as a command (ms, one run)", f"{whole_ms:.0f}", f"{(child.ru_utime + child.ru_stime) * 1000:.0f}",
                 "the same, in process", f"{signed_ms:.1f}", "", f"{whole_ms / signed_ms:.1f}"])
    ledger.close()

    print(f"load average {os.getloadavg()[0]:.2f} (1 min), {os.getloadavg()[1]:.2f} (5 min); Python {sys.version.split()[0]}")
    print(markdown_table(["measure", "ours (wall)", "ours (CPU)", "anchor", "anchor (wall)", "anchor (CPU)", "ours / anchor (wall)"], rows))


if __name__ == "__main__":
    main()
