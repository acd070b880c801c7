"""coopchain's application layer: the command line and (later) the HTTP API, wiring models/ and chain/."""
