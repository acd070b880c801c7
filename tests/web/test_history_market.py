"""A cooperative's history, a round and the village market in headless Chromium, against `coopchain serve`
on a ledger whose contracts hold a committed and amended round and a cleared market day.

References: what tests/api/conftest.add_contract_data committed (which transaction amends which, why,
the allocations it signed), the market document it traded, the clearing as the API serves it (checked
exactly in tests/api/test_history_market.py), `coopchain verify` on the bundle the browser downloaded,
and the screenshot's pixels for the charts."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from coopchain.service.api_store import ApiStore
from tests.api.conftest import add_contract_data, make_ledger
from tests.web.conftest import Served, serve, stop
from tests.web.test_page import by, colour_pixels, console_errors, login, number, wait

PRICE = (0x2F, 0x7D, 0x4F)  # plot.js PALETTE[0]: the price line, the first trader's bars, the first battery's line


@pytest.fixture(scope="module")
def ledger_served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web-history")
    db, records = make_ledger(folder)
    data = add_contract_data(db, folder)
    store = ApiStore(db)
    tokens = {"manager": store.create_key("manager", ("green-valley",), "web history manager").token,
              "other_manager": store.create_key("manager", ("hill-top",), "web history other").token,
              "auditor": store.create_key("auditor", (), "web history auditor").token,
              "participant": store.create_key("participant", (), "web history participant").token}
    store.close()
    server = serve(db, folder)
    served = Served(server.url, db, tokens, records, server.process)
    served.data = data
    yield served
    stop(server.process)


def open_view(driver, view):
    driver.find_element(by("css"), f".tab[data-view='{view}']").click()
    wait(driver, lambda d: d.find_element(by("id"), view).is_displayed(), what=f"the {view} view")


def look_up_history(driver, cooperative):
    box = driver.find_element(by("id"), "history-cooperative")
    box.clear()
    box.send_keys(cooperative)
    driver.find_element(by("css"), "#history-form button").click()


def test_the_auditor_looks_up_a_history_and_a_round(ledger_served, browser):
    driver, data = browser, ledger_served.data
    login(driver, ledger_served, "auditor")
    open_view(driver, "history")
    look_up_history(driver, data.cooperative)
    rows = wait(driver, lambda d: d.find_elements(by("css"), "#history-commits tbody tr"), what="the commits")
    assert [r.get_attribute("data-tx") for r in rows] == [data.amendment, data.first]  # newest first
    assert [r.get_attribute("class") for r in rows] == ["current", "superseded"]
    round_row = driver.find_element(by("css"), f"#history-rounds tr[data-round='{data.round}']")
    assert round_row.find_elements(by("css"), "td")[1].text == "2"

    round_row.click()
    commits = wait(driver, lambda d: d.find_elements(by("css"), "#round-detail .round-commit"), what="the round")
    assert [(c.get_attribute("data-tx"), c.get_attribute("data-status")) for c in commits] == [(data.first, "superseded"), (data.amendment, "current")]
    assert driver.find_element(by("id"), "round-current").text == data.amendment
    assert commits[1].find_element(by("css"), ".reason").text == data.reason
    assert commits[1].find_element(by("css"), "a.tx-link[data-tx='%s']" % data.first)  # the amendment links back to what it amends
    assert [c.find_element(by("css"), ".receipt").get_attribute("data-status") for c in commits] == ["applied", "applied"]
    # The volumes, commit by commit, as the test signed them; the cells that the amendment changed are marked.
    first, second = data.allocations[data.first], data.allocations[data.amendment]
    table = {tr.get_attribute("data-enterprise"): [number(td.text) for td in tr.find_elements(by("css"), "td")[1:]]
             for tr in driver.find_elements(by("css"), "#round-detail tr[data-enterprise]")}
    assert table.keys() == first.keys()
    for eid, (w0, w1) in table.items():
        assert w0 == pytest.approx(float(first[eid]), rel=1e-7, abs=1e-9) and w1 == pytest.approx(float(second[eid]), rel=1e-7, abs=1e-9)
    assert len(driver.find_elements(by("css"), "#round-detail td.changed")) == sum(first[e] != second[e] for e in first) > 0

    # The amendment's bundle, downloaded, checks offline with the command shown beside it.
    link = wait(driver, lambda d: d.find_elements(by("css"), f"a.bundle-link[data-tx='{data.amendment}']"), what="the bundle link")[0]
    link.click()
    words = shlex.split(commits[1].find_element(by("css"), ".verify-command").text)
    wait(driver, lambda d: (driver.downloads / words[2]).is_file(), what="the bundle's download")
    ran = subprocess.run([str(Path(sys.executable).with_name("coopchain")), *words[1:]], cwd=driver.downloads, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0 and ran.stdout.startswith("valid"), ran.stdout + ran.stderr

    # The transaction link opens it in the auditor's view.
    commits[1].find_element(by("css"), f"a.tx-link[data-tx='{data.amendment}']").click()
    wait(driver, lambda d: d.find_element(by("id"), "auditor").is_displayed() and d.find_elements(by("id"), "tx-hash")
         and d.find_element(by("id"), "tx-hash").text == data.amendment, what="the transaction in the auditor's view")
    assert driver.find_element(by("id"), "tx-supersedes").text == data.first
    assert console_errors(driver) == []


def test_a_manager_reads_their_own_cooperatives_round(ledger_served, browser):
    driver, data = browser, ledger_served.data
    login(driver, ledger_served, "manager")
    open_view(driver, "history")
    look_up_history(driver, data.cooperative)
    wait(driver, lambda d: d.find_elements(by("css"), f"#history-rounds tr[data-round='{data.round}']"), what="the rounds")[0].click()
    commits = wait(driver, lambda d: d.find_elements(by("css"), "#round-detail .round-commit"), what="the round")
    assert [c.get_attribute("data-tx") for c in commits] == [data.first, data.amendment]
    assert console_errors(driver) == []


def test_another_cooperatives_manager_is_told_not_found(ledger_served, browser):
    driver, data = browser, ledger_served.data
    login(driver, ledger_served, "other_manager")
    open_view(driver, "history")
    look_up_history(driver, data.cooperative)
    message = wait(driver, lambda d: d.find_element(by("id"), "history-error").text, what="the refusal")
    assert data.cooperative in message and "No cooperative" in message
    assert driver.find_elements(by("css"), "#history-commits tr") == []
    look_up_history(driver, data.other_cooperative)  # their own: registered, nothing committed yet
    wait(driver, lambda d: "Nothing committed yet" in d.find_element(by("id"), "history-rounds").text, what="their own, empty")
    assert console_errors(driver, allowed_network=[(f"/cooperatives/{data.cooperative}/rounds?limit=500", 404),
                                                   (f"/cooperatives/{data.cooperative}/history?offset=0&limit=20", 404)]) == []


def test_the_market_view_draws_prices_trades_and_storage(ledger_served, browser):
    driver, data = browser, ledger_served.data
    clearing = httpx.get(f"{ledger_served.url}/market/days/{data.market}/clearing", headers={"X-API-Key": ledger_served.tokens["participant"]}).json()
    T = data.village["periods"]
    login(driver, ledger_served, "participant")
    open_view(driver, "market")
    row = wait(driver, lambda d: d.find_elements(by("css"), f"#market-days tr[data-market='{data.market}']"), what="the market days")[0]
    row.click()
    charts = wait(driver, lambda d: len(d.find_elements(by("css"), "#market-plots svg.series")) == 3 and d.find_elements(by("css"), "#market-plots svg.series"),
                  what="the three charts")
    prices, trades, soc = charts
    assert [c.get_attribute("data-chart") for c in charts] == ["prices", "trades", "soc"]
    # Each line has two points per period (a step per period); a bar for each non-zero trade; a line per battery.
    assert len(prices.find_element(by("css"), "polyline.line").get_attribute("points").split()) == 2 * T
    traded = sum(1 for s in clearing["settlements"] for e in s["energy"] if e != 0)
    assert len(trades.find_elements(by("css"), "rect.bar")) == traded > 0
    assert [p.get_attribute("data-series") for p in soc.find_elements(by("css"), "polyline.line")] == list(clearing["state_of_charge"])
    # Axes with units, and the clock on the time axis.
    assert "per kWh" in prices.text and "kWh" in trades.text and "kWh" in soc.text and "00:00" in prices.text
    assert driver.find_element(by("id"), "market-budget").text.startswith("0 ")

    # Hover a period of the price chart: the tooltip reads that period's price.
    from selenium.webdriver.common.action_chains import ActionChains

    t = max(range(T), key=lambda i: clearing["prices"][i])
    column = prices.find_element(by("css"), f"rect.hover[data-period='{t}']")
    ActionChains(driver).move_to_element(column).perform()
    tip = wait(driver, lambda d: d.find_element(by("id"), "tooltip").is_displayed() and d.find_element(by("id"), "tooltip"), what="the tooltip")
    assert f"(period {t})" in tip.text
    shown = re.search(r"price\s+(-?[0-9.,]+)", tip.text)
    assert shown and number(shown.group(1)) == pytest.approx(clearing["prices"][t], rel=1e-4, abs=1e-9)

    # Drawn, seen: each chart's screenshot holds its first series' colour (a line 2 px wide across the plot).
    for chart in charts:
        driver.execute_script("arguments[0].scrollIntoView()", chart)
        png = chart.screenshot_as_png
        (Path(ledger_served.db.removeprefix("sqlite:///")).parent / f"market-{chart.get_attribute('data-chart')}.png").write_bytes(png)
        assert colour_pixels(png, PRICE) > 200, chart.get_attribute("data-chart")

    # The settlement table: every participant's net energy, as the API has it.
    for s in clearing["settlements"]:
        cells = driver.find_elements(by("css"), f"#market-settlements tr[data-participant='{s['participant']}'] td")
        assert number(cells[2].text) == pytest.approx(sum(s["energy"]), rel=1e-5, abs=1e-6)
    assert len(driver.find_elements(by("css"), "#market-offers tbody tr")) == len(data.village["participants"])

    # The next day, open with no offers yet: its terms, and no charts.
    driver.find_element(by("css"), f"#market-days tr[data-market='{data.open_market}']").click()
    wait(driver, lambda d: "Not cleared yet" in d.find_element(by("id"), "market-plots").text, what="the open day")
    assert driver.find_elements(by("css"), "#market-plots svg") == []
    assert driver.find_element(by("id"), "market-day-title").text.endswith(data.open_market)
    assert console_errors(driver) == []
