"""Latest-frame mailbox and the worker thread that drains it: latency never grows with load.

The subscription callback only ``offer``s a frame (no work on the executor thread). A frame that is still
waiting when a newer one arrives is dropped and counted, so the worker always runs the newest frame.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestFrameWorker(Generic[T]):
    """One pending slot plus one thread calling ``handler(frame)`` for the newest frame."""

    def __init__(
        self,
        handler: Callable[[T], None],
        on_error: Callable[[BaseException], None],
        name: str = "stdc_ros_worker",
    ) -> None:
        self._handler = handler
        self._on_error = on_error
        self._name = name
        self._cond = threading.Condition()
        self._pending: T | None = None
        self._running = False
        self._thread: threading.Thread | None = None
        self.offered = 0
        self.dropped = 0
        self.handled = 0

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        with self._cond:
            if self._running:
                return
            self._running = True
            self._pending = None
        self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
        self._thread.start()

    def offer(self, frame: T) -> bool:
        """Queue ``frame`` for the worker; returns True when it replaced (dropped) an older waiting frame."""
        with self._cond:
            if not self._running:
                return False
            self.offered += 1
            replaced = self._pending is not None
            if replaced:
                self.dropped += 1
            self._pending = frame
            self._cond.notify()
        return replaced

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop after the frame in progress (the waiting one is discarded); True when the thread ended."""
        with self._cond:
            self._running = False
            self._pending = None
            self._cond.notify_all()
        thread, self._thread = self._thread, None
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._running and self._pending is None:
                    self._cond.wait()
                if not self._running:
                    return
                frame, self._pending = self._pending, None
            try:
                self._handler(frame)  # type: ignore[arg-type]
            except Exception as exc:  # the worker must survive any frame
                self._on_error(exc)
            finally:
                with self._cond:
                    self.handled += 1
