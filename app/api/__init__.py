"""The HTTP API (SPEC §6): FastAPI in the "bigger applications" layout, wiring and presentation only.

`main.create_app` builds the application; `routes/<resource>.py` each hold one
router; `deps.py` the typed dependencies (settings, ledger, side tables, caller);
`errors.py` turns every refusal into `application/problem+json` (RFC 9457).
The use cases are in coopchain.service.
"""
