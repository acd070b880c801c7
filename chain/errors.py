"""The ledger's errors: one flat hierarchy, each class a kind of fault (SPEC §2).

Verifiers raise one of these with a sentence that says why; they never return a
bare False.  HTTP and exit codes are chosen in `app/`, never here.
"""


class ChainError(Exception):
    """Anything the ledger refuses."""


class EncodingError(ChainError):
    """A value that has no canonical encoding, or bytes that do not decode."""


class InvalidProof(ChainError):
    """A Merkle inclusion, consistency or state proof that does not check."""


class InvalidSignature(ChainError):
    """A signature that does not verify, or a key that cannot be read."""


class InvalidTransaction(ChainError):
    """A transaction refused before it reaches a block (signature, nonce, chain id, shape)."""


class InvalidBlock(ChainError):
    """A block whose header, roots, timestamp, signature or seal does not check."""


class StorageError(ChainError):
    """The database cannot be opened or is not a coopchain ledger."""


class SealNotReady(ChainError):
    """This node cannot seal a block now; with `ready_at` (µs, by its clock) set, it can from then on."""

    def __init__(self, message: str, ready_at: int | None = None) -> None:
        super().__init__(message)
        self.ready_at = ready_at


def ensure(condition: object, error: type[ChainError], message: str) -> None:
    """Raise `error(message)` unless `condition` holds: protocol rules read as one line."""
    if not condition:
        raise error(message)
