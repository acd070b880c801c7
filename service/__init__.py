"""coopchain's use cases: one service layer, with typed inputs and results and no printing,
that the command line, the HTTP API and the notebooks all call (SPEC §6)."""
