"""Frames lost before the node, estimated from the header stamps of the frames that did arrive.

A camera stamps its frames at a steady period; a frame lost on the way (best-effort DDS, a frame too large for the
transport) leaves a gap of a whole number of periods between the stamps that arrive. The period is measured from
the stamps themselves: the median of the intervals near the shortest ones (within 1.5x of their 10th percentile).
A plain median would do with light loss, but when most frames are lost (as with 1080p frames over default Fast DDS
settings) the median interval is itself a gap; the short end of the distribution is still the camera period as long
as some frames arrive back to back, and a few early or late frames do not move it. Intervals longer than
``max_gap_periods`` periods are a paused or restarted camera, not loss; stamps going back (a looping bag, a clock
reset) or another ``source`` (frame id or image size: another camera or mode) start the measurement over.
Frames the node itself drops (newest-frame policy) arrive and are not counted here.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np


@dataclass
class InputGaps:
    """Feed ``add(stamp_ns, t)`` for every frame received (any thread-safety is the caller's)."""

    window: int = 64  # intervals kept for the period estimate
    min_intervals: int = 8  # no estimate before this many
    max_gap_periods: float = 30.0  # longer silences are pauses, not loss
    recent_s: float = 5.0  # the "recent" count covers gaps seen within this many seconds (caller's clock)
    _intervals: deque[int] = field(default_factory=deque, repr=False)
    _last_stamp: int | None = field(default=None, repr=False)
    _source: object = field(default=None, repr=False)
    _recent: deque[tuple[float, int]] = field(default_factory=deque, repr=False)
    lost: int = 0  # estimated frames lost before the node, since the last reset
    gaps: int = 0  # intervals that had at least one frame missing

    def reset(self) -> None:
        self._intervals.clear()
        self._recent.clear()
        self._last_stamp = None
        self.lost = self.gaps = 0

    def period_ns(self) -> float | None:
        """The camera period measured from the stamps, or None with too few intervals."""
        if len(self._intervals) < self.min_intervals:
            return None
        intervals = np.fromiter(self._intervals, float)
        short = intervals[intervals <= 1.5 * np.percentile(intervals, 10)]
        return float(np.median(short))

    def add(self, stamp_ns: int, t: float = 0.0, source: object = None) -> int:
        """Account one arriving frame stamped ``stamp_ns`` (received at ``t`` on the caller's clock) from ``source``;
        returns the frames estimated missing just before it."""
        if source != self._source:
            self._source, self._last_stamp = source, None
            self._intervals.clear()
        last, self._last_stamp = self._last_stamp, stamp_ns
        if stamp_ns == 0 or last is None or last == 0:
            return 0  # unstamped frames carry no timing
        interval = stamp_ns - last
        if interval <= 0:
            self._intervals.clear()  # time went back: a new recording or clock, measure the period again
            return 0
        period = self.period_ns()
        self._intervals.append(interval)
        while len(self._intervals) > self.window:
            self._intervals.popleft()
        if period is None or interval > self.max_gap_periods * period:
            return 0
        missing = max(0, round(interval / period) - 1)
        if missing:
            self.lost += missing
            self.gaps += 1
            self._recent.append((t, missing))
        return missing

    def recent(self, now: float) -> int:
        """Frames estimated lost within the last ``recent_s`` seconds (``now`` on the clock given to ``add``)."""
        while self._recent and self._recent[0][0] < now - self.recent_s:
            self._recent.popleft()
        return sum(n for _, n in self._recent)
