"""The ledger (SPEC §2, §4): genesis, committing signed transactions in blocks, and proofs.

`commit` checks every signature (both cores), runs the block through
`chain.execution.apply_block` (the same function `chain verify` and `chain
replay` call), and appends one block whose header commits to the transactions
and their receipts (RFC 6962 roots), the new state (Merkle Patricia Trie root)
and all earlier blocks (RFC 6962 history root).  The contracts a chain runs are
named in its genesis; their implementations are handed to `Ledger.create` and
`Ledger.open` as a `ContractSet` by the program that opens it.  The whole block lands in one database
transaction while the store's write lock is held, so a crash leaves either the
block or nothing, and concurrent writers never fork.  A transaction is
acknowledged when `commit` returns: by then it is on disk.
"""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import Future, wait
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

from coopchain.chain import encoding, merkle
from coopchain.chain.block import ZERO_HASH, ChainConfig, Header, OldFormat, block_hash, decode_header, encode_header, sign_header
from coopchain.chain.contract import BlockContext, ContractFault, ContractSet, ContractSpec, Runtime
from coopchain.chain.errors import ChainError, InvalidSignature, InvalidTransaction, SealNotReady, StorageError, ensure
from coopchain.chain.execution import State, apply_block, check_size, genesis_entries, refused, runtime_for
from coopchain.chain.keys import PrivateKey, PublicKey
from coopchain.chain.signature_checker import SignatureChecker
from coopchain.chain.receipt import Receipt, decode_receipt, encode_receipt, receipts_root
from coopchain.chain.record import RECORD, builtin_contracts
from coopchain.chain.seals import SealContext, Signers, genesis_seal, seal_for
from coopchain.chain.state import StateCache, StateView, next_nonce, record_key, trie_key
from coopchain.chain.store import BlockRows, SqlStore, open_store
from coopchain.chain.transaction import Transaction, decode_transaction, encode_signed, signing_bytes
from coopchain.chain.trie import EMPTY_ROOT, prove, trie_update
from coopchain.chain.types import Hash32, Root

DEFAULT_CONTRACTS = (ContractSpec(RECORD.name, RECORD.version),)


@dataclass(frozen=True)
class Refusal:
    """A transaction `Ledger.commit` left out of its block: its position among those handed in, and why."""

    index: int
    reason: str


@dataclass(frozen=True)
class Block:
    """A committed block: its transactions and their receipts, in order (`refused`: those `commit` left out)."""

    header: Header
    hash: Hash32
    transactions: tuple[Transaction, ...]
    receipts: tuple[Receipt, ...] = ()
    refused: tuple[Refusal, ...] = ()


class StoredHistory(merkle.NodeSource):
    """The history tree over block hashes, read from the store's history_nodes rows."""

    def __init__(self, store: SqlStore, size: int) -> None:
        self.store, self._size = store, size

    @property
    def size(self) -> int:
        return self._size

    def nodes(self, keys):
        return [self.store.history_node(level, index) for level, index in keys]


def transactions_root(bodies: Sequence[bytes]) -> Root:
    """The RFC 6962 root over a block's canonical transactions."""
    return merkle.root([merkle.leaf_hash(body) for body in bodies])


def now_micros() -> int:
    return time.time_ns() // 1000


def genesis_state_root(config: ChainConfig, runtime: Runtime) -> tuple[Root, dict]:
    """The genesis state (what the seal's and the contracts' parameters put there) and its trie nodes."""
    entries = genesis_entries(config, runtime)
    return trie_update({}, EMPTY_ROOT, {trie_key(k): v for k, v in entries.items()})


def available(contracts: ContractSet | None) -> ContractSet:
    """The contracts a program provides: chain/'s own and those it was handed."""
    return builtin_contracts() | (contracts or ContractSet())


def open_genesis(store: SqlStore) -> Header:
    """Block 0, refusing a ledger of an earlier format with a sentence saying how to start a new one."""
    data = store.header_bytes(0)
    ensure(data is not None, StorageError, "the ledger is empty")
    try:
        return decode_header(data)
    except OldFormat as e:
        raise StorageError(str(e)) from e


def seal_context(store: SqlStore, nodes, config: ChainConfig, parent: Header, recent: dict | None = None) -> SealContext:
    """What a seal may read when sealing or checking the block after `parent`.

    `recent`: headers by height already decoded (chain verify streams them), read first."""
    parent_state = StateView(nodes, parent.state_root, {})

    def header_at(height: int) -> Header:
        if recent is not None and height in recent:
            return recent[height]
        return decode_header(store.header_bytes(height))

    return SealContext(config, parent, header_at, parent_state.get)


class Ledger:
    """One chain in one store.  Reading needs no key; committing needs the node key."""

    def __init__(self, store: SqlStore, node_key: PrivateKey | None = None, other_keys: Sequence[PrivateKey] = (), contracts: ContractSet | None = None) -> None:
        """`other_keys`: staker or member keys this node may seal with (proof of stake, endorsement);
        `contracts`: implementations of the contracts the genesis names (chain/'s own are always there)."""
        self.store = store
        encoding.accelerate()  # a node encodes every transaction and state entry it writes
        genesis = open_genesis(store)
        ensure(genesis.config is not None, StorageError, "block 0 carries no chain config")
        self.config: ChainConfig = genesis.config
        self.genesis = genesis
        self.runtime = runtime_for(self.config, available(contracts))
        if node_key is not None and node_key.public_key.to_text() != self.config.node:
            raise InvalidSignature(f"this key ({node_key.public_key}) is not the chain's node key ({self.config.node})")
        self.node_key = node_key
        self.signers = Signers(node_key, {k.public_key.to_text(): k for k in other_keys}) if node_key is not None else None
        self._checker = SignatureChecker()
        self._head_state = StateCache()  # the head's values this node has read, for the next block (chain.state)

    # -- opening -----------------------------------------------------------------
    @classmethod
    def create(cls, url: str | None, node_key: PrivateKey, chain_id: str, seal: str = "signed", seal_params: dict | None = None,
               other_keys: Sequence[PrivateKey] = (), contracts: ContractSet | None = None, specs: Sequence[ContractSpec] = DEFAULT_CONTRACTS) -> Ledger:
        """A new chain: its genesis block records the chain id, the seal kind and its parameters, the node key,
        and the contracts it runs (`specs`, by name and version, with their parameters)."""
        config = ChainConfig(chain_id, node_key.public_key.to_text(), seal, seal_params or {}, tuple(sorted(specs, key=lambda s: s.name)))
        try:
            # Bad seal or contract parameters are refused before the database is touched.
            state_root, nodes = genesis_state_root(config, runtime_for(config, available(contracts)))
        except InvalidTransaction as e:
            raise ChainError(str(e)) from e
        store = open_store(url, create=True)
        if store.height() is not None:
            raise StorageError("this database already holds a chain")
        header = Header(chain_id, 0, ZERO_HASH, now_micros(), merkle.empty_root(), 0, state_root, merkle.empty_root(), genesis_seal(config), config=config)
        header = sign_header(header, node_key)
        digest = block_hash(header)
        history = merkle.Frontier().append(merkle.leaf_hash(digest))
        with store.writer() as w:
            if w.height() is not None:
                raise StorageError("this database already holds a chain")
            w.append(BlockRows(0, digest, encode_header(header), [], nodes, [tuple(n) for n in history]))
        return cls(store, node_key, other_keys, contracts)

    @classmethod
    def open(cls, url: str | None, node_key: PrivateKey | None = None, other_keys: Sequence[PrivateKey] = (), contracts: ContractSet | None = None) -> Ledger:
        store = open_store(url)
        try:
            return cls(store, node_key, other_keys, contracts)
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        self._checker.shutdown()
        self.store.close()

    # -- reading -----------------------------------------------------------------
    def height(self) -> int:
        height = self.store.height()
        ensure(height is not None, StorageError, "the ledger is empty")
        return height

    def header(self, height: int) -> Header:
        data = self.store.header_bytes(height)
        ensure(data is not None, ChainError, f"no block at height {height}")
        return decode_header(data)

    def head(self) -> Header:
        return self.header(self.height())

    def next_nonce(self, sender: str) -> int:
        return next_nonce(StateView(self.store, self.head().state_root, {}), sender)

    def transactions(self, height: int) -> list[bytes]:
        return [row[2] for row in self.store.transaction_rows(height)]

    def receipts(self, height: int) -> list[bytes]:
        """The canonical receipts of block `height`, in transaction order."""
        return [row[3] for row in self.store.transaction_rows(height)]

    def receipt(self, tx_hash: bytes) -> tuple[int, int, Receipt]:
        """(height, position, receipt) of an included transaction."""
        where = self.store.transaction_location(tx_hash)
        ensure(where is not None, ChainError, f"no transaction {tx_hash.hex()} on this ledger")
        height, position = where
        return height, position, decode_receipt(self.receipts(height)[position])

    def state(self, key: bytes, height: int | None = None) -> bytes | None:
        """The value of a state key at `height` (default: the head)."""
        root = self.header(self.height() if height is None else height).state_root
        return StateView(self.store, root, {}).get(key)

    # -- committing --------------------------------------------------------------
    def commit(self, txs: Sequence[Transaction], timestamp: int | None = None, *, signatures_checked: Collection[int] = ()) -> Block:
        """Append one block holding `txs`, in order, each with its receipt.

        A transaction that fails admission (signature, size, chain id, kind, arguments'
        shape, nonce) refuses the whole block: InvalidTransaction names it (`.index`),
        and nothing is written.  A transaction whose contract rejects it is included,
        with a `rejected` receipt.  A transaction whose contract faults (raises anything
        but a Rejection: a bug, chain.execution) is refused alone, as the API's queue
        refuses it: it is left out, with its sender's later transactions in `txs` (their
        nonces follow it), each named in `Block.refused` with the reason, and the others
        are committed as if it had never been sent.  When none is left, the ContractFault
        of the first is raised and nothing is written.

        `signatures_checked`: positions of transactions whose signature the caller has
        already checked with verify_many's rule and the node key vouches for (the API's
        admission, service.submission): they are not checked a second time here.  Every
        other check still runs, and `chain verify` and `replay` check every signature."""
        ensure(self.node_key is not None, ChainError, "committing needs the node key")
        ensure(len(txs) > 0, InvalidTransaction, "a block holds at least one transaction")
        items, checked_at, bodies = [], [], []
        for i, tx in enumerate(txs):
            try:
                ensure(type(tx.signature) is bytes, InvalidTransaction, "the signature must be bytes")
                signing = signing_bytes(tx)
                if i not in signatures_checked:
                    items.append((PublicKey.from_text(tx.sender), tx.signature, signing))
                    checked_at.append(i)
                bodies.append(encode_signed(signing, tx.signature))  # = encode_transaction(tx), the payload encoded once
            except ChainError as e:
                raise refused(i, InvalidTransaction(str(e))) from e
            check_size(i, bodies[-1])
        hashes = [Hash32(hashlib.sha256(body).digest()) for body in bodies]  # = transaction_hash, without encoding twice
        # The signatures are checked (by libsodium, which releases the GIL) while this thread
        # applies the state transitions; nothing is written until both are done.
        signatures = self._checker.submit(items)
        keep, refusals = list(range(len(txs))), []
        try:
            while True:
                try:
                    block = self._append([txs[i] for i in keep], [bodies[i] for i in keep], [hashes[i] for i in keep], signatures, timestamp)
                    return replace(block, refused=tuple(sorted(refusals, key=lambda r: r.index)))
                except SealNotReady as e:
                    # Proof of stake with no second this node may seal in yet: wait for the first that will.
                    if timestamp is not None or e.ready_at is None:
                        raise
                    time.sleep((max(0, e.ready_at - now_micros()) + 1_000) / 1e6)
                except InvalidTransaction as e:
                    index = getattr(e, "index", None)
                    if index is None or len(keep) == len(txs) and not isinstance(e, ContractFault):
                        raise
                    if not isinstance(e, ContractFault):  # named by its position among those handed in
                        raise refused(keep[index], type(e)(e.reason)) from e
                    first = keep[index]
                    later = [i for i in keep if i > first and txs[i].sender == txs[first].sender]
                    refusals.append(Refusal(first, e.reason))
                    refusals += [Refusal(i, f"its nonce follows transaction {first} of the same sender, which was refused") for i in later]
                    keep = [i for i in keep if i != first and i not in later]
                    if not keep:
                        earliest = min(refusals, key=lambda r: r.index)
                        raise refused(earliest.index, ContractFault(earliest.reason)) from e
        except InvalidSignature as e:
            raise refused(checked_at[e.index], InvalidTransaction(e.reason)) from e
        finally:
            wait([signatures])  # a refused block leaves no check running

    def _append(self, txs: Sequence[Transaction], bodies: Sequence[bytes], hashes: Sequence[Hash32], signatures: Future, timestamp: int | None) -> Block:
        with self.store.writer() as w:
            height = w.height()
            parent = self.header(height)
            seal = seal_for(self.config.seal)
            ctx = seal_context(self.store, self.store, self.config, parent)
            # The seal sees the wall clock (proof of stake bounds its search by it); the header's
            # time is then at least the parent's + 1 µs, as verification demands.
            clock, first = seal.begin(ctx, self.signers, timestamp if timestamp is not None else now_micros())
            clock = max(clock, parent.timestamp + 1)
            view = StateView(self.store, parent.state_root, {})
            output = apply_block(State(self._head_state.reader(self.store, parent.state_root), self.runtime), BlockContext(self.config.chain_id, height + 1, clock), list(zip(txs, hashes)))
            view.pending.update(output.changes)
            view.pending.update(seal.state_changes(first, height + 1, ctx))
            receipts = [encode_receipt(r) for r in output.receipts]
            state_root, nodes = trie_update(self.store, parent.state_root, view.trie_changes())
            history = merkle.Frontier.from_source(StoredHistory(self.store, height + 1))
            header = Header(
                chain_id=self.config.chain_id,
                height=height + 1,
                previous=block_hash(parent),
                timestamp=clock,
                transactions_root=transactions_root(bodies),
                transaction_count=len(txs),
                receipts_root=receipts_root(receipts),
                state_root=state_root,
                history_root=history.root(),
                seal=first,
            )
            header = sign_header(replace(header, seal=seal.finish(header, ctx, self.signers)), self.node_key)
            digest = block_hash(header)
            completed = history.append(merkle.leaf_hash(digest))
            signatures.result()  # raises InvalidSignature: the block is not written
            w.append(BlockRows(header.height, digest, encode_header(header), list(zip(hashes, bodies, receipts)), nodes, [tuple(n) for n in completed]))
        self._head_state.advance(parent.state_root, state_root, view.pending)  # written: the next block reads the new head
        return Block(header, digest, tuple(txs), output.receipts)

    # -- proofs ------------------------------------------------------------------
    def transaction_proof(self, tx_hash: bytes) -> tuple[int, dict]:
        """(height, RFC 9162 inclusion proof of the transaction in its block's transaction tree)."""
        where = self.store.transaction_location(tx_hash)
        ensure(where is not None, ChainError, f"no transaction {tx_hash.hex()}")
        height, position = where
        tree = merkle.MemoryTree(merkle.leaf_hash(body) for body in self.transactions(height))
        return height, merkle.inclusion_proof_json(position, tree.size, tree.inclusion_proof(position, tree.size))

    def history(self) -> StoredHistory:
        return StoredHistory(self.store, self.height() + 1)

    def block_proof(self, height: int, size: int) -> dict:
        """Inclusion of block `height`'s hash in the history tree of the first `size` blocks."""
        return merkle.inclusion_proof_json(height, size, self.history().inclusion_proof(height, size))

    def consistency_proof(self, first: int, second: int) -> dict:
        """The history tree of `second` blocks extends that of `first` (RFC 9162 §2.1.4)."""
        return merkle.consistency_proof_json(first, second, self.history().consistency_proof(first, second))

    def bundle(self, tx_hash: bytes, since: int | None = None, state_key: bytes | None = None, extra: dict | None = None,
               head_height: int | None = None) -> dict:
        """The audit bundle of a transaction against the current head, or the head at `head_height` (chain.bundle).

        `since`: the height of an earlier head the auditor holds, for a consistency proof;
        `state_key`: the state entry to prove at the head (a record's own key by default);
        `extra`: documents the contract's offline check needs."""
        from coopchain.chain.bundle import make_bundle

        height, tx_proof = self.transaction_proof(tx_hash)
        if head_height is not None:  # a head a cosigned checkpoint ends at (service.checkpoints)
            ensure(height <= head_height <= self.height(), ChainError, f"a bundle's head lies in {height}..{self.height()}, not {head_height}")
        head = self.head() if head_height is None else self.header(head_height)
        position = tx_proof["leaf_index"]
        tx = decode_transaction(self.transactions(height)[position])
        receipts = self.receipts(height)
        receipt_tree = merkle.MemoryTree(merkle.leaf_hash(body) for body in receipts)
        receipt_proof = merkle.inclusion_proof_json(position, receipt_tree.size, receipt_tree.inclusion_proof(position, receipt_tree.size))
        if state_key is None:
            ensure(tx.kind == "record.put", ChainError, f"transaction {tx_hash.hex()} is a {tx.kind!r}: say which state entry the bundle proves")
            state_key = record_key(tx.payload["key"])
        # The head's history tree holds blocks 0 .. head − 1; the head itself needs no proof.
        proof = lambda index: None if index == head.height else self.block_proof(index, head.height)  # noqa: E731
        consistency = earlier = None
        if since is not None:
            ensure(0 < since <= head.height, ChainError, f"--since {since}: an earlier head lies in 1..{head.height}")
            consistency, earlier = self.consistency_proof(since, head.height), proof(since)
        state = self.state_proof(state_key, head.height)
        doc = make_bundle(self.genesis, self.header(height), head, tx, tx_proof, proof(height), proof(0), state_key, state, consistency, earlier,
                          decode_receipt(receipts[position]), receipt_proof, extra)
        if self.config.seal != "signed":  # what the seals of the block and the head read, proven (chain.seal_evidence)
            from coopchain.chain.seal_evidence import seal_evidence

            doc["seals"] = [seal_evidence(self.header(h), self.config, self.header, self.state, self.state_proof) for h in sorted({height, head.height})]
        return doc

    def state_proof(self, state_key: bytes, height: int | None = None) -> list[bytes]:
        """The trie nodes, root to leaf, that prove `state_key`'s value (or absence) at `height`."""
        root = self.header(self.height() if height is None else height).state_root
        return prove(self.store, root, trie_key(state_key))
