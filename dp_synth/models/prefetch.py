"""Run an iterator one step ahead in a background thread (sampling overlapped with writing).

PyTorch and the warehouse's insert both release the GIL, so on two cores the generator draws the
next batch while the caller decodes and writes this one. Items arrive in order, so the output is the
same as without the thread; an error in the thread is raised in the caller; a caller that stops early
stops the thread.

>>> list(prefetched(iter(range(5))))
[0, 1, 2, 3, 4]
"""

from __future__ import annotations

import queue
import threading
from typing import Iterator, TypeVar

__all__ = ["prefetched"]

T = TypeVar("T")
_END = object()


def prefetched(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(x) -> bool:
        while not stop.is_set():
            try:
                q.put(x, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for x in items:
                if not put((x,)):
                    return
            put(_END)
        except BaseException as e:  # handed to the caller, raised there
            put(e)

    worker = threading.Thread(target=run, name="dp-synth-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            x = q.get()
            if x is _END:
                return
            if isinstance(x, BaseException):
                raise x
            yield x[0]
    finally:
        stop.set()
        worker.join(timeout=5)
