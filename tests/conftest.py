"""Shared fixtures: the SPEC's random problem generator and the sample cooperative."""

import importlib.util
import json
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
