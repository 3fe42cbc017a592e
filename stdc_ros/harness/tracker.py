"""Frames in flight and their outputs: which frames came back whole, which were lost, and how long labels took.

No ROS here: the client calls ``sent`` when it publishes a frame and ``arrived`` from its subscriptions; the stream
loop waits on ``cond``. Every frame carries a unique stamp that the node keeps on each of its outputs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class StreamStats:
    """What one stream of frames produced, seen from the consumer side."""

    sent: int = 0
    received: int = 0  # sent frames for which every subscribed output came back
    lost: int = 0  # sent frames whose output never came (dropped in the node's slot or by best-effort QoS)
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    per_topic: dict[str, int] = field(default_factory=dict)

    @property
    def rate_hz(self) -> float:
        return self.received / self.seconds if self.seconds > 0 else 0.0

    def latency_ms(self, q: float) -> float | None:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else None


class FrameTracker:
    """Matches outputs to frames by stamp. A frame is complete once every tracked output of it arrived; its latency
    is measured to its ``labels``. Thread-safe: ``arrived`` runs on the executor thread, the rest on the caller's."""

    def __init__(self, outputs: Sequence[str]) -> None:
        self.outputs = tuple(outputs)
        self.cond = threading.Condition()
        self.in_flight: dict[int, float] = {}  # stamp ns -> send time (monotonic)
        self._missing: dict[int, set[str]] = {}  # stamp ns -> outputs of that frame not yet received
        self.latencies_ms: list[float] = []
        self.per_topic: dict[str, int] = dict.fromkeys(self.outputs, 0)
        self.received = 0
        self.lost = 0

    def sent(self, stamp: int, t: float) -> None:
        with self.cond:
            self.in_flight[stamp] = t
            self._missing[stamp] = set(self.outputs)

    def arrived(self, topic: str, stamp: int, t: float) -> None:
        """Count ``topic`` for its frame; the frame is complete (its slot frees) once every output arrived."""
        if topic not in self.per_topic:
            return
        with self.cond:
            self.per_topic[topic] += 1
            missing = self._missing.get(stamp)
            if missing is None:
                return
            if topic == "labels" and stamp in self.in_flight:
                self.latencies_ms.append((t - self.in_flight[stamp]) * 1000.0)
            missing.discard(topic)
            if missing:
                return
            del self._missing[stamp]
            self.in_flight.pop(stamp, None)
            self.received += 1
            # The node handles frames in order and every topic keeps its order, so an older frame still incomplete
            # now never comes: it was dropped (newest-frame policy or best-effort input).
            for older in [s for s in self.in_flight if s < stamp]:
                self._forget(older)
                self.lost += 1
            self.cond.notify_all()

    def _forget(self, stamp: int) -> None:
        del self.in_flight[stamp]
        self._missing.pop(stamp, None)

    def expire(self, older_than_s: float) -> int:
        """Forget frames in flight for longer than ``older_than_s`` (at least the oldest one); how many.
        The caller holds ``cond``."""
        limit = time.monotonic() - older_than_s
        stale = [s for s, t in self.in_flight.items() if t < limit] or list(self.in_flight)[:1]
        for stamp in stale:
            self._forget(stamp)
        return len(stale)

    def clear_in_flight(self) -> None:
        with self.cond:
            self.in_flight.clear()
            self._missing.clear()

    def reset(self) -> None:
        with self.cond:
            self.clear_in_flight()
            self.latencies_ms = []
            self.received = 0
            self.lost = 0
            self.per_topic = dict.fromkeys(self.outputs, 0)
