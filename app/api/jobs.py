"""The bounded pool that runs front jobs: worker processes (one per core by default), started on first use.

Processes, not threads: a front holds the GIL in numpy and HiGHS callbacks for
seconds, and the API must keep answering meanwhile.  The task function
(service.fronts.run_front_job) reads and writes the job's row only, so the pool
needs nothing back from it; a crashed process marks its job failed."""

from __future__ import annotations

import logging
import multiprocessing
import threading
from concurrent.futures import Future, ProcessPoolExecutor

from coopchain.service.api_store import ApiStore
from coopchain.service.fronts import run_front_job

log = logging.getLogger("coopchain.api.jobs")


class JobPool:
    def __init__(self, database: str, processes: int, store: ApiStore) -> None:
        self.database, self.processes, self.store = database, processes, store
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                # spawn: a fork of a threaded server process may inherit a held lock.
                self._executor = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"))
            return self._executor

    def submit(self, job_id: str) -> None:
        future = self._pool().submit(run_front_job, self.database, job_id)
        future.add_done_callback(lambda f, job_id=job_id: self._finished(job_id, f))

    def _finished(self, job_id: str, future: Future) -> None:
        error = future.exception()
        if error is not None:
            log.error("front job %s failed: %r", job_id, error)
            self.store.job_finish(job_id, "failed", f"the job's process failed: {type(error).__name__}")

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
