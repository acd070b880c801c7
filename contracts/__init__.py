"""coopchain's contracts (SPEC §4): the allocation contract and the village energy market.

They run on chain/'s contract interface and check certificates with the numpy-only
certificate leaf; they never call a solver.
"""
