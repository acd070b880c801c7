"""The page in headless Chromium against `coopchain serve`: the manager's flow from upload to the
allocation table, the auditor's from the blocks to an offline-verified bundle, no console errors,
and the front plot drawn (checked in a screenshot's pixels).

References are independent of the page: the sample's own numbers and arithmetic written here
(U = u0 + g·W, Σ_k a_k·e_jk·W, the demand bounds), the API's JSON read over httpx, RFC 9162's
one-leaf proof, and `coopchain verify` run on the file the browser downloaded."""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "models" / "samples"
POINT = (0x2F, 0x7D, 0x4F)  # .plot .pt fill (style.css)
PICK = (0xC0, 0x60, 0x00)  # .plot .pt.pick fill


def by(kind):
    from selenium.webdriver.common.by import By

    return {"id": By.ID, "css": By.CSS_SELECTOR}[kind]


def wait(driver, condition, seconds=90, what="the page"):
    """Poll `condition(driver)` until it is truthy (a browser is asynchronous; this is not a timing assertion)."""
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + seconds
    while True:
        try:
            got = condition(driver)
        except StaleElementReferenceException:  # the page redrew what the condition was reading
            got = None
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds} s for {what}; console: {driver.get_log('browser')}")
        time.sleep(0.2)


def number(text: str) -> float:
    return float(text.replace(",", "").strip())


def login(driver, served, role):
    driver.get(served.url + "/")
    wait(driver, lambda d: d.find_element(by("id"), "login").is_displayed(), what="the login form")
    driver.find_element(by("id"), "key").send_keys(served.tokens[role])
    driver.find_element(by("css"), "#login-form button").click()
    wait(driver, lambda d: d.find_element(by("id"), "tabs").is_displayed(), what="the views after logging in")


def console_errors(driver, allowed_network=()):
    """SEVERE console entries, but for the failed requests the test provoked on purpose
    (Chromium logs every 4xx answer to fetch as a network error).  GET /checkpoint's 404 is always
    allowed: before the operator publishes one, the auditor's view says so (app/web/static/trust.js)."""
    allowed_network = (*allowed_network, ("/checkpoint", 404))
    bad = []
    for entry in driver.get_log("browser"):
        if entry["level"] != "SEVERE":
            continue
        if entry["source"] == "network" and any(f"{path} - Failed to load resource: the server responded with a status of {status}" in entry["message"]
                                                for path, status in allowed_network):
            continue
        bad.append(entry)
    return bad


def upload(driver, path: Path, header: str | Path | None = None):
    driver.find_element(by("id"), "upload-file").send_keys(str(path))
    if header is not None:
        box = driver.find_element(by("id"), "upload-header")
        wait(driver, lambda d: box.is_displayed(), what="the CSV header box")
        box.clear()
        if isinstance(header, Path):  # chosen as a file: the page fills the box from it
            driver.find_element(by("id"), "upload-header-file").send_keys(str(header))
            wait(driver, lambda d: box.get_attribute("value") == header.read_text(), what="the header read from its file")
        else:
            box.send_keys(header)
    driver.find_element(by("id"), "upload-button").click()


def colour_pixels(png: bytes, rgb, tolerance=24) -> int:
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    return int((np.abs(pixels - np.array(rgb, dtype=np.int16)) <= tolerance).all(axis=2).sum())


def test_manager_flow_from_upload_to_the_allocation_table(served, browser, tmp_path):
    driver = browser
    document = json.loads((SAMPLES / "green-valley.json").read_text())
    login(driver, served, "manager")

    # A CSV whose row 3 (enterprise e02, the second) starts above full development:
    # U = 2 + 0.006·80 = 2.48 > 1.  The error sits beside that row, its u0 cell marked.
    lines = (SAMPLES / "green-valley.csv").read_text().splitlines()
    header, e02 = lines[0].split(","), lines[2].split(",")
    assert e02[0] == "e02"
    e02[header.index("u0")] = "2"
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("\n".join([lines[0], lines[1], ",".join(e02), *lines[3:]]) + "\n")
    upload(driver, bad_csv, SAMPLES / "green-valley.header.json")
    bad_rows = wait(driver, lambda d: d.find_elements(by("css"), "#sheet tr.bad"), what="the row with the error")
    assert len(bad_rows) == 1
    row = bad_rows[0]
    assert row.find_element(by("css"), "th").text == "CSV row 3"
    assert "u0" in row.find_element(by("css"), "td.row-error").text and "2.48" in row.find_element(by("css"), "td.row-error").text
    columns = [th.text for th in driver.find_elements(by("css"), "#sheet thead th")]
    marked = row.find_elements(by("css"), "td.bad-cell")
    assert [columns[1 + [td for td in row.find_elements(by("css"), "td")].index(m)] for m in marked] == ["u0"]

    # A JSON document with a negative benefit for enterprises[3]: beside that row.
    broken = json.loads(json.dumps(document))
    broken["enterprises"][3]["benefit"]["profit"] = -1
    bad_json = tmp_path / "bad.json"
    bad_json.write_text(json.dumps(broken))
    upload(driver, bad_json)
    bad_rows = wait(driver, lambda d: d.find_elements(by("css"), "#sheet tr.bad[data-enterprise='3']"),
                    what="enterprises[3] marked")
    assert "benefit.profit" in bad_rows[0].text
    assert len(driver.find_elements(by("css"), "#sheet tr.bad")) == 1

    # The sample's CSV with its header typed in, then its JSON: the same data, so the same problem.
    upload(driver, SAMPLES / "green-valley.csv", (SAMPLES / "green-valley.header.json").read_text())
    from_csv = wait(driver, lambda d: d.find_elements(by("id"), "problem-hash"), what="the CSV stored")[0].text
    wait(driver, lambda d: len(d.find_elements(by("css"), "#optima tbody tr")) == 3, what="the CSV's optima")

    # The sample: stored, its three optima, each best in its own objective.
    driver.execute_script("document.getElementById('problem-hash').remove()")
    upload(driver, SAMPLES / "green-valley.json")
    wait(driver, lambda d: d.find_elements(by("id"), "problem-hash"), what="the JSON stored")
    wait(driver, lambda d: len(d.find_elements(by("css"), "#optima tbody tr")) == 3, what="the three optima")
    optima = {r.find_elements(by("css"), "td")[0].text: [td.text for td in r.find_elements(by("css"), "td")]
              for r in driver.find_elements(by("css"), "#optima tbody tr")}
    f1 = {k: number(v[1]) for k, v in optima.items()}
    f2 = {k: number(v[2]) for k, v in optima.items()}
    f3 = {k: number(v[4]) for k, v in optima.items()}
    assert max(f1, key=f1.get) == "max F1" and max(f2, key=f2.get) == "max F2" and min(f3, key=f3.get) == "min F3"
    digest = driver.find_element(by("id"), "problem-hash").text
    assert len(digest) == 64 and digest == from_csv

    # Each optimum saved as the API sent it, and the page's command checks it offline.
    driver.find_element(by("css"), "a.solution-link[data-objective='F1']").click()
    command = driver.find_elements(by("css"), "code.solution-command")[0].text
    words = shlex.split(command)
    saved = wait(driver, lambda d: (driver.downloads / words[2]).is_file() and (driver.downloads / words[2]), what="the solution's download")
    assert words[:2] == ["coopchain", "verify"] and json.loads(saved.read_text())["values"]["F1"] == pytest.approx(f1["max F1"], rel=1e-5)
    ran = subprocess.run([str(Path(sys.executable).with_name("coopchain")), *words[1:]], cwd=driver.downloads, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0 and ran.stdout.startswith("valid: max F1"), ran.stdout + ran.stderr

    # The front as a job, followed to its end; every panel drawn.
    points_box = driver.find_element(by("id"), "front-points")
    points_box.clear()
    points_box.send_keys("12")
    driver.find_element(by("id"), "front-button").click()
    wait(driver, lambda d: d.find_elements(by("css"), "#front-plots circle.pt"), seconds=240, what="the front drawn")
    api = httpx.Client(base_url=served.url, headers={"X-API-Key": served.tokens["manager"]}, timeout=60)
    jobs = api.get("/fronts", params={"limit": 1}).json()["data"]
    front = api.get(jobs[0]["url"]).json()["result"]
    assert jobs[0]["problem"] == digest and jobs[0]["state"] == "done"
    n = len(front["points"])
    panels = driver.find_elements(by("css"), "#front-plots figure svg")
    assert len(panels) == 4  # the 3-D view and three pairs
    assert len(driver.find_elements(by("css"), "#front-plots circle.pt")) == 4 * n
    pick_indices = {p["index"] for p in front["picks"]}
    assert len(driver.find_elements(by("css"), "#front-plots circle.pt.pick")) == 4 * len(pick_indices)
    assert float(driver.find_element(by("id"), "front-progress").get_attribute("value")) == 1

    # The front, seen: the element's screenshot holds the points' and the picks' colours.
    plots = driver.find_element(by("id"), "front-plots")
    driver.execute_script("arguments[0].scrollIntoView()", plots)
    png = plots.screenshot_as_png
    (Path(served.db.removeprefix("sqlite:///")).parent / "front.png").write_bytes(png)
    # A point is a disc of radius 4.2 (about 55 px, 30 inside its stroke), a pick of 6.5; four panels each.
    assert colour_pixels(png, POINT) > 4 * 15 * (n - len(pick_indices))
    assert colour_pixels(png, PICK) > 4 * 40 * len(pick_indices)

    # The 3-D view turns when dragged: every point moves on the screen.
    from selenium.webdriver.common.action_chains import ActionChains

    cube = driver.find_element(by("css"), "#front-plots svg.cube")
    before = [(c.get_attribute("cx"), c.get_attribute("cy")) for c in cube.find_elements(by("css"), "circle.pt")]
    size = cube.size
    ActionChains(driver).move_to_element_with_offset(cube, -size["width"] // 2 + 6, -size["height"] // 2 + 6).click_and_hold() \
        .move_by_offset(60, 25).release().perform()
    after = [(c.get_attribute("cx"), c.get_attribute("cy")) for c in cube.find_elements(by("css"), "circle.pt")]
    assert len(after) == n and all(a != b for a, b in zip(after, before))

    # Hover: the allocation by enterprise name.

    others = [i for i in range(n) if i not in pick_indices] or [0]
    chosen = others[0]
    dot = driver.find_element(by("css"), f"#front-plots svg.pair circle.pt[data-index='{chosen}']")
    ActionChains(driver).move_to_element(dot).perform()
    tip = wait(driver, lambda d: d.find_element(by("id"), "tooltip").is_displayed() and d.find_element(by("id"), "tooltip"), what="the tooltip")
    assert f"point {chosen}" in tip.text and document["enterprises"][0]["name"] in tip.text

    # Pick it: its allocation table, checked against the job's point and the sample's data.
    dot.click()
    wait(driver, lambda d: d.find_element(by("id"), "pick-table").get_attribute("data-point") == str(chosen), what="the chosen allocation")
    assert "chosen" in dot.get_attribute("class")
    allocation = front["points"][chosen]["allocation"]
    a = document["indicators"]
    rows = driver.find_elements(by("css"), "#pick-table tbody tr")
    headers = [th.text for th in driver.find_elements(by("css"), "#pick-table thead th")]
    column = {r: next(i for i, h in enumerate(headers) if h.startswith(f"{r} used")) for r in document["resources"]}
    assert len(rows) == len(document["enterprises"]) + 1
    total = 0.0
    for e, tr in zip(document["enterprises"], rows):
        cells = [td.text for td in tr.find_elements(by("css"), "td")]
        w = allocation[e["id"]]
        total += w
        assert cells[0] == e["id"] and cells[1] == e["name"]
        assert number(cells[2]) == pytest.approx(w, rel=1e-5, abs=1e-9)
        assert number(cells[4]) == pytest.approx(e["u0"] + e["g"] * w, rel=1e-3)
        assert number(cells[5]) == pytest.approx(sum(a[k] * e["benefit"][k] * w for k in a), rel=1e-5, abs=1e-6)
        for r in document["resources"]:
            assert number(cells[column[r]]) == pytest.approx(e["use"][r] * w, rel=1e-4, abs=1e-6)
    assert document["demand"]["min"] - 1e-6 <= total <= document["demand"]["max"] + 1e-6
    assert number(rows[-1].find_elements(by("css"), "th")[2].text) == pytest.approx(total, rel=1e-5)

    # Nothing came from anywhere but the server (no CDN): every resource the page loaded.
    loaded = driver.execute_script("return performance.getEntriesByType('resource').map((e) => e.name)")
    assert loaded and [u for u in loaded if not u.startswith(served.url + "/")] == []
    assert console_errors(driver, allowed_network=[("/problems/csv", 422), ("/problems", 422)]) == []


def test_a_manager_sees_refusals_and_cancels_a_front(served, browser, tmp_path):
    driver = browser
    login(driver, served, "manager")
    # Another cooperative's data: refused as not found (docs/api.md: never says whether it exists).
    other = json.loads((SAMPLES / "green-valley.json").read_text())
    other["cooperative"] = "hill-top"
    path = tmp_path / "hill-top.json"
    path.write_text(json.dumps(other))
    upload(driver, path)
    message = wait(driver, lambda d: d.find_element(by("id"), "upload-errors").text, what="the refusal")
    assert "404" in message and "hill-top" in message
    assert not driver.find_element(by("id"), "optima-card").is_displayed()

    # Valid data that no allocation can meet: the reservations and minimums of e01, e02, e04,
    # e07 and e12 need at least 1,627 of water (written out below), and the cap is 1,500.
    document = json.loads((SAMPLES / "green-valley.json").read_text())
    tight = json.loads(json.dumps(document))
    tight["resources"]["water"]["cap"] = 1500
    tight["round"] = "2026-Q4-dry"
    e = {x["id"]: x for x in document["enterprises"]}
    per_unit = {i: sum(a * e[i]["benefit"][k] for k, a in document["indicators"].items()) for i in e}
    least = {i: max(e[i]["min"], e[i].get("reservation", 0) / per_unit[i]) for i in e}
    assert sum(e[i]["use"]["water"] * least[i] for i in e) > 1500
    path = tmp_path / "dry.json"
    path.write_text(json.dumps(tight))
    upload(driver, path)
    box = wait(driver, lambda d: d.find_elements(by("id"), "conflicts"), what="the conflicts")[0]
    named = [c.text for c in box.find_elements(by("css"), "li code")]
    assert "cooperative_cap[water]" in named and "e02: volume (minimum)" in named
    assert [td.text for td in driver.find_elements(by("css"), "#optima tbody td:nth-child(2)")] == ["infeasible"] * 3
    assert not driver.find_element(by("id"), "front-card").is_displayed()

    # A long front, cancelled from the page once it runs.
    upload(driver, SAMPLES / "green-valley.json")
    wait(driver, lambda d: d.find_element(by("id"), "front-card").is_displayed(), what="the front form")
    points_box = driver.find_element(by("id"), "front-points")
    points_box.clear()
    points_box.send_keys("2000")
    driver.find_element(by("id"), "front-button").click()
    wait(driver, lambda d: d.find_element(by("id"), "front-status").text.startswith("running"), seconds=120, what="the job running")
    driver.find_element(by("id"), "front-cancel").click()
    wait(driver, lambda d: d.find_element(by("id"), "front-status").text.startswith("cancelled"), seconds=120, what="the job cancelled")
    api = httpx.Client(base_url=served.url, headers={"X-API-Key": served.tokens["manager"]}, timeout=60)
    job = api.get("/fronts", params={"limit": 1}).json()["data"][0]
    assert (job["state"], job["request"]["points"]) == ("cancelled", 2000)
    assert driver.find_elements(by("css"), "#front-plots circle") == []
    assert console_errors(driver, allowed_network=[("/problems", 404)]) == []


def test_auditor_flow_from_blocks_to_a_verified_bundle(served, browser):
    driver = browser
    login(driver, served, "auditor")
    driver.find_element(by("css"), ".tab[data-view='auditor']").click()
    wait(driver, lambda d: len(d.find_elements(by("css"), "#blocks tbody tr")) == 3, what="the blocks")
    heights = [tr.get_attribute("data-height") for tr in driver.find_elements(by("css"), "#blocks tbody tr")]
    assert heights == ["2", "1", "0"]  # newest first

    record = served.records["green-valley"]
    driver.find_element(by("css"), "#blocks tr[data-height='1']").click()
    tx_row = wait(driver, lambda d: d.find_elements(by("css"), f"#block-detail tr[data-tx='{record}']"), what="block 1's transaction")[0]
    assert "allocation/green-valley/2026-Q4" in tx_row.text
    tx_row.click()
    wait(driver, lambda d: d.find_element(by("id"), "tx-card").is_displayed() and d.find_elements(by("id"), "tx-hash"), what="the transaction")
    assert driver.find_element(by("id"), "tx-hash").text == record
    recorded = httpx.get(f"{served.url}/transactions/{record}", headers={"X-API-Key": served.tokens["auditor"]}).json()
    volumes = recorded["transaction"]["payload"]["value"]["allocation"]
    shown = {tr.find_elements(by("css"), "td")[0].text: number(tr.find_elements(by("css"), "td")[1].text)
             for tr in driver.find_elements(by("css"), "#tx-allocation tbody tr")}
    assert shown.keys() == volumes.keys() and all(shown[k] == pytest.approx(float(v), rel=1e-7) for k, v in volumes.items())
    proof = json.loads(driver.find_element(by("id"), "proof").text)
    # RFC 9162 §2.1.3: the only leaf of a one-leaf tree has an empty audit path.
    assert (proof["leaf_index"], proof["tree_size"], proof["path"], proof["height"]) == (0, 1, [], 1)

    link = wait(driver, lambda d: d.find_element(by("id"), "bundle-link").get_attribute("data-ready") and d.find_element(by("id"), "bundle-link"),
                what="the bundle")
    link.click()
    command = driver.find_element(by("id"), "verify-command").text
    words = shlex.split(command)
    saved = wait(driver, lambda d: (driver.downloads / words[2]).is_file() and (driver.downloads / words[2]), what="the download")
    assert words[:2] == ["coopchain", "verify"] and words[3] == "--genesis"
    coopchain = str(Path(sys.executable).with_name("coopchain"))
    ran = subprocess.run([coopchain, *words[1:]], cwd=driver.downloads, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.startswith("valid")

    # The same command refuses the bundle once one allocated volume is changed.
    bundle = json.loads(saved.read_text())
    bundle["transaction"]["payload"]["value"]["allocation"]["e01"] = "1.5"
    saved.write_text(json.dumps(bundle))
    ran = subprocess.run([coopchain, *words[1:]], cwd=driver.downloads, capture_output=True, text=True, timeout=120)
    assert ran.returncode != 0 and ran.stdout.startswith("invalid: transaction")

    # Heads kept earlier: the page's own "Keep this head" file (the head, block 2), and block 1's
    # header as the test kept it from the API. A bundle since each verifies with the page's
    # command; a forged kept head (another state root) is refused.
    auditor = {"X-API-Key": served.tokens["auditor"]}
    driver.find_element(by("id"), "head-link").click()
    kept = wait(driver, lambda d: (driver.downloads / "head-2.json").is_file() and (driver.downloads / "head-2.json"), what="the kept head")
    assert json.loads(kept.read_text()) == httpx.get(served.url + "/blocks/2", headers=auditor).json()["header"]
    header1 = httpx.get(served.url + "/blocks/1", headers=auditor).json()["header"]
    (driver.downloads / "head-1.json").write_text(json.dumps(header1))

    def verify_since(height):
        box = driver.find_element(by("id"), "since-height")
        box.clear()
        box.send_keys(str(height))
        driver.find_element(by("css"), "#since-form button").click()
        link = wait(driver, lambda d: d.find_element(by("id"), "bundle-link").get_attribute("data-ready") == f"since-{height}"
                    and d.find_element(by("id"), "bundle-link"), what=f"the bundle since {height}")
        link.click()
        words = shlex.split(driver.find_element(by("id"), "verify-command").text)
        assert words[-2:] == ["--since", f"head-{height}.json"]
        wait(driver, lambda d: (driver.downloads / words[2]).is_file(), what="the download")
        return subprocess.run([coopchain, *words[1:]], cwd=driver.downloads, capture_output=True, text=True, timeout=120)

    for height in (2, 1):
        ran = verify_since(height)
        assert ran.returncode == 0 and ran.stdout.startswith("valid"), ran.stdout + ran.stderr
    (driver.downloads / "head-1.json").write_text(json.dumps({**header1, "state_root": "00" * 32}))
    ran = subprocess.run([coopchain, "verify", f"bundle-{record[:12]}-since-1.json", "--genesis", words[4], "--since", "head-1.json"],
                         cwd=driver.downloads, capture_output=True, text=True, timeout=120)
    assert ran.returncode != 0 and ran.stdout.startswith("invalid"), ran.stdout + ran.stderr

    # Looking up another cooperative's record by hash: the auditor reads everything.
    other = served.records["hill-top"]
    box = driver.find_element(by("id"), "lookup")
    box.send_keys(other)
    driver.find_element(by("css"), "#lookup-form button").click()
    wait(driver, lambda d: d.find_element(by("id"), "tx-hash").text == other, what="the looked-up transaction")
    assert console_errors(driver) == []


def test_a_wrong_key_is_refused_at_login(served, browser):
    driver = browser
    driver.get(served.url + "/")
    wait(driver, lambda d: d.find_element(by("id"), "login").is_displayed(), what="the login form")
    driver.find_element(by("id"), "key").send_keys("cck_0000000000000000_not-a-key")
    driver.find_element(by("css"), "#login-form button").click()
    message = wait(driver, lambda d: d.find_element(by("id"), "login-error").text, what="the refusal")
    assert "not known" in message
    assert not driver.find_element(by("id"), "tabs").is_displayed()
    assert console_errors(driver, allowed_network=[("/blocks/head", 401)]) == []
