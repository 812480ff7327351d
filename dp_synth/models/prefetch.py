"""Compute items ahead in background threads, handed out in order (sampling overlapped with writing).

PyTorch, numpy and the warehouse's insert release the GIL, so on two cores two threads each draw, decode
and insert a batch side by side (``SynthModel.map_batches``). Items arrive in index order, so the output is the
same as computing them one by one; no thread runs more than ``depth`` items ahead of the caller; an error
is raised in the caller when it reaches that item; a caller that stops early stops the threads.

>>> list(ordered_map(lambda i: i * i, 5, workers=2))
[0, 1, 4, 9, 16]
"""

from __future__ import annotations

import threading
from typing import Callable, Iterator, TypeVar

__all__ = ["ordered_map", "THREAD_NAME"]

T = TypeVar("T")
THREAD_NAME = "dp-synth-prefetch"


def ordered_map(fn: Callable[[int], T], n: int, workers: int = 1, depth: int | None = None) -> Iterator[T]:
    """``fn(0), fn(1), …, fn(n-1)`` computed by ``workers`` threads, at most ``depth`` (default
    ``workers + 1``) items ahead of the caller, yielded in order."""
    depth = max(1, depth if depth is not None else workers + 1)
    cond = threading.Condition()
    done: dict[int, tuple[bool, object]] = {}
    state = {"next": 0, "taken": 0, "stop": False}

    def run() -> None:
        while True:
            with cond:
                while not state["stop"] and state["next"] < n and state["next"] >= state["taken"] + depth:
                    cond.wait()
                if state["stop"] or state["next"] >= n:
                    return
                i = state["next"]
                state["next"] += 1
            try:
                result = (True, fn(i))
            except BaseException as e:  # handed to the caller, raised when it reaches item i
                result = (False, e)
            with cond:
                done[i] = result
                cond.notify_all()

    threads = [threading.Thread(target=run, name=THREAD_NAME, daemon=True) for _ in range(max(1, workers))]
    for t in threads:
        t.start()
    try:
        for i in range(n):
            with cond:
                while i not in done:
                    cond.wait()
                ok, value = done.pop(i)
                state["taken"] = i + 1
                cond.notify_all()
            if not ok:
                raise value  # type: ignore[misc]
            yield value  # type: ignore[misc]
    finally:
        with cond:
            state["stop"] = True
            cond.notify_all()
        for t in threads:
            t.join(timeout=5)
