"""The reporter's render processes: charts and PDF drawn on every core, not in threads behind one GIL.

Rendering (matplotlib, fpdf2) is CPU-bound Python: in `asyncio.to_thread` the reporter's concurrent
reports (its consumer's `max_ack_pending`) share one core between them, however many the machine
has, and starve the event loop that sends their progress acknowledgements. Here they run in a
process pool of one worker per usable core (at most `MAX_WORKERS`), started with `spawn` (never
`fork` from a process that holds NATS and S3 connections and threads) and warmed when the pool is
made, so no report pays for importing matplotlib. The pool is one per process, started by the
reporter when it starts (`warm`), else on first use.

A worker whose reporter dies (SIGKILL leaves no time to shut the pool down) notices within a second
that its parent changed and exits, so killed reporters leave no orphans. A worker that dies
mid-report breaks the pool: it is replaced and the report rendered once more.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

log = logging.getLogger(__name__)

# No more workers than reports in flight at once (services/kit/worker.py: max_ack_pending=4).
MAX_WORKERS = 4
_PARENT_POLL_S = 1.0

R = TypeVar("R")

_pool: ProcessPoolExecutor | None = None
_lock = threading.Lock()


def worker_count() -> int:
    """One worker per core this process may run on (every core where affinity is unknown: macOS),
    at most MAX_WORKERS."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cores))


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_S)
    os._exit(0)


def _init_worker(parent: int) -> None:
    """In each worker: exit when the reporter is gone, and import the renderers now, not per report."""
    threading.Thread(target=_watch_parent, args=(parent,), name="parent-watch", daemon=True).start()
    import services.reporter.main  # noqa: F401  (matplotlib, fpdf2 and the report modules)


def _ready() -> int:
    return os.getpid()


def _make_pool() -> ProcessPoolExecutor:
    workers = worker_count()
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(os.getpid(),),
    )
    # start and warm every worker now (a spawned pool starts workers only as work arrives)
    for future in [pool.submit(_ready) for _ in range(workers)]:
        future.result()
    log.info("reporter render pool: %d processes", workers)
    return pool


def _get_pool() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = _make_pool()
        return _pool


def warm() -> None:
    """Start the pool in the background (a service does at start-up; the first report then waits
    for no spawning or importing)."""
    threading.Thread(target=_get_pool, name="render-pool-start", daemon=True).start()


def _replace(broken: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is broken:
            _pool = None
    broken.shutdown(wait=False, cancel_futures=True)


async def render_in_pool(fn: Callable[..., R], *args: Any) -> R:
    """`fn(*args)` in a render process (arguments and result pickled); once more on a fresh pool
    when a worker died under it."""
    loop = asyncio.get_running_loop()
    for attempt in (1, 2):
        pool = await asyncio.to_thread(_get_pool)
        try:
            return await loop.run_in_executor(pool, fn, *args)
        except BrokenProcessPool:
            log.warning("a render process died (attempt %d); starting a new pool", attempt)
            _replace(pool)
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def shutdown() -> None:
    """Stop the workers (tests; at interpreter exit concurrent.futures joins them itself)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)
