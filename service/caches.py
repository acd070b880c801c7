"""What a process keeps of an append-only ledger: answers that can never change, and state per open ledger.

A block, once stored, is final, and so is every answer read from it (a header, a committed
transaction, its receipt, a proof in the tree of a given size): kept, it is never stale, and a
bounded `Recent` drops the least recently used first.  `PerLedger` holds one such keeper (a
cache, an index advanced block by block) per open ledger, weakly: a ledger closed and forgotten
takes its keeper with it.  The service's reads and the API's fast lane use both.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Recent:
    """At most `capacity` values by key, the least recently used dropped first; safe across threads.

    `None` is no value: `get` answers None for a key it does not hold."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.entries: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            value = self.entries.get(key)
            if value is not None:
                self.entries.move_to_end(key)
            return value

    def put(self, key, value):
        """Keep `value` under `key` and return it."""
        with self.lock:
            self.entries[key] = value
            if len(self.entries) > self.capacity:
                self.entries.popitem(last=False)
        return value


class PerLedger(Generic[T]):
    """One object per open ledger, made by `make()` on first use; `keeper(ledger)` is that ledger's."""

    def __init__(self, make: Callable[[], T]) -> None:
        self.make = make
        self.objects: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.lock = threading.Lock()

    def __call__(self, ledger) -> T:
        with self.lock:
            found = self.objects.get(ledger)
            if found is None:
                found = self.objects[ledger] = self.make()
            return found
