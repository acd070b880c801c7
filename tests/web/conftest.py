"""The web page in a real browser: Debian's headless Chromium driven through Selenium and
Debian's chromedriver (never a downloaded browser or driver), against a real `coopchain serve`
on loopback over a real SQLite ledger.

No Chromium or chromedriver: the tests skip with the reason on a developer's machine and fail
in CI ($COOPCHAIN_REQUIRE_CHROMIUM=1, which .ci/run exports, or $CI set), as tests/postgres.py
does for PostgreSQL.  `apt-get install chromium chromium-driver` as root installs them."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from coopchain.service.api_store import ApiStore
from tests.api.conftest import make_ledger
from tests.server import start_server
from tests.server import stop_server as stop

CHROMIUM = os.environ.get("COOPCHAIN_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("COOPCHAIN_CHROMEDRIVER", "/usr/bin/chromedriver")
# Flags for a browser that talks to nothing but the test server.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1400,1800")


def chromium_required() -> bool:
    flag = os.environ.get("COOPCHAIN_REQUIRE_CHROMIUM", "").strip().lower() or os.environ.get("CI", "").strip().lower()
    return flag not in ("", "0", "false", "no", "off")


def _missing() -> str | None:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"{path} not found (apt-get install {package})"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is not installed (pip install -e '.[test]')"
    return None


@dataclass
class Served:
    url: str
    db: str
    tokens: dict  # role -> API key
    records: dict  # cooperative -> record transaction hash
    process: subprocess.Popen


@pytest.fixture(scope="session")
def served(tmp_path_factory) -> Served:
    """`coopchain serve` on a ledger holding one allocation record per cooperative."""
    folder = tmp_path_factory.mktemp("web")
    db, records = make_ledger(folder)
    store = ApiStore(db)
    tokens = {role: store.create_key(role, ("green-valley",) if role == "manager" else (), f"web test {role}").token
              for role in ("manager", "auditor")}
    store.close()
    server = serve(db, folder)
    yield Served(server.url, db, tokens, records, server.process)
    stop(server.process)


@dataclass
class Server:
    url: str
    process: subprocess.Popen


def serve(db: str, folder: Path, env: dict | None = None) -> Server:
    """`coopchain serve` on `db` at a free loopback port, run in `folder`, once it answers /health."""
    process, url = start_server(db, extra_env=env, cwd=folder)
    return Server(url, process)


@pytest.fixture
def browser(tmp_path):
    """A fresh headless Chromium (its own profile folder), downloads into tmp_path / "downloads"."""
    missing = _missing()
    if missing:
        if chromium_required():
            pytest.fail(f"headless Chromium is required here (COOPCHAIN_REQUIRE_CHROMIUM/CI) but unavailable: {missing}", pytrace=False)
        pytest.skip(f"headless Chromium unavailable: {missing}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # A driver path given to Service makes Selenium skip Selenium Manager (which would look for,
    # and may download, a browser and a driver): Debian's two binaries are all that run.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()
