"""Where the tasks of a front run (SPEC §9): worker processes on this machine, or a Dask cluster.

A front's payoff rows and grid points are task functions of picklable data
(models.augmecon.payoff_row_task, solve_grid_point); this pool runs them.  One pool
serves every front of a process (the API's jobs, a command), so it bounds the work
of all of them together: a second job's points wait for a free process instead of
oversubscribing the cores.  With a Dask scheduler address (COOPCHAIN_DASK) the same
functions run on that cluster; its workers need coopchain installed, nothing else
(the tasks carry their data, and read no database).

Processes, not threads: a grid point holds the GIL in numpy for most of its time.
They are spawned, not forked: a fork of a threaded server may inherit a held lock.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from coopchain.service.lifetime import when_parent_ends


_SHARED_FRONTS = 16  # fronts whose data stays scattered on the Dask cluster


def default_processes() -> int:
    """The cores this process may use (the default of `coopchain front --processes` and of the API)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _end_with_parent() -> None:
    """A pool process's initializer: with its parent gone it has nobody to work for (it would wait for tasks for ever)."""
    when_parent_ends(lambda: os._exit(0))


class FrontPool:
    """`processes` local worker processes, started on first use, or the Dask cluster at `dask`."""

    def __init__(self, processes: int | None = None, dask: str | None = None) -> None:
        self.processes = max(1, processes or default_processes())
        self.dask = dask
        self._executor: ProcessPoolExecutor | None = None
        self._client = None
        self._shared: dict = {}  # GridSpec key -> its scattered Dask future, oldest first
        self._lock = threading.Lock()

    @property
    def width(self) -> int:
        """How many tasks it runs at once: a front keeps this many grid points in flight."""
        if not self.dask:
            return self.processes
        threads = sum(self._dask().nthreads().values())
        return max(1, threads)

    def _dask(self):
        with self._lock:
            if self._client is None:
                from distributed import Client  # only with COOPCHAIN_DASK: the dependency is optional

                self._client = Client(self.dask, set_as_default=False)
            return self._client

    def _scattered(self, client, arg):
        """A front's data (a models.augmecon.GridSpec: the instance) goes to the cluster once, not
        with every grid point (286 KiB at n = 2,000); later tasks name it by its future."""
        key = getattr(arg, "key", None)
        if key is None or not hasattr(arg, "inst"):
            return arg
        with self._lock:
            future = self._shared.get(key)
            if future is None:
                future = self._shared[key] = client.scatter(arg, hash=False)
                while len(self._shared) > _SHARED_FRONTS:
                    self._shared.pop(next(iter(self._shared)))  # dropping the last future frees it on the cluster
            return future

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"), initializer=_end_with_parent)
            return self._executor

    def submit(self, fn, *args) -> Future:
        """Run fn(*args) in the pool; its future (a Dask future on a cluster: same calls)."""
        if self.dask:
            client = self._dask()
            return client.submit(fn, *(self._scattered(client, a) for a in args), pure=False)
        try:
            return self._pool().submit(fn, *args)
        except BrokenProcessPool:
            # A process of the pool died (killed, out of memory): the futures it held fail
            # (their fronts report it); the next task gets a fresh pool.
            with self._lock:
                self._executor = None
            return self._pool().submit(fn, *args)

    def close(self, wait: bool = False) -> None:
        """Stop the pool; pending tasks are cancelled.  `wait` for the running ones (a command
        does, before its interpreter exits; a server stopping does not)."""
        with self._lock:
            self._shared.clear()
            if self._client is not None:
                self._client.close()
                self._client = None
            if self._executor is not None:
                self._executor.shutdown(wait=wait, cancel_futures=True)
                self._executor = None
