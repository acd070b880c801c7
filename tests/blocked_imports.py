"""Run Python code in a fresh interpreter with some packages made unimportable.

The offline verifiers promise to need only numpy, the standard library and (for
signatures) pycryptodome; these tests make every other package raise ImportError
and report which blocked modules got loaded anyway (`blocked_loaded()` inside the script).
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PREAMBLE = """
import importlib.abc, json, sys
BLOCKED = {blocked!r}
def _blocked(name):
    return any(name == b or name.startswith(b + ".") for b in BLOCKED)
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if _blocked(name):
            raise ImportError(f"{{name}} is blocked: this code must not need it")
sys.meta_path.insert(0, _Block())
def blocked_loaded():
    return sorted(m for m in sys.modules if _blocked(m))
"""


def run_blocked(blocked: set[str], script: str, *args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """`script` run with `blocked` (package or module names, each with everything below it) unimportable, from the project's root."""
    code = PREAMBLE.format(blocked=sorted(blocked)) + script
    return subprocess.run([sys.executable, "-c", code, *args], input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=timeout)
