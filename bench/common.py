"""What the benchmarks share: the SPEC's problem generator and peak memory."""

import importlib.util
import resource
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "tests" / "data" / "gen_problem.py"  # a copy of ../shared/tools/gen_problem.py


def load_by_path(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generate(n: int, alpha: str, seed: int) -> dict:
    """A random problem document of n enterprises, K = 3, R = 3 (SPEC §6 shape)."""
    return load_by_path("gen_problem", GENERATOR).generate(n, 3, 3, seed, alpha)


def rss_mib() -> float:
    """Peak resident memory of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table: the first column left-aligned, the figures right-aligned."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
