"""The bounded pool that runs front jobs: worker processes (one per core by default), started on first use,
or an existing Dask cluster (COOPCHAIN_DASK=tcp://scheduler:8786) running the same task function.

Processes, not threads: a front holds the GIL in numpy and HiGHS callbacks for
seconds, and the API must keep answering meanwhile.  The task function
(service.fronts.run_front_job) reads and writes the job's row only, so the pool
needs nothing back from it; a crashed process marks its job failed.  On Dask, the workers need
coopchain installed and the database reachable (a PostgreSQL URL; a SQLite path only when they
share this machine's disk)."""

from __future__ import annotations

import logging
import multiprocessing
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from coopchain.service.api_store import ApiStore
from coopchain.service.fronts import run_front_job

log = logging.getLogger("coopchain.api.jobs")


class JobPool:
    def __init__(self, database: str, processes: int, store: ApiStore, dask: str | None = None) -> None:
        self.database, self.processes, self.store, self.dask = database, processes, store, dask
        self._executor: ProcessPoolExecutor | None = None
        self._dask_client = None
        self._futures: set = set()  # held until done: Dask cancels a task whose last future is dropped
        self._lock = threading.Lock()

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                # spawn: a fork of a threaded server process may inherit a held lock.
                self._executor = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"))
            return self._executor

    def _client(self):
        with self._lock:
            if self._dask_client is None:
                from distributed import Client  # only with COOPCHAIN_DASK: the dependency is optional

                self._dask_client = Client(self.dask, set_as_default=False)
            return self._dask_client

    def submit(self, job_id: str) -> None:
        if self.dask:
            future = self._client().submit(run_front_job, self.database, job_id, key=f"run_front_job-{job_id}")
        else:
            try:
                future = self._pool().submit(run_front_job, self.database, job_id)
            except BrokenProcessPool:
                # A process of the pool died (killed, out of memory): its job is marked failed by
                # the callback; this job gets a fresh pool.
                with self._lock:
                    self._executor = None
                future = self._pool().submit(run_front_job, self.database, job_id)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(lambda f, job_id=job_id: self._finished(job_id, f))

    def _finished(self, job_id: str, future: Future) -> None:
        with self._lock:
            self._futures.discard(future)
        error = None if future.cancelled() else future.exception()
        if error is not None:
            log.error("front job %s failed: %r", job_id, error)
            self.store.job_finish(job_id, "failed", f"the job's process failed: {type(error).__name__}")

    def close(self) -> None:
        with self._lock:
            if self._dask_client is not None:
                self._dask_client.close()
                self._dask_client = None
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
