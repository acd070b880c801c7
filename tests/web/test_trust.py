"""The checkpoint and its witnesses in the auditor's view (app/web/static/trust.js), in headless
Chromium against `coopchain serve`: nothing published yet, then a checkpoint cosigned by two
witnesses.  References: the origin and the RFC 6962 root recomputed here from the blocks' hashes,
the cosignature times read from the note's bytes, and GET /checkpoint's body for the download."""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from types import SimpleNamespace

import httpx
import pytest

from coopchain.chain.block import block_hash
from coopchain.chain.checkpoint import ledger_origin, node_note_key
from coopchain.chain.keys import PrivateKey
from coopchain.chain.witness import Witness, WitnessStore
from coopchain.service.api_store import ApiStore
from coopchain.service.checkpoints import CheckpointStore, publish
from coopchain.service.wiring import open_ledger
from tests.api.conftest import CHAIN_ID, make_ledger
from tests.api.test_checkpoint import rfc6962_root
from tests.web.conftest import serve, stop
from tests.web.test_page import by, console_errors, login, wait


@pytest.fixture
def node(tmp_path):
    db, records = make_ledger(tmp_path)
    store = ApiStore(db)
    tokens = {"auditor": store.create_key("auditor", (), "web trust").token}
    store.close()
    server = serve(db, tmp_path)
    yield SimpleNamespace(url=server.url, db=db, tokens=tokens, folder=tmp_path)
    stop(server.process)


def publish_two(node) -> None:
    ledger = open_ledger(node.db, PrivateKey.load(node.folder / "node.key"))
    witnesses = []
    for name in ("a", "b"):
        key = PrivateKey.generate("ed25519")
        store = WitnessStore.create(node.folder / f"{name}.db", f"w.example/{name}", key.public_key)
        store.follow(ledger_origin(ledger), node_note_key(ledger))
        witnesses.append((name, (lambda w: lambda body: (200, w.add_checkpoint(body)))(Witness(store, key))))
    published = CheckpointStore(node.db)
    try:
        assert publish(ledger, witnesses, published).stored
    finally:
        published.close()
        ledger.close()


def test_the_auditor_sees_the_checkpoint_and_who_cosigned_it(node, browser):
    driver = browser
    login(driver, node, "auditor")
    driver.find_element(by("css"), ".tab[data-view='auditor']").click()
    none = wait(driver, lambda d: d.find_elements(by("id"), "checkpoint-none"), what="the no-checkpoint note")[0]
    assert "No checkpoint has been published yet" in none.text

    publish_two(node)
    driver.refresh()
    wait(driver, lambda d: d.find_elements(by("id"), "checkpoint-origin"), what="the checkpoint")
    ledger = open_ledger(node.db)
    hashes = [block_hash(ledger.header(h)) for h in range(3)]
    ledger.close()
    assert driver.find_element(by("id"), "checkpoint-origin").text == f"coopchain/{CHAIN_ID}/{hashes[0].hex()}"
    assert driver.find_element(by("id"), "checkpoint-size").text == "3 blocks (0 .. 2)"
    assert driver.find_element(by("id"), "checkpoint-root").text == rfc6962_root(hashes).hex()
    assert driver.find_element(by("id"), "checkpoint-node").text.startswith("yes: the genesis node key ed25519:")

    note = httpx.get(node.url + "/checkpoint").text
    times = {}
    for line in note.split("\n\n", 1)[1].splitlines()[1:]:  # the witnesses' lines, after the node's
        name, b64 = line[2:].split(" ")
        raw = base64.b64decode(b64)
        times[name] = (raw[:4].hex(), datetime.fromtimestamp(int.from_bytes(raw[4:12], "big"), timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"))
    rows = driver.find_elements(by("css"), "#checkpoint tr.witness")
    assert {r.get_attribute("data-name"): tuple(td.text for td in r.find_elements(by("css"), "td")[1:]) for r in rows} == times
    assert sorted(times) == ["w.example/a", "w.example/b"]

    driver.find_element(by("id"), "checkpoint-link").click()
    saved = wait(driver, lambda d: (driver.downloads / "checkpoint-3.note").is_file() and driver.downloads / "checkpoint-3.note", what="the download")
    assert wait(driver, lambda d: saved.read_text() == note and saved, what="the whole file")
    assert "--checkpoint checkpoint-3.note --policy" in driver.find_element(by("id"), "checkpoint-command").text
    assert console_errors(driver) == []


def test_a_checkpoint_the_node_did_not_sign_is_shown_as_such(node, browser):
    """A row slipped into the table by hand is refused by the API (409): the page shows the refusal."""
    from coopchain.chain.checkpoint import Checkpoint, sign_checkpoint

    ledger = open_ledger(node.db)
    forged = sign_checkpoint(Checkpoint(ledger_origin(ledger), 3, bytes(32)), PrivateKey.generate("ed25519"))
    ledger.close()
    store = CheckpointStore(node.db)
    store.add(3, forged, 0)
    store.close()
    driver = browser
    login(driver, node, "auditor")
    driver.find_element(by("css"), ".tab[data-view='auditor']").click()
    shown = wait(driver, lambda d: [p for p in d.find_elements(by("css"), "#checkpoint p.error") if p.text], what="the refusal")[0]
    assert "HTTP 409: no signature by a trusted key" in shown.text
    assert console_errors(driver, allowed_network=[("/checkpoint", 409)]) == []
