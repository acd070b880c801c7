"""coopchain models: the problem document, solvers and results (SPEC §1, §6)."""
