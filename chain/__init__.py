"""coopchain's ledger (SPEC §2-§4): blocks, Merkle proofs, state trie, seals and contracts.

Knows nothing of optimisation; contracts check allocations with models.certificate.
"""
