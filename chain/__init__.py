"""coopchain's ledger (SPEC §2-§4): blocks, Merkle proofs, state trie, seals and contracts.

Knows nothing of optimisation: the concrete contracts (coopchain.contracts) are handed to the
ledger by the program that opens it, for the contracts its genesis names (chain.contract).
"""
