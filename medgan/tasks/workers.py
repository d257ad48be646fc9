"""Independent pieces of model work (the batches of a volume) on worker threads, one intra-op thread each.

PyTorch splits every operation over its intra-op threads and waits for all of them at the end of it. When
another process holds one of the cores (a training run on a two-core machine), each of those waits lasts until
the descheduled thread runs again, and a whole-volume run with two intra-op threads takes several times as long
as with one. Workers that each run whole batches on one thread never wait for each other inside an operation:
on free cores they use them all, on a busy machine they take what is left.

The thread count is set for the worker thread alone (``threadpoolctl``, which ships with scikit-learn); other
threads and the process's default keep theirs. Without ``threadpoolctl`` the pieces run one after the other on
the calling thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import torch

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
MAX_WORKERS = 8


def worker_count() -> int:
    """The workers a volume run uses: the calling thread's intra-op thread budget (at most :data:`MAX_WORKERS`),
    or 1 when threads cannot be limited per worker."""
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:
        return 1
    return max(1, min(MAX_WORKERS, torch.get_num_threads()))


def in_workers(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``fn(item)`` for every item, on ``workers`` threads with one intra-op thread each; results in the order
    they finish (the caller reports progress from its own thread). An exception in ``fn`` stops the other
    workers after their current item and is raised here."""
    todo: queue.SimpleQueue[T] = queue.SimpleQueue()
    count = 0
    for item in items:
        todo.put(item)
        count += 1
    if workers <= 1 or count <= 1:
        while count:
            count -= 1
            yield fn(todo.get())
        return
    from threadpoolctl import threadpool_limits

    done: queue.SimpleQueue[tuple[bool, object]] = queue.SimpleQueue()
    stop = threading.Event()

    def work() -> None:
        torch.get_num_threads()  # PyTorch sets a new thread's count on first use: before the limit, not after
        with threadpool_limits(1, user_api="openmp"):
            while not stop.is_set():
                try:
                    item = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    done.put((True, fn(item)))
                except BaseException as exc:  # handed to the caller, which raises it
                    stop.set()
                    done.put((False, exc))
                    return

    threads = [threading.Thread(target=work, name=f"medgan-volume-{k}", daemon=True)
               for k in range(min(workers, count))]
    for t in threads:
        t.start()
    try:
        for _ in range(count):
            ok, value = done.get()
            if not ok:
                raise value  # type: ignore[misc]
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        for t in threads:
            t.join()
