"""The served OpenAPI: every operation has a success example, documents its problem+json errors,
and declares the API key; every schema a route answers with is a named model (no bare object)."""

from __future__ import annotations

import pytest

from coopchain.app.api.config import Settings
from coopchain.app.api.main import create_app

SCHEMA = create_app(Settings(db="sqlite:///unused.db")).openapi()
OPERATIONS = [(path, method, op) for path, item in SCHEMA["paths"].items() for method, op in item.items()]


@pytest.mark.parametrize("path,method,op", OPERATIONS, ids=[f"{m.upper()} {p}" for p, m, _ in OPERATIONS])
def test_operation_is_documented(path, method, op):
    success = [code for code in op["responses"] if code.startswith("2")]
    assert len(success) == 1
    content = op["responses"][success[0]]["content"]
    media, body = next(iter(content.items()))
    assert "example" in body or "examples" in body, f"{method} {path}: no example"
    if media == "application/json":
        assert "$ref" in body["schema"], f"{method} {path}: the answer is not a named model"
    if path in ("/health", "/checkpoint"):  # public: no key, so no 401 or 403
        assert "401" not in op["responses"] and not op.get("security")
        return
    for code in ("401", "403", "422"):
        assert "application/problem+json" in op["responses"][code]["content"]
    assert op.get("security"), f"{method} {path}: the API key is not declared"
