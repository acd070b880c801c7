"""Install anywhere: a wheel, built from the source as a user builds it, installed into a fresh
virtual environment outside the repository, runs the demo in an empty folder and verifies
the bundle it wrote.

Dependencies come from pip's cache or the package index, as for a user (about a minute
here); nothing of this checkout is importable from the new environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What the wheel is built from: the files the Dockerfile copies, nothing else of the checkout.
SOURCES = ("pyproject.toml", "README.md", "app", "models", "chain", "contracts", "service")


def run(*args, cwd: Path, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, args))}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_a_wheel_in_a_fresh_environment_runs_the_demo_in_an_empty_folder(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(path, source / name)
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", tmp_path / "dist", source, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("coopchain-*.whl")
    # One import name: everything the wheel installs is under coopchain/ (and its own metadata).
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"coopchain"}, tops
    assert "coopchain/models/samples/green-valley.json" in zipfile.ZipFile(wheel).namelist()

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    bin_ = venv / ("Scripts" if os.name == "nt" else "bin")
    # --no-compile: pip's byte-compiling of every dependency (numpy, pyomo, …) took 30 of the install's 66 s; the
    # demo then compiles the modules it imports (2 s more). What is installed, and how it resolves, is the same.
    run(bin_ / "python", "-m", "pip", "install", "--quiet", "--no-compile", wheel, cwd=tmp_path)

    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COOPCHAIN_DB", "VIRTUAL_ENV")}
    env["COOPCHAIN_KEYS"] = str(tmp_path / "keys")
    env["PATH"] = f"{bin_}{os.pathsep}{env.get('PATH', '')}"
    version = run(bin_ / "coopchain", "--version", cwd=empty, env=env)
    assert version.stdout.strip() == "coopchain " + run(bin_ / "python", "-c", "import importlib.metadata as m; print(m.version('coopchain'))", cwd=empty, env=env).stdout.strip()
    # The installed package, not this checkout, is what runs.
    where = run(bin_ / "python", "-c", "import coopchain.app.cli as c; print(c.__file__)", cwd=empty, env=env).stdout.strip()
    assert Path(where).is_relative_to(venv), where

    demo = run(bin_ / "coopchain", "demo", cwd=empty, env=env)
    assert "chain verify: valid" in demo.stdout
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == ["manager.key", "node.key"]
    assert not any(p.suffix == ".key" for p in empty.iterdir())
    verify = run(bin_ / "coopchain", "verify", "coopchain-bundle.json", cwd=empty, env=env)
    assert verify.stdout.startswith("valid") and "certificate valid" in verify.stdout
    solution = json.loads((empty / "solution.json").read_text())
    assert run(bin_ / "coopchain", "verify", "solution.json", cwd=empty, env=env).stdout.startswith("valid")
    assert solution["status"] == "optimal"
