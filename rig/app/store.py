"""A small thread-safe store keyed by random ids that drops its least recently used entry past a limit.

Why: the app keeps each open page's face (rig.app.engine) and each Live page's camera session
(rig.app.camera) this way; both are reached from Gradio's queue and FastAPI's threads at once.
"""
from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")


class LruStore(Generic[V]):
    """At most `limit` values under random hex keys; add() and a found get() make a value the most recent."""

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError(f"an LruStore keeps at least one value, not {limit}")
        self.limit = int(limit)
        self._items: OrderedDict[str, V] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, value: V) -> str:
        """Store a value under a new random key (the oldest values dropped past the limit); returns the key."""
        key = uuid.uuid4().hex
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.limit:
                self._items.popitem(last=False)
        return key

    def get(self, key: str | None) -> V | None:
        """The value under `key`, now the most recent; None when there is none (never stored, or dropped)."""
        with self._lock:
            value = self._items.get(key or "")
            if value is not None:
                self._items.move_to_end(key)
        return value

    def values(self) -> list[V]:
        """The stored values, least recently used first (a copy)."""
        with self._lock:
            return list(self._items.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
