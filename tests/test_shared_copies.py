"""The repository's copy of the SPEC's problem generator matches ../shared when that is present."""

import pytest

from tests.conftest import GENERATOR, SHARED


def test_generator_copy_matches_shared():
    original = SHARED / "tools" / "gen_problem.py"
    if not original.exists():
        pytest.skip("../shared is not beside this checkout")
    copy = GENERATOR.read_text().split("\n", 2)[2]  # without the two lines that say it is a copy
    assert copy == original.read_text()


@pytest.mark.parametrize("name", ["rfc6962_roots.json", "mpt_trietest.json", "x16_pool_kat.json", "rpca16_example.json"])
def test_vector_copy_matches_shared(name):
    original = SHARED / "vectors" / name
    if not original.exists():
        pytest.skip("../shared is not beside this checkout")
    assert (GENERATOR.parent / "vectors" / name).read_bytes() == original.read_bytes()
