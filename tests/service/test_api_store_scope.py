"""ApiStore's listings keep a manager's cooperatives only: None lists every row, () none."""

from coopchain.service.api_store import ApiStore


def test_problems_and_jobs_are_listed_by_cooperative(tmp_path):
    store = ApiStore(f"sqlite:///{tmp_path / 'api.db'}")
    try:
        for digest, cooperative in (("a1", "green-valley"), ("b1", "hill-top"), ("a2", "green-valley")):
            store.put_problem(digest, cooperative, "2026-Q4", "{}")
            assert store.create_job(cooperative, digest, {"objective": "F2"}, limit=10) is not None
        problems = {scope: store.problems(scope, 0, 50) for scope in (None, ("green-valley",), ("hill-top", "green-valley"), ())}
        jobs = {scope: store.jobs(scope, 0, 50) for scope in (None, ("green-valley",), ("hill-top", "green-valley"), ())}
    finally:
        store.close()
    assert {scope: sorted(p.hash for p in found) for scope, (found, _) in problems.items()} == {
        None: ["a1", "a2", "b1"], ("green-valley",): ["a1", "a2"], ("hill-top", "green-valley"): ["a1", "a2", "b1"], (): []}
    assert {scope: count for scope, (_, count) in problems.items()} == {None: 3, ("green-valley",): 2, ("hill-top", "green-valley"): 3, (): 0}
    assert {scope: sorted(j.problem for j in found) for scope, (found, _) in jobs.items()} == {
        None: ["a1", "a2", "b1"], ("green-valley",): ["a1", "a2"], ("hill-top", "green-valley"): ["a1", "a2", "b1"], (): []}
    assert {scope: count for scope, (_, count) in jobs.items()} == {None: 3, ("green-valley",): 2, ("hill-top", "green-valley"): 3, (): 0}
