"""The README and docs/problem.md as a user reads them: every shell command runs as written.

The README's shell blocks are run in order, in one shell, in a fresh folder where
`coopchain demo` has run in ./demo, as `make demo` leaves a clone; the set-up blocks
(make, pip, docker) are checked against the Makefile and the Dockerfile instead (the
wheel itself is tested in tests/test_install.py).  docs/problem.md's worked example is
checked against arithmetic written out here.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.test_cli import coopchain

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PROBLEM_DOC = ROOT / "docs" / "problem.md"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
SET_UP = ("make ", "pip ", "docker ")


def blocks(path: Path, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(path.read_text()) if lang == language]


def commands(block: str) -> list[str]:
    return [line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]


def is_set_up(block: str) -> bool:
    return any(c.startswith(SET_UP) for c in commands(block))


def test_the_readme_has_shell_blocks_of_both_kinds():
    sh = blocks(README, "sh")
    assert sum(map(is_set_up, sh)) >= 2 and sum(not is_set_up(b) for b in sh) >= 4


def test_the_set_up_blocks_name_what_exists():
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
    dockerfile = (ROOT / "Dockerfile").read_text()
    for block in filter(is_set_up, blocks(README, "sh")):
        for command in commands(block):
            for part in (p.strip() for p in command.split("#")[0].split("&&")):
                if part.startswith("make "):
                    assert set(part.split()[1:]) <= targets, part
                elif part.startswith("docker run"):
                    assert re.search(r'^CMD \["coopchain", "demo"\]', dockerfile, re.M), "the image's command is the demo"
                elif part.startswith("docker build"):
                    assert part.endswith(" .") and (ROOT / "Dockerfile").exists()


def test_the_readme_links_only_what_the_repository_holds():
    text = README.read_text()
    assert "../" not in text and "SPEC" not in text and "shared/" not in text
    for target in re.findall(r"\]\(([^)#]+)\)", text) + re.findall(r"`(docs/[\w./-]+)`", text):
        if "://" not in target:
            assert (ROOT / target).exists(), target


def installed_coopchain_folder(tmp_path: Path) -> Path:
    """The folder of the installed `coopchain` script (this interpreter's), else a shim that runs it."""
    here = Path(sys.executable).parent
    if (here / "coopchain").exists():
        return here
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "coopchain").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m coopchain.app.cli "$@"\n')
    (shim / "coopchain").chmod(0o755)
    return shim


def test_every_readme_command_runs_as_written_after_the_demo(tmp_path, demo_run):
    clone = tmp_path / "clone"
    clone.mkdir()
    # What `make demo` leaves: the demo's files in ./demo (its keys in their own folder): a copy of the
    # suite's one demo run in an empty folder (tests/conftest.py), and of its keys.
    shutil.copytree(demo_run[0], clone / "demo")
    keys = shutil.copytree(demo_run[1] / "coopchain" / "demo-keys", tmp_path / "keys")
    script = "\n".join(block for block in blocks(README, "sh") if not is_set_up(block))
    env = {**os.environ, "COOPCHAIN_KEYS": str(keys), "PATH": f"{installed_coopchain_folder(tmp_path)}{os.pathsep}{os.environ['PATH']}"}
    env.pop("COOPCHAIN_DB", None)
    run = subprocess.run(["bash", "-e", "-x", "-c", script], cwd=clone, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    assert "Traceback" not in run.stderr, run.stderr[-4000:]
    # What the commands wrote is what the README says they write.
    demo_folder = clone / "demo"
    assert json.loads((demo_folder / "f1.json").read_text())["status"] == "optimal"
    assert (demo_folder / "front.png").stat().st_size > 10_000
    assert (demo_folder / "bundle-since-1.json").exists() and (demo_folder / "my-coop.db").exists()


# --- docs/problem.md ----------------------------------------------------------------------------


def worked_example() -> dict:
    text = PROBLEM_DOC.read_text().split("## A worked example", 1)[1]
    return json.loads(blocks_in(text, "json")[0])


def blocks_in(text: str, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(text) if lang == language]


def test_the_worked_example_has_the_values_computed_by_hand():
    from coopchain.models.certificate import evaluate
    from coopchain.models.problem import parse_problem, to_instance

    values = evaluate(to_instance(parse_problem(worked_example())), np.array([60.0, 30.0]))
    # The document's arithmetic: U = (0.5, 0.6), C = 2·√0.3 / 1.1, T = 0.55.
    C = 2 * math.sqrt(0.5 * 0.6) / 1.1
    assert values.F1 == pytest.approx(780, rel=1e-12) and values.F3 == pytest.approx(0.9, rel=1e-12)
    assert values.C == pytest.approx(C, rel=1e-12) and values.T == pytest.approx(0.55, rel=1e-12)
    assert values.F2 == pytest.approx(math.sqrt(C * 0.55), rel=1e-12) and round(values.F2, 5) == 0.74008
    assert values.coordination_class == "intermediate coordination"


def test_the_worked_example_optima_are_those_the_document_names(tmp_path):
    path = tmp_path / "two-farms.json"
    path.write_text(json.dumps(worked_example()))
    said = {"F1": {"A": 80, "B": 20}, "F2": {"A": 200 / 3, "B": 100 / 3}, "F3": {"A": 40, "B": 10}}
    for objective, allocation in said.items():
        out = json.loads(coopchain("solve", path, "--objective", objective).stdout)
        assert out["allocation"] == pytest.approx(allocation, abs=1e-6), objective


def test_the_worked_refusal_is_what_the_command_prints(tmp_path):
    doc = worked_example()
    doc["enterprises"][1]["u0"] = 0.5
    doc["demand"]["min"] = 150
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    run = coopchain("solve", "bad.json", "--objective", "F1", cwd=tmp_path)
    printed = blocks_in(PROBLEM_DOC.read_text().split("## A worked example", 1)[1], "text")[-1]
    assert run.returncode == 2 and run.stderr == printed
