"""Child processes that end with the process that started them.

A process killed by SIGKILL (the OOM killer, an operator, a supervisor's last resort)
cannot stop its children: an API worker left behind keeps serving on the shared
SO_REUSEPORT port beside the next server started there, and a front pool's worker
waits for tasks for ever.  Every multiprocessing child holds its parent's sentinel,
which becomes readable when the parent ends; a daemon thread waits on it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from multiprocessing import connection, parent_process


def when_parent_ends(action: Callable[[], None]) -> None:
    """Run `action` in this multiprocessing child once its parent has ended (nothing outside such a child)."""
    parent = parent_process()
    if parent is None:
        return

    def watch() -> None:
        connection.wait([parent.sentinel])
        action()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
