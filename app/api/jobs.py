"""The front jobs of one API worker: one bounded pool (service.front_pool.FrontPool: worker
processes, one per core by default, or an existing Dask cluster with COOPCHAIN_DASK=tcp://scheduler:8786)
shared by all of them.

An exact front's job is walked by a thread here (service.fronts.run_front_job with the pool):
the thread only dispatches grid points to the pool, commits their outcomes in AUGMECON2's order
and writes progress to the job's row; the points run on the pool's processes, so two jobs share
the cores instead of oversubscribing them.  An evolutionary job (a generation loop, not a grid)
is one task of the pool.  Jobs report only through the database, so any API worker can report
on any job; a crashed process fails the job it served.  On Dask, the workers need coopchain
installed; for evolutionary jobs they also need the database (a PostgreSQL URL; a SQLite path
only when they share this machine's disk)."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from coopchain.service.api_store import ApiStore
from coopchain.service.front_pool import FrontPool
from coopchain.service.fronts import run_front_job

log = logging.getLogger("coopchain.api.jobs")


class JobPool:
    def __init__(self, database: str, processes: int, store: ApiStore, dask: str | None = None, walkers: int = 8) -> None:
        self.database, self.processes, self.store, self.dask = database, processes, store, dask
        self.pool = FrontPool(processes, dask)
        # One thread per running exact front; they wait on the pool most of the time.
        self._walkers = ThreadPoolExecutor(walkers, thread_name_prefix="front-job")
        self._futures: set = set()  # held until done: Dask cancels a task whose last future is dropped
        self._lock = threading.Lock()

    def submit(self, job_id: str, method: str = "augmecon") -> None:
        if method == "augmecon":
            future = self._walkers.submit(run_front_job, self.database, job_id, self.pool)
        else:
            future = self.pool.submit(run_front_job, self.database, job_id)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(lambda f, job_id=job_id: self._finished(job_id, f))

    def _finished(self, job_id: str, future: Future) -> None:
        with self._lock:
            self._futures.discard(future)
        error = None if future.cancelled() else future.exception()
        if error is not None:
            log.error("front job %s failed: %r", job_id, error)
            self.store.job_finish(job_id, "failed", f"a process of the front pool failed: {type(error).__name__}")

    def close(self) -> None:
        self._walkers.shutdown(wait=False, cancel_futures=True)
        self.pool.close()
