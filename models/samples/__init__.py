"""The sample cooperative that ships with coopchain (green-valley, 12 enterprises).

Package data, read with importlib.resources, so `coopchain demo` works from any
folder after a plain `pip install`.  The same cooperative comes as a problem
document (green-valley.json) and as a CSV table with its header
(green-valley.csv, green-valley.header.json), the two upload formats of docs/problem.md.
"""

from importlib.resources import files

from coopchain.models.problem import Problem, load_problem_csv, load_problem_json

SAMPLE_FILES = ("green-valley.json", "green-valley.csv", "green-valley.header.json")


def sample_text(name: str = "green-valley.json") -> str:
    """The text of one of SAMPLE_FILES."""
    if name not in SAMPLE_FILES:
        raise ValueError(f"no sample named {name!r}; the samples are {', '.join(SAMPLE_FILES)}")
    return files(__package__).joinpath(name).read_text(encoding="utf-8")


def sample_problem() -> Problem:
    """The sample cooperative, validated."""
    return load_problem_json(sample_text("green-valley.json"))
