"""`coopchain chain verify` and `chain replay` (SPEC §6, §8): re-check a stored ledger from genesis.

`verify_chain` streams the blocks in order and re-derives every stored value:
each header's hash, link, chain id, timestamp, node signature and seal; each
transaction's hash, signature and admission; the block's execution through
`chain.execution.apply_block`, the function commit uses, whose receipts must be
the stored ones; the transaction, receipts, state and history roots; and the stored trie and history rows each block
added.  The first fault raises `BadBlock`, naming the block; a single changed
byte anywhere in the four tables is found this way (tests/chain/test_tamper.py).

Rows are accounted for as well as bytes, so that an added or a removed row is
found too.  A row missing from a block fails that block (its transactions, the
trie nodes and history nodes it adds are each looked up).  After the head, a row
that claims a place before genesis (a negative height or history position) is
named at block 0.  Then each table's row count must be
exactly what the blocks account for (for trie nodes, which blocks share, the
distinct nodes they added, counted in temporary files so that memory stays
flat); rows beyond that belong to no block, and are named at the block
after the head: a removed head block leaves them behind.  A head removed with
every row it added leaves a shorter chain that is valid in itself: `since`, a
head the auditor saw before (chain.pinned), exposes it.

Stored bytes are hostile: every decoder they reach is bounded (chain.encoding),
and what still fails to parse is the block's fault, never a traceback.

`replay_chain` re-runs the transactions into a fresh trie, ignoring the stored
state, and compares every state and receipts root.  The fresh trie's nodes go to a scratch
SQLite file that is deleted afterwards: every node a chain ever made would not
fit in memory at 10^6 transactions.

Memory stays flat in chain length: one block at a time, a Frontier of O(log n)
hashes for the history tree, and the stored trie read through its nodes.
"""

from __future__ import annotations

import hashlib
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass


from coopchain.chain import merkle
from coopchain.chain.block import ChainConfig, Header, block_hash, check_link, decode_header, signing_bytes as header_signing_bytes
from coopchain.chain.contract import BlockContext, ContractSet, Runtime
from coopchain.chain.errors import ChainError, InvalidBlock, InvalidTransaction, ensure
from coopchain.chain.execution import State, apply_block, check_size, runtime_for
from coopchain.chain.keys import PublicKey, verify_many
from coopchain.chain.ledger import available, genesis_state_root, now_micros, seal_context
from coopchain.chain.receipt import encode_receipt, receipts_root
from coopchain.chain.pinned import PinnedHead, pin_verdict, pinned_reached
from coopchain.chain.seals import seal_for, verify_seal
from coopchain.chain.state import StateView
from coopchain.chain.store import BEFORE_GENESIS, SqlStore
from coopchain.chain.transaction import decode_transaction, signing_bytes
from coopchain.chain import trie
from coopchain.chain.trie import keccak256, trie_update

MAX_FUTURE_MICROS = 2 * 3600 * 10**6  # a header may run ahead of the verifier's clock by two hours (as Bitcoin's rule)
RECENT_HEADERS = 1100  # decoded headers kept while streaming: more than any retarget window (1,024)
Progress = Callable[[int, int], None]  # (blocks done, blocks in all)
TALLY_FILES = 64  # temporary files the distinct trie nodes are counted in, by a hash's first 6 bits


class BadBlock(ChainError):
    """The first block at which the stored ledger fails verification."""

    def __init__(self, height: int, reason: str) -> None:
        super().__init__(f"block {height}: {reason}")
        self.height, self.reason = height, reason


@dataclass(frozen=True)
class ChainReport:
    blocks: int
    transactions: int
    head_hash: bytes
    state_root: bytes
    pinned_height: int | None = None  # where the head passed as `since` was found


class _CheckedNodes:
    """The stored trie read with every node's Keccak-256 checked against its key, and a tally
    of the distinct nodes the blocks added (`distinct`).

    A node can recur (chain.trie), so the tally is a set, kept off the heap: each hash is
    appended to one of `TALLY_FILES` anonymous temporary files by its first six bits
    (sequential writes, about a microsecond per node), and at the end each file's hashes are
    counted with a set.  A B-tree of seen hashes (a temporary SQLite table) cost 17 µs per
    node at 3.5 million nodes; memory here is a 64th of the nodes, once, at the end (about
    6 MiB at 10^6 transactions, 3.5 million nodes).
    """

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self._parts: list | None = None

    def tally(self, added: dict[bytes, bytes]) -> None:
        if self._parts is None:
            self._parts = [tempfile.TemporaryFile(prefix="coopchain-verify-") for _ in range(TALLY_FILES)]
        parts = self._parts
        for node_hash in added:
            if len(node_hash) != 32:  # keys are Keccak-256 digests (chain.trie)
                raise InvalidBlock(f"a trie node key of {len(node_hash)} bytes")
            parts[node_hash[0] >> 2].write(node_hash)

    @property
    def distinct(self) -> int:
        """How many distinct nodes `tally` saw (read once: it closes the files)."""
        total = 0
        for part in self._parts or ():
            part.seek(0)
            data = part.read()
            part.close()
            total += len({data[i:i + 32] for i in range(0, len(data), 32)})
        self._parts = []
        return total

    def get(self, node_hash: bytes) -> bytes | None:
        node = self.store.get(node_hash)
        if node is not None and keccak256(node) != node_hash:
            raise InvalidBlock(f"stored trie node {node_hash.hex()} does not hash to its key")
        return node


class _ScratchNodes:
    """A throw-away node store for replay: a temporary SQLite file, no journal, no fsync."""

    def __init__(self) -> None:
        self._file = tempfile.NamedTemporaryFile(prefix="coopchain-replay-", suffix=".db")
        self._conn = sqlite3.connect(self._file.name)
        self._conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; CREATE TABLE nodes (hash BLOB PRIMARY KEY, node BLOB) WITHOUT ROWID;")
        self._recent: dict[bytes, bytes] = {}

    def get(self, node_hash: bytes) -> bytes | None:
        node = self._recent.get(node_hash)
        if node is None:
            row = self._conn.execute("SELECT node FROM nodes WHERE hash = ?", (node_hash,)).fetchone()
            node = None if row is None else row[0]
        return node

    def add(self, nodes: dict[bytes, bytes]) -> None:
        self._conn.executemany("INSERT OR IGNORE INTO nodes VALUES (?, ?)", nodes.items())
        if len(self._recent) + len(nodes) > 50_000:
            self._recent.clear()
        self._recent.update(nodes)

    def close(self) -> None:
        self._conn.close()
        self._file.close()


def _walk(store: SqlStore, progress: Progress | None, scratch: _ScratchNodes | None, since: PinnedHead | None = None, contracts: ContractSet | None = None) -> ChainReport:
    """Verify (scratch None: the stored trie, every node checked) or replay (into `scratch`);
    `since`: a head seen before, which the ledger must still hold."""
    replay = scratch is not None
    pinned_at = None
    total = (store.height() or 0) + 1
    nodes = scratch if replay else _CheckedNodes(store)
    history = merkle.Frontier()
    parent: Header | None = None
    config: ChainConfig | None = None
    node_key: PublicKey | None = None
    runtime: Runtime | None = None
    transactions = history_nodes = 0
    recent: dict[int, Header] = {}
    for expected, (height, stored_hash, data) in enumerate(store.block_rows()):
        try:
            if height != expected:
                raise BadBlock(expected, f"no block is stored at this height (the next stored row says height {height})")
            header = decode_header(data)
            ensure(header.height == height, InvalidBlock, f"the header says height {header.height}, the row {height}")
            digest = block_hash(header)
            ensure(digest == stored_hash, InvalidBlock, f"the header hashes to {digest.hex()}, the row says {stored_hash.hex()}")
            if since is not None and pinned_reached(since, height, digest, config or header.config):
                pinned_at = height
            if parent is None:
                ensure(header.config is not None, InvalidBlock, "the genesis header carries no config")
                config = header.config
                node_key = PublicKey.from_text(config.node)
                try:
                    runtime = runtime_for(config, available(contracts))
                except ChainError as e:  # a contract this program lacks: nothing can be verified
                    raise BadBlock(0, str(e)) from e
                ensure(header.chain_id == config.chain_id, InvalidBlock, "the genesis chain id differs from its config")
            else:
                check_link(header, parent)
            node_key.verify(header.signature, header_signing_bytes(header))
            ensure(header.timestamp <= now_micros() + MAX_FUTURE_MICROS, InvalidBlock, f"timestamp {header.timestamp} lies more than two hours ahead of this clock")
            ctx = seal_context(store, nodes, config, parent, recent) if parent is not None else None
            verify_seal(header, ctx, config)
            ensure(header.history_root == history.root(), InvalidBlock, f"history root {header.history_root.hex()}, expected {history.root().hex()}")
            rows = store.transaction_rows(height)
            txs = _check_transactions(header, rows, replay)
            if parent is None:
                ensure(header.receipts_root == merkle.empty_root(), InvalidBlock, "the genesis receipts root is not the empty root")
                state_root, added = genesis_state_root(config, runtime)
            else:
                view = StateView(nodes, parent.state_root, {})
                try:
                    output = apply_block(State(view.get, runtime), BlockContext(config.chain_id, height, header.timestamp), [(tx, row[1]) for tx, row in zip(txs, rows)])
                except InvalidTransaction as e:
                    raise InvalidBlock(f"a transaction that admission refuses: {e}") from e
                receipts = [encode_receipt(r) for r in output.receipts]
                for (position, _, _, stored), receipt in zip(rows, receipts):
                    ensure(stored == receipt, InvalidBlock, f"the stored receipt of transaction {position} is not what executing it gives")
                root = receipts_root(receipts)
                ensure(header.receipts_root == root, InvalidBlock, f"receipts root {header.receipts_root.hex()}, executing the transactions gives {root.hex()}")
                view.pending.update(output.changes)
                view.pending.update(seal_for(config.seal).state_changes(header.seal, height, ctx))
                state_root, added = trie_update(nodes, parent.state_root, view.trie_changes())
            if replay:
                scratch.add(added)
            else:
                for node_hash, node in added.items():
                    ensure(store.get(node_hash) == node, InvalidBlock, f"trie node {node_hash.hex()} that this block adds is missing or altered")
                nodes.tally(added)
            trie.stored(added)  # found as made: the next block reads them decoded
            ensure(header.state_root == state_root, InvalidBlock, f"state root {header.state_root.hex()}, the transactions give {state_root.hex()}")
            completed = history.append(merkle.leaf_hash(digest))
            history_nodes += len(completed)
            if not replay:
                for level, index, node_hash in completed:
                    try:
                        stored = store.history_node(level, index)
                    except KeyError:
                        stored = None
                    ensure(stored == node_hash, InvalidBlock, f"history node ({level}, {index}) is missing or altered")
        except BadBlock:
            raise
        except (ChainError, KeyError) as e:
            raise BadBlock(height, str(e) if not isinstance(e, KeyError) else f"a stored node it needs is missing ({e})") from e
        except (ValueError, TypeError, ArithmeticError, RecursionError, IndexError) as e:
            # Stored bytes no check above foresaw (a hostile genesis, say): refused, never a traceback.
            raise BadBlock(height, f"its stored data cannot be checked ({type(e).__name__}: {e})") from e
        transactions += len(rows)
        parent = header
        recent[height] = header  # retargeting reads the last `window` headers again
        recent.pop(height - RECENT_HEADERS, None)
        if progress:
            progress(height + 1, total)
    if parent is None:
        raise BadBlock(0, "the ledger holds no genesis block")
    _check_nothing_before_genesis(store)
    _check_no_stray_rows(store, parent.height, transactions, history_nodes, None if replay else nodes.distinct)
    if since is not None and (unheld := pin_verdict(since, pinned_at, parent.height, config)):
        raise BadBlock(*unheld)
    return ChainReport(parent.height + 1, transactions, block_hash(parent), parent.state_root, pinned_at)


def _check_transactions(header: Header, rows: list, replay: bool) -> list:
    """A block's stored transactions against its header (positions, count, hashes, root, signatures); decoded."""
    ensure([row[0] for row in rows] == list(range(len(rows))), InvalidBlock, "transaction positions are not 0, 1, 2, …")
    ensure(len(rows) == header.transaction_count, InvalidBlock, f"{len(rows)} transactions stored, the header says {header.transaction_count}")
    for position, tx_hash, body, _ in rows:
        ensure(hashlib.sha256(body).digest() == tx_hash, InvalidBlock, f"transaction {position} does not hash to its stored hash")
        try:
            check_size(position, body)
        except InvalidTransaction as e:
            raise InvalidBlock(str(e)) from e
    root = merkle.root([merkle.leaf_hash(row[2]) for row in rows])
    ensure(root == header.transactions_root, InvalidBlock, f"transactions root {header.transactions_root.hex()}, the stored transactions give {root.hex()}")
    try:
        txs = [decode_transaction(row[2]) for row in rows]
    except InvalidTransaction as e:
        raise InvalidBlock(str(e)) from e
    if not replay and txs:
        try:
            verify_many([(PublicKey.from_text(tx.sender), tx.signature, signing_bytes(tx)) for tx in txs])
        except ChainError as e:
            raise InvalidBlock(f"transaction signature: {e}") from e
    return txs


def _check_nothing_before_genesis(store: SqlStore) -> None:
    """A row placed before block 0 (height −1, say), which the walk from genesis never reads,
    is named at block 0.  Checked after the walk: a row moved there from a block fails that block first."""
    for table, column in BEFORE_GENESIS.items():
        count = store.rows_before_genesis(table)
        if count:
            raise BadBlock(0, f"{_rows(count, table)} stored before genesis (a negative {column})")


def _check_no_stray_rows(store: SqlStore, head: int, transactions: int, history_nodes: int, trie_nodes: int | None) -> None:
    """Rows that no block accounts for fail at the block after the head: they are what a
    removed head block leaves behind, or rows added outside every block (a row whose block
    or position is not an integer, too).  `trie_nodes` None: not counted (replay)."""
    expected = {"blocks": head + 1, "transactions": transactions, "history_nodes": history_nodes, "trie_nodes": trie_nodes}
    for table, count in expected.items():
        stored = store.row_count(table) if count is not None else None
        if stored != count:
            raise BadBlock(head + 1, f"{_rows(stored - count, table)} stored beyond what blocks 0..{head} account for: "
                                     "a block after the head was removed, or rows were added")


def _rows(n: int, table: str) -> str:
    return f"{n:,} row{'' if n == 1 else 's'} of {table}"


def verify_chain(store: SqlStore, progress: Progress | None = None, since: PinnedHead | None = None, contracts: ContractSet | None = None) -> ChainReport:
    """Re-check every block and row; raise BadBlock naming the first bad one.  `since`: a head
    seen before (chain.pinned); a ledger that no longer holds it fails too.  `contracts`: the
    implementations of the contracts the genesis names (chain/'s own are always there)."""
    return _walk(store, progress, None, since, contracts)


def replay_chain(store: SqlStore, progress: Progress | None = None, since: PinnedHead | None = None, contracts: ContractSet | None = None) -> ChainReport:
    """Re-run every transaction into a fresh trie and compare each block's state and receipts roots."""
    scratch = _ScratchNodes()
    try:
        return _walk(store, progress, scratch, since, contracts)
    finally:
        scratch.close()
