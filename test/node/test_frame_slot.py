"""Latest-frame worker: newest frame wins, older waiting frames are dropped and counted, errors don't kill it."""

from __future__ import annotations

import threading
import time

from stdc_ros.node.frame_slot import LatestFrameWorker


def test_newest_frame_wins_and_drops_are_counted() -> None:
    handled: list[int] = []
    gate = threading.Event()

    def handler(frame: int) -> None:
        gate.wait(5)
        handled.append(frame)

    worker: LatestFrameWorker[int] = LatestFrameWorker(handler, lambda exc: None)
    worker.start()
    worker.offer(0)  # taken by the worker, which then blocks on the gate
    assert _wait(lambda: worker.offered == 1 and worker._pending is None)
    replaced = [worker.offer(i) for i in range(1, 6)]  # 1..4 are overwritten by their successors
    assert replaced == [False, True, True, True, True]
    gate.set()
    assert _wait(lambda: worker.handled == 2)
    assert handled == [0, 5]
    assert worker.dropped == 4
    assert worker.stop()


def test_handler_errors_are_reported_and_the_worker_keeps_going() -> None:
    errors: list[BaseException] = []
    handled: list[int] = []

    def handler(frame: int) -> None:
        if frame == 1:
            raise RuntimeError("boom")
        handled.append(frame)

    worker: LatestFrameWorker[int] = LatestFrameWorker(handler, errors.append)
    worker.start()
    for frame in (1, 2):
        worker.offer(frame)
        assert _wait(lambda n=frame: worker._pending is None and worker.handled >= n)
    assert [str(e) for e in errors] == ["boom"] and handled == [2]
    assert worker.stop()


def test_stop_discards_the_waiting_frame_and_offers_are_ignored_while_stopped() -> None:
    worker: LatestFrameWorker[int] = LatestFrameWorker(lambda f: time.sleep(0.2), lambda exc: None)
    assert worker.offer(1) is False and worker.offered == 0
    worker.start()
    worker.offer(1)
    worker.offer(2)
    assert worker.stop(timeout=5)
    assert not worker.running and worker.handled <= 1
    worker.start()  # restartable (activate after deactivate)
    worker.offer(3)
    assert _wait(lambda: worker.handled >= 2 or (worker.handled == 1 and worker._pending is None))
    assert worker.stop()


def _wait(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())
