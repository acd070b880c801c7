"""Commit blocks of signed record transactions forever, acknowledging each block on stdout (SPEC §8).

    python bench/crash_committer.py --db sqlite:///ledger.db --node-key node.key [--sizes 1,100] [--seed N]

Opens the ledger at --db (creating it, chain id --chain-id, if the database is
empty) with the node key, then loops: sign a block of record transactions from
one user key (fresh per process, so its nonces start at 0), `commit` it, and
only after `commit` returns print the block's transaction hashes, one hex line
each, flushed.  A printed hash is therefore an acknowledged transaction: by
then it is on disk, and it must survive a kill -9 at any later moment.

tests/chain/test_crash.py starts this as a subprocess and kills it with SIGKILL
at random moments.  Imports are kept to the commit path: a fresh process per
kill is the test's main cost.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere, uninstalled

from coopchain.chain.keys import PrivateKey  # noqa: E402
from coopchain.chain.ledger import Ledger  # noqa: E402
from coopchain.chain.store import open_store  # noqa: E402
from coopchain.chain.transaction import sign_transaction, transaction_hash  # noqa: E402


def open_or_create(url: str, node_key: PrivateKey, chain_id: str) -> Ledger:
    store = open_store(url, create=True)
    empty = store.height() is None
    store.close()
    return Ledger.create(url, node_key, chain_id) if empty else Ledger.open(url, node_key)


def run(url: str, node_key_path: str, chain_id: str, sizes: list[int], seed: int | None, blocks: int | None) -> None:
    ledger = open_or_create(url, PrivateKey.load(node_key_path), chain_id)
    rng = random.Random(seed)
    user = PrivateKey.generate("ed25519")
    sender = user.public_key.to_text()
    nonce = ledger.next_nonce(sender)
    out = sys.stdout
    done = 0
    while blocks is None or done < blocks:
        size = rng.choice(sizes)
        txs = []
        for _ in range(size):
            # A few hundred record keys: later blocks overwrite earlier records, as real ones do.
            payload = {"key": f"k{rng.randrange(300)}", "value": {"n": nonce, "pid": seed}}
            txs.append(sign_transaction(user, chain_id, nonce, "record.put", payload))
            nonce += 1
        ledger.commit(txs)
        # Acknowledge only now that commit has returned: one write, then flush.
        out.write("".join(transaction_hash(tx).hex() + "\n" for tx in txs))
        out.flush()
        done += 1
    ledger.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="sqlite:///PATH (or a PostgreSQL URL)")
    parser.add_argument("--node-key", required=True, help="the chain's node key file (PKCS#8 PEM, mode 0600)")
    parser.add_argument("--chain-id", default="crash-chain", help="used only when the ledger is created")
    parser.add_argument("--sizes", default="1,100", help="block sizes (transactions) to choose from at random")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--blocks", type=int, default=None, help="stop after this many blocks (default: never)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if not sizes or min(sizes) < 1:
        parser.error("--sizes: positive integers, comma separated")
    run(args.db, args.node_key, args.chain_id, sizes, args.seed, args.blocks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
