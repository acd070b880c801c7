"""Shared fixtures: the SPEC's random problem generator and the sample cooperative."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from tests.postgres import fresh_database, postgres_db, postgres_url  # noqa: F401  (fixtures: a real PostgreSQL server)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
GENERATOR = ROOT / "tests" / "data" / "gen_problem.py"
SAMPLE = ROOT / "models" / "samples" / "green-valley.json"


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_problem", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def gen_problem():
    """shared/tools/gen_problem.py: random feasible problems in the SPEC §6 shape."""
    return load_generator()


@pytest.fixture(scope="session")
def sample_document() -> dict:
    return json.loads(SAMPLE.read_text())


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """One `coopchain demo` (a real process) in an empty folder, its keys in the default per-user folder
    (under XDG_DATA_HOME): (folder, data folder, the run). Shared by every test that reads a demo's output;
    a test that writes into it takes a copy (demo_folder)."""
    from tests.test_cli import coopchain

    root = tmp_path_factory.mktemp("demo")
    folder, data = root / "work", root / "data"
    folder.mkdir()
    run = coopchain("demo", cwd=folder, env={"XDG_DATA_HOME": str(data), "COOPCHAIN_KEYS": ""})
    assert run.returncode == 0, run.stderr
    return folder, data, run


@pytest.fixture
def demo_folder(demo_run, tmp_path):
    """A copy of the demo's folder, for a test that writes into it."""
    shutil.copytree(demo_run[0], tmp_path / "demo")
    return tmp_path / "demo"
