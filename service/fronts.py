"""Pareto fronts as a use case (SPEC §6 `coopchain front`, fronts as jobs over HTTP).

`compute_front` runs the exact (AUGMECON2) or an evolutionary (NSGA-II/III) front
and its compromise picks.  It reports progress in [0, 1] with a sentence, and
stops when `cancelled()` turns true: it is asked at every progress report (each
grid point, each generation) and, for the exact front, while it waits for its
points, so a cancelled job stops within one of them.  Given a `FrontPool`
(service.front_pool), the exact front's payoff rows and grid points run on its
processes or Dask cluster; the front is the same as without one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from coopchain.models.front import OBJECTIVE_SENSE

FRONT_METHODS = ("augmecon", "nsga2", "nsga3")
MAX_POINTS = 2_000  # a grid or population past this is a mistake, not a request

Progress = Callable[[float, str], None]


class FrontRequestError(ValueError):
    """A front request that cannot run; `field` names the request field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class FrontCancelled(Exception):
    """The caller asked the front to stop; no result."""


@dataclass(frozen=True)
class FrontRequest:
    method: str = "augmecon"
    points: int = 100
    objectives: tuple[str, ...] = ("F1", "F2", "F3")
    seed: int = 0


@dataclass(frozen=True, eq=False)
class FrontResult:
    front: object  # models.front.Front
    picks: tuple  # models.picks.Pick
    canonical: str | None = None  # the problem's canonical text

    @property
    def success(self) -> bool:
        return self.front.success

    def as_json(self, with_problem: bool = False) -> dict:
        """The front's JSON; `with_problem`: with the canonical problem text once at the top (the file
        `coopchain front` writes, which `verify` and `commit --pick` read without --problem)."""
        return self.front.as_json(picks=self.picks, problem_text=self.canonical if with_problem else None)


def check_request(request: FrontRequest) -> None:
    if request.method not in FRONT_METHODS:
        raise FrontRequestError("method", f"unknown method {request.method!r}: choose augmecon, nsga2 or nsga3")
    if not 2 <= request.points <= MAX_POINTS:
        raise FrontRequestError("points", f"points must lie in 2..{MAX_POINTS}, got {request.points}")
    objectives = request.objectives
    if len(set(objectives)) != len(objectives) or not 2 <= len(objectives) <= 3 or not set(objectives) <= set(OBJECTIVE_SENSE):
        raise FrontRequestError("objectives", f"two or three distinct objectives among {', '.join(OBJECTIVE_SENSE)}, got {list(objectives)}")


def compute_front(problem, request: FrontRequest, progress: Progress | None = None, cancelled: Callable[[], bool] | None = None,
                  pool=None) -> FrontResult:
    """The front of `problem` (a models Problem, Prepared, or service LoadedProblem).

    `pool` (a service.front_pool.FrontPool) runs the exact front's grid points; without one
    they run here, one after another.  The evolutionary methods run here either way.

    Raises FrontRequestError for a request that cannot run, FrontCancelled when
    `cancelled()` turned true.  A front with no point is a result (success False,
    its message says why), not an error."""
    from coopchain.models.picks import compromise_picks
    from coopchain.service.solving import _prepared
    from coopchain.models.solve import Prepared, prepare

    check_request(request)
    prepared = _prepared(problem, prepare, Prepared)

    def report(fraction: float, message: str) -> None:
        if cancelled is not None and cancelled():
            raise FrontCancelled(message)
        if progress is not None:
            progress(fraction, message)

    try:
        if request.method == "augmecon":
            from coopchain.models.augmecon import FrontStopped, augmecon

            try:
                front = augmecon(prepared.instance, request.objectives, points=request.points, progress=report,
                                 submit=None if pool is None else pool.submit, width=1 if pool is None else pool.width, stop=cancelled)
            except FrontStopped as e:
                raise FrontCancelled(str(e)) from e
        else:
            from coopchain.models.evolutionary import evolutionary_front

            front = evolutionary_front(prepared, request.objectives, method=request.method, points=request.points, seed=request.seed, progress=report)
    except FrontCancelled:
        raise
    except ValueError as e:  # the methods' own refusals (EvolutionaryError is one)
        raise FrontRequestError("method", str(e)) from e
    if cancelled is not None and cancelled():
        raise FrontCancelled("cancelled")
    return FrontResult(front, compromise_picks(front) if front.success else (), prepared.canonical)


def run_front_job(database: str, job_id: str, pool=None) -> str:
    """A front job (service.api_store's api_jobs row `job_id`), reporting only through the
    database, so any API worker can report on it.  Returns the job's final state.

    An exact front's job runs in a thread of the API worker with the API's `pool`, which runs
    its grid points; an evolutionary one is itself a task of that pool (pool None).  A
    cancelled job stops at its next grid point or generation; its pending points never run."""
    import threading
    import time

    from coopchain.service.api_store import HEARTBEAT_S, ApiStore
    from coopchain.service.problems import problem_from_canonical

    store = ApiStore(database)
    stop = threading.Event()  # ends the heartbeat
    heartbeat = None
    try:
        job = store.job(job_id)
        if job is None or job.finished:
            return "missing" if job is None else job.state
        stored = store.problem(job.problem)
        request = FrontRequest(job.request["method"], job.request["points"], tuple(job.request["objectives"]), job.request.get("seed", 0))
        store.job_progress(job_id, "running", 0.0, "started")
        last = [0.0]
        # A heartbeat between progress reports (one grid point can take seconds): a job whose
        # row stops changing is reported lost (service.api_store.LOST_AFTER_S).
        def beat() -> None:
            while not stop.wait(HEARTBEAT_S):
                store.job_heartbeat(job_id)

        heartbeat = threading.Thread(target=beat, name=f"heartbeat-{job_id}", daemon=True)
        heartbeat.start()

        def progress(fraction: float, message: str) -> None:
            now = time.monotonic()
            # One row update per finished grid point; generations come fast: one per tenth of a second.
            if request.method == "augmecon" or now - last[0] >= 0.1:
                last[0] = now
                store.job_progress(job_id, "running", max(0.0, min(1.0, fraction)), message)

        try:
            result = compute_front(problem_from_canonical(stored.canonical), request, progress, lambda: store.job_cancel_requested(job_id), pool)
        except FrontCancelled:
            store.job_finish(job_id, "cancelled", "cancelled on request")
            return "cancelled"
        except (FrontRequestError, ValueError, ArithmeticError) as e:
            store.job_finish(job_id, "failed", str(e))
            return "failed"
        if not result.success:
            store.job_finish(job_id, "failed", result.front.message)
            return "failed"
        store.job_finish(job_id, "done", result.front.message, result.as_json())
        return "done"
    finally:
        stop.set()
        if heartbeat is not None:
            heartbeat.join()  # before the store closes under it
        store.close()
