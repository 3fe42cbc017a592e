"""A model load (the runtime factory call) on its own thread.

Loading a model, and above all a first TensorRT engine build (minutes on a Jetson), must not hold the executor:
the node's configure waits on this thread while its diagnostics timer (its own callback group) keeps publishing
the load's progress, and with ``autostart`` the load runs before the configure transition even starts, so the
lifecycle services answer throughout. ``cancel`` (node shutdown) releases the waiter at once; a runtime that
finishes loading after that is closed, never leaked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..runtime import SegmentationRuntime
from .ros_logging import logging_to

Loader = Callable[[Callable[[str], None]], SegmentationRuntime]


class LoadCancelled(Exception):
    """The load was cancelled (the node is shutting down) before its runtime was handed over."""


class ModelLoad:
    """``loader(progress)`` run once on a daemon thread; ``wait`` hands over its runtime or raises its error."""

    def __init__(self, loader: Loader, model: Path, ros_logger: Any | None = None, first_step: str = "") -> None:
        self.model = model
        self._loader = loader
        self._ros_logger = ros_logger
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._wake = threading.Event()  # set when finished or cancelled
        self._cancelled = False
        self._taken = False
        self._runtime: SegmentationRuntime | None = None
        self._error: BaseException | None = None
        self._progress = first_step or "loading model"
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="stdc_ros_model_load", daemon=True)

    def start(self) -> ModelLoad:
        self._thread.start()
        return self

    # ------------------------------------------------------------------ status (any thread)
    def report(self, text: str) -> None:
        """Progress callback for the backend (the tensorrt backend's ``progress`` option)."""
        with self._lock:
            self._progress = str(text).strip() or self._progress

    @property
    def progress(self) -> str:
        with self._lock:
            return self._progress

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    # ------------------------------------------------------------------ result
    def wait(self, timeout: float | None = None) -> SegmentationRuntime:
        """Block until the load ends; its runtime (handed over once), or its exception, or LoadCancelled."""
        if not self._wake.wait(timeout):
            raise TimeoutError(f"model load still running after {timeout} s")
        with self._lock:
            if self._cancelled:
                raise LoadCancelled("configure cancelled: the node is shutting down")
            if self._error is not None:
                raise self._error
            if self._taken or self._runtime is None:
                raise RuntimeError("the loaded runtime was already handed over")
            self._taken = True
            return self._runtime

    def cancel(self) -> None:
        """Release any waiter; close the runtime if it was loaded but never handed over (now or when it ends)."""
        with self._lock:
            self._cancelled = True
            orphan = self._runtime if not self._taken else None
            self._runtime = None
        self._wake.set()
        if orphan is not None:
            orphan.close()

    def _run(self) -> None:
        runtime: SegmentationRuntime | None = None
        error: BaseException | None = None
        try:
            if self._ros_logger is not None:
                with logging_to(self._ros_logger):
                    runtime = self._loader(self.report)
            else:
                runtime = self._loader(self.report)
        except BaseException as exc:  # handed to the waiter (configure reports it in one line)
            error = exc
        with self._lock:
            cancelled = self._cancelled
            if not cancelled:
                self._runtime, self._error = runtime, error
        if cancelled and runtime is not None:
            runtime.close()
        self._finished.set()
        self._wake.set()
