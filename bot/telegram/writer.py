"""The answer path's writes, off the event loop: one background thread with its own SQLite
connection applies them in order, so a reply never waits for SQLite's write lock (held, say,
by an ingest in another process). Reads go on through the bot's own connection: the store is
in WAL mode, where readers never wait for a writer.
"""

from __future__ import annotations

import atexit
import logging
import queue
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable

from ..db import Store

log = logging.getLogger("marketbot.writer")

Job = Callable[[Store], None]
_STOP = object()


class StateWriter:
    """A bounded queue of writes and the one thread that applies them."""

    def __init__(self, path: str, *, maxsize: int = 10_000) -> None:
        self.path = path
        self._jobs: queue.Queue = queue.Queue(maxsize)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closing = False
        self._store: Store | None = None  # opened by the thread, used only there
        self.dropped = 0
        self.written = 0

    def submit(self, job: Job) -> bool:
        """Queue a write; False (and it is dropped, with a warning) when the queue is full.

        Losing a statistics row under extreme load is better than stalling every answer.
        """
        if self._closing:
            return False
        self._ensure_thread()
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("write queue full: %d write(s) dropped", self.dropped)
            return False
        return True

    def _ensure_thread(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="marketbot-writer", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is _STOP:
                    if self._store is not None:
                        self._store.close()
                    return
                self._apply(job)
            finally:
                self._jobs.task_done()

    def _apply(self, job: Job) -> None:
        delay = 0.1
        while True:
            try:
                if self._store is None:
                    self._store = Store(self.path)
                job(self._store)
                self.written += 1
                return
            except sqlite3.OperationalError as e:
                # Locked past the busy timeout (a long ingest): keep the write, try again.
                if "locked" not in str(e) and "busy" not in str(e):
                    log.exception("a background write failed")
                    return
                if self._closing:
                    log.warning("store still locked at shutdown: one write not kept")
                    return
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
            except Exception:
                log.exception("a background write failed")
                return

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued write is applied (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._jobs.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Apply what is queued (up to ``timeout``) and stop the thread."""
        if self._thread is None or self._closing:
            self._closing = True
            return
        self.flush(timeout)
        self._closing = True
        self._jobs.put(_STOP)
        self._thread.join(timeout)


_writers: weakref.WeakKeyDictionary[Store, StateWriter] = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def writer_for(store: Store) -> StateWriter:
    """The one writer of this store object (made on first use)."""
    with _writers_lock:
        writer = _writers.get(store)
        if writer is None:
            writer = _writers[store] = StateWriter(str(store.path))
        return writer


def close_writer(store: Store) -> None:
    with _writers_lock:
        writer = _writers.pop(store, None)
    if writer is not None:
        writer.close()


@atexit.register
def _close_all() -> None:  # a stopping bot keeps what it had queued
    for writer in list(_writers.values()):
        writer.close(timeout=5.0)
