"""The estimate of frames lost before the node, from the stamps of the frames that arrived."""

from __future__ import annotations

import numpy as np
import pytest

from stdc_ros.node.input_gaps import InputGaps

PERIOD = 33_333_333  # 30 Hz
START = 1_700_000_000 * 10**9


def camera(count: int, jitter_ns: int = 0, seed: int = 0) -> np.ndarray:
    """Stamps of a camera at 30 Hz, each moved by up to +-jitter_ns."""
    rng = np.random.default_rng(seed)
    return START + np.arange(count) * PERIOD + rng.integers(-jitter_ns, jitter_ns + 1, count)


def feed(gaps: InputGaps, stamps: np.ndarray) -> None:
    for i, stamp in enumerate(stamps):
        gaps.add(int(stamp), t=i / 30)


def missing_after(kept: np.ndarray, start: int) -> int:
    """Frames really missing between the kept indices, from the ``start``-th kept frame on."""
    return int(np.sum(np.diff(kept[start:]) - 1))


def test_every_frame_arrives_with_jitter() -> None:
    gaps = InputGaps()
    feed(gaps, camera(300, jitter_ns=4_000_000))
    assert gaps.lost == 0 and gaps.gaps == 0
    assert gaps.period_ns() == pytest.approx(PERIOD, rel=0.1)


def test_regular_loss_counted_exactly() -> None:
    stamps = camera(300, jitter_ns=3_000_000)
    kept = np.array([i for i in range(300) if i % 3 != 2])  # every third frame lost
    gaps = InputGaps()
    feed(gaps, stamps[kept])
    # The estimate starts once min_intervals intervals were seen (the loss before that is not counted).
    assert gaps.lost == missing_after(kept, gaps.min_intervals)
    assert gaps.period_ns() == pytest.approx(PERIOD, rel=0.15)


@pytest.mark.parametrize("arrive", [0.9, 0.5, 0.2])
def test_heavy_random_loss_still_measures_the_period(arrive: float) -> None:
    """With most frames lost the median interval is a gap; the estimate still finds the camera period."""
    rng = np.random.default_rng(1)
    kept = np.flatnonzero(rng.random(3000) < arrive)
    gaps = InputGaps(max_gap_periods=1000)
    feed(gaps, camera(3000, jitter_ns=2_000_000)[kept])
    assert gaps.period_ns() == pytest.approx(PERIOD, rel=0.1)
    truth = missing_after(kept, gaps.min_intervals)
    assert gaps.lost == pytest.approx(truth, rel=0.05, abs=2)


def test_nothing_estimated_from_too_few_frames_or_unstamped_ones() -> None:
    gaps = InputGaps()
    feed(gaps, camera(20)[::2][: gaps.min_intervals])
    assert gaps.period_ns() is None and gaps.lost == 0
    unstamped = InputGaps()
    for _ in range(50):
        unstamped.add(0)
    assert unstamped.period_ns() is None and unstamped.lost == 0


def test_a_pause_or_a_restart_is_not_loss() -> None:
    gaps = InputGaps()
    feed(gaps, camera(40))
    gaps.add(START + 40 * PERIOD + 60 * 10**9)  # the camera paused for a minute
    gaps.add(START)  # a bag started again: time went back
    feed(gaps, camera(40)[1:])
    assert gaps.lost == 0


def test_recent_counts_only_the_last_seconds() -> None:
    gaps = InputGaps(recent_s=5.0)
    stamps = camera(200)
    for i in range(200):
        if i not in (20, 21, 150):
            gaps.add(int(stamps[i]), t=i / 30)
    assert gaps.lost == 3 and gaps.gaps == 2
    assert gaps.recent(now=199 / 30) == 1  # the gap at frame 150 (1.6 s ago); 20-21 were 5.9 s ago
    gaps.reset()
    assert (gaps.lost, gaps.recent(now=10.0), gaps.period_ns()) == (0, 0, None)


def test_another_source_starts_over() -> None:
    """A camera switched to another size (or another camera) after a pause: a new stream, not lost frames."""
    gaps = InputGaps()
    for i, stamp in enumerate(camera(40)):
        gaps.add(int(stamp), i / 30, source=("cam", 480, 640))
    later = camera(40) + 10 * PERIOD  # 10 periods later, at another size
    for i, stamp in enumerate(later):
        gaps.add(int(stamp), 2 + i / 30, source=("cam", 1080, 1920))
    assert gaps.lost == 0
    assert gaps.period_ns() == pytest.approx(PERIOD, rel=0.01)
