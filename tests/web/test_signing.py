"""Transactions signed in the browser (app/web/static/canonical.js, signing.js) against the
Python side the server verifies with (chain/encoding.py, chain/transaction.py, chain/keys.py).

Independent references: the Python encoder's bytes for the same values; the hash the server
stored for a real ledger transaction; Ed25519 is deterministic (RFC 8032), so the browser's
signature with a key Python generated must equal Python's own, byte for byte; and Python's
verifier accepts a browser-made key's signature and refuses it once the payload changes."""

from __future__ import annotations

import json
import os

import httpx
import pytest

from coopchain.chain.encoding import canonical
from coopchain.chain.errors import EncodingError, InvalidSignature
from coopchain.chain.keys import PrivateKey, PublicKey
from coopchain.chain.transaction import sign_transaction, signing_bytes, transaction_from_json, transaction_hash
from tests.web.test_page import SAMPLES, console_errors, wait

# Strings where JSON texts differ between careless encoders: every control character, DEL,
# the line and paragraph separators, quotes and backslashes, non-BMP characters (surrogate pairs in JS).
TRICKY = "".join(chr(c) for c in range(0x20)) + '\x7f"\\/ é € \u2028\u2029 \U0001F33E 農 \ufeff end'
VALUES = [
    None, True, False, 0, -1, 2**53 - 1, -(2**53 - 1), "", TRICKY,
    [], {}, [[[]]], {"b": 1, "a": 2, "B": 3, "_": 4, "aa": 5, "a0": 6, "": 7, "~": 8, "A": [1, {"z": None, "y": "x"}]},
    {"nested": {"deep": [{"k": i, "v": str(i)} for i in range(5)]}, "text": TRICKY},
]


def load_modules(driver, served):
    """The page's own modules, imported into a page of the same origin (no login needed)."""
    driver.get(served.url + "/")
    wait(driver, lambda d: d.execute_script("return document.readyState") == "complete", what="the page")
    driver.set_script_timeout(60)


def run(driver, body, *args):
    """Run `body` (an async function's body seeing `canonical`, `signing` and `args`) in the page."""
    script = """
      const done = arguments[arguments.length - 1];
      const args = Array.from(arguments).slice(0, -1);
      Promise.all([import('/web/canonical.js'), import('/web/signing.js')])
        .then(([canonical, signing]) => (async () => { %s })())
        .then((value) => done({ value }), (error) => done({ error: `${error.name}: ${error.message}` }));
    """ % body
    out = driver.execute_async_script(script, *args)
    return out


def js_bytes(driver, value) -> dict:
    # As JSON text parsed in the page: chromedriver hands script arguments over with their keys
    # already sorted, which would leave the encoder's own sorting untested.
    out = run(driver, "return Array.from(canonical.canonical(JSON.parse(args[0])));", json.dumps(value))
    return bytes(out["value"]) if "value" in out else out


def commit_payload() -> dict:
    text = (SAMPLES / "green-valley.json").read_text()
    problem = json.loads(text)
    certificate = {"allocation": {"e01": 105.26315789468975, "e02": 1e-300}, "problem": text, "gap": 2.5e-13}
    return {
        "cooperative": problem["cooperative"], "round": problem["round"], "problem": "ab" * 32,
        "allocation": {"e02": "1e-300", "e01": "105.26315789468975"},
        "certificate": json.dumps(certificate, separators=(",", ":")),
        "chosen_by": {"objective": "scalarised", "method": "epsilon", "pick": "knee"},
        "supersedes": None, "reason": "Kühe \"zuerst\"\n", "endorsements": [],
    }


def test_the_js_encoder_gives_the_python_encoders_bytes(served, browser):
    load_modules(browser, served)
    for value in VALUES + [commit_payload()]:
        assert js_bytes(browser, value) == canonical(value), value
    assert console_errors(browser) == []


def test_the_js_encoder_refuses_what_the_python_encoder_refuses(served, browser):
    load_modules(browser, served)
    # Each value lies outside the ledger's value set; the path names where.  A lone surrogate
    # cannot travel through the driver's JSON, so the page builds that one itself.
    cases = ((1.5, "$", "args[0]"), (2**53, "$", "args[0]"), ({"a": [0, 1e300]}, "$.a[1]", "args[0]"), ({"é": 1}, "$", "args[0]"),
             (json.loads("[" * 65 + "]" * 65), "$" + "[0]" * 64, "args[0]"), ({"x": "\ud800"}, "$.x", "{ x: String.fromCharCode(0xd800) }"))
    for value, path, expression in cases:
        with pytest.raises(EncodingError):
            canonical(value)
        out = run(browser, f"return canonical.canonicalText({expression});", None if expression != "args[0]" else value)
        assert out.get("error", "").startswith(f"EncodingError: {path}:"), (value, out)


def test_a_ledger_transaction_re_encoded_in_the_browser_has_the_servers_hash(served, browser):
    load_modules(browser, served)
    for tx_hash in served.records.values():
        doc = httpx.get(f"{served.url}/transactions/{tx_hash}", headers={"X-API-Key": served.tokens["auditor"]}).json()["transaction"]
        out = run(browser, "return signing.transactionHash(args[0]);", doc)
        assert out == {"value": tx_hash}


def test_a_python_key_signs_the_same_bytes_in_the_browser(served, browser, tmp_path):
    load_modules(browser, served)
    key = PrivateKey.generate("ed25519")
    key.save(tmp_path / "manager.pem")
    payload = commit_payload()
    expected = sign_transaction(key, "coopchain-web-test", 7, "allocation.commit_allocation", payload)
    out = run(browser, """
        const signer = await signing.signerFromPem(args[0]);
        return signing.signTransaction(signer, "coopchain-web-test", 7, "allocation.commit_allocation", args[1]);
    """, (tmp_path / "manager.pem").read_text(), payload)
    assert "value" in out, out
    doc = out["value"]
    assert doc["sender"] == key.public_key.to_text()
    assert doc["signature"] == expected.signature.hex()  # RFC 8032 signatures are deterministic
    assert transaction_hash(transaction_from_json(doc)) == transaction_hash(expected)
    assert console_errors(browser) == []


def test_a_key_made_in_the_browser_signs_what_python_verifies(served, browser, tmp_path):
    load_modules(browser, served)
    out = run(browser, """
        const signer = await signing.generateSigner();
        const doc = await signing.signTransaction(signer, "coopchain-web-test", 0, "allocation.commit_allocation", args[0]);
        // Non-extractable: the page itself cannot read the private key back out of WebCrypto.
        let exported = "refused";
        try { await crypto.subtle.exportKey("pkcs8", signer.privateKey); exported = "exported"; } catch { /* as intended */ }
        return { doc, pem: signer.pem, exported };
    """, commit_payload())
    assert "value" in out, out
    doc, pem = out["value"]["doc"], out["value"]["pem"]
    assert out["value"]["exported"] == "refused"
    tx = transaction_from_json(doc)
    PublicKey.from_text(tx.sender).verify(tx.signature, signing_bytes(tx))
    # The PEM the page offers for saving is the key the command line reads.
    path = tmp_path / "browser.pem"
    path.write_text(pem)
    os.chmod(path, 0o600)
    assert PrivateKey.load(path).public_key.to_text() == tx.sender
    tampered = transaction_from_json({**doc, "payload": {**doc["payload"], "round": "2027-Q1"}})
    with pytest.raises(InvalidSignature):
        PublicKey.from_text(tampered.sender).verify(tampered.signature, signing_bytes(tampered))
    assert console_errors(browser) == []


def test_volumes_are_written_as_pythons_repr(served, browser):
    import random
    import struct

    load_modules(browser, served)
    rng = random.Random(15)
    doubles = [0.0, 1.0, 100.0, 1e16, 1.5e16, 9999999999999998.0, 1e-4, 1e-5, 0.1, 123456.789, 5e-324, 1.7976931348623157e308, 2.5e-13, 105.26315789468975]
    doubles += [struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0] for _ in range(300)]
    doubles += [rng.uniform(0, 1000) for _ in range(300)] + [float(rng.randint(0, 10**17)) for _ in range(50)]
    doubles = [d for d in doubles if d == d and abs(d) != float("inf")]
    doubles += [-d for d in doubles[:50]]
    out = run(browser, "const { pyFloat } = await import('/web/commit.js'); return JSON.parse(args[0]).map(pyFloat);", json.dumps(doubles))
    assert out.get("value") == [repr(d) for d in doubles], out


def test_commit_arguments_built_in_the_browser_are_the_services(served, browser):
    from coopchain.service.commit import commit_arguments, from_solution

    load_modules(browser, served)
    headers = {"X-API-Key": served.tokens["manager"]}
    stored = httpx.post(f"{served.url}/problems", content=(SAMPLES / "green-valley.json").read_bytes(), headers=headers, timeout=60).json()
    optimum = httpx.post(f"{served.url}/problems/{stored['hash']}/solutions", json={"objective": "F1"}, headers=headers, timeout=120).json()
    # The request the page sends for a front's point, then the service's arguments for its answer.
    request = run(browser, "const c = await import('/web/commit.js'); return c.certifyRequest(args[0]);", optimum["values"])["value"]
    solution = httpx.post(f"{served.url}/problems/{stored['hash']}/solutions", json=request, headers=headers, timeout=120).json()
    assert solution["status"] == "optimal", solution
    chosen = from_solution(solution)
    expected = commit_arguments(chosen)
    out = run(browser, "const c = await import('/web/commit.js'); return c.commitArguments(JSON.parse(args[0]), JSON.parse(args[1]));",
              json.dumps(solution), json.dumps(chosen.chosen_by))
    got = out["value"]
    assert json.loads(got.pop("certificate")) == json.loads(expected.pop("certificate")) == solution["certificate"]
    assert canonical(got) == canonical(expected)
    assert console_errors(browser) == []
