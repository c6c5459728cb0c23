"""Cache writes off the critical path: finished batches go to a queue that one writer thread
commits to the feature cache while the networks run on.

The queue is bounded (a slow disk slows the pass instead of filling memory), and closing the
writer commits everything queued — also when the pass is interrupted, so an interrupted run
resumes from every batch that finished. An exception in the writer is raised in the caller's
thread at its next ``put`` or at ``close``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from genmetrics.features.cache import FeatureCache

_STOP = object()


class CacheWriter:
    """``put(backbone_key, rows)`` queues ``cache.put_many(backbone_key, rows)``; a no-op
    without a cache. Use as a context manager."""

    def __init__(self, cache: FeatureCache | None, depth: int = 16) -> None:
        self.cache = cache
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if cache is not None:
            self._thread = threading.Thread(target=self._run, name="genmetrics-cache-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            if self._error is None:
                try:
                    job()
                except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
                    self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def submit(self, job: Callable[[], None]) -> None:
        self._raise()
        if self._thread is None:
            return
        self._queue.put(job)

    def put(self, backbone_key: str, rows: list) -> None:
        if self.cache is not None and rows:
            cache = self.cache
            self.submit(lambda: cache.put_many(backbone_key, rows))

    def close(self) -> None:
        """Commit everything queued, then stop the thread; raises a writer error."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None
        self._raise()

    def __enter__(self) -> CacheWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:  # keep the finished batches, but let the original exception through
            try:
                self.close()
            except Exception:  # noqa: BLE001
                pass
