"""rig.app.store.LruStore: the bounded store of the app's pages (rig.app.engine) and Live sessions (rig.app.camera)."""
from __future__ import annotations

import threading

import pytest

from rig.app.store import LruStore


def test_the_least_recently_used_value_is_dropped_past_the_limit():
    store = LruStore(3)
    a, b, c = (store.add(name) for name in "abc")
    assert len({a, b, c}) == 3 and all(len(k) == 32 for k in (a, b, c))
    assert store.get(a) == "a"                   # a is now the most recent: b is the oldest
    d = store.add("d")
    assert store.get(b) is None and len(store) == 3
    assert [store.get(k) for k in (a, c, d)] == ["a", "c", "d"]
    assert store.values() == ["a", "c", "d"]     # least recently used first
    assert store.get(None) is None and store.get("") is None and store.get("nope") is None


def test_a_store_keeps_at_least_one_value():
    with pytest.raises(ValueError, match="at least one"):
        LruStore(0)


def test_adds_from_many_threads_keep_the_limit():
    store = LruStore(5)
    keys: list[str] = []

    def add_many(n: int) -> None:
        for i in range(200):
            keys.append(store.add((n, i)))
            store.get(keys[-1])

    threads = [threading.Thread(target=add_many, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store) == 5 and len(set(keys)) == 800
    assert sum(store.get(k) is not None for k in keys) == 5


def test_camera_sessions_are_dropped_past_max_sessions(tmp_path):
    from rig.app.camera import MAX_SESSIONS, Cameras, CameraSession

    cams = Cameras(None, tmp_path)
    first = cams._sessions.add(CameraSession(live=None))
    later = [cams._sessions.add(CameraSession(live=None)) for _ in range(MAX_SESSIONS)]
    with pytest.raises(KeyError, match="no longer open"):
        cams.get(first)
    assert cams.get(later[-1]).live is None
    with pytest.raises(KeyError):
        cams.get(None)
