"""Bad messages through the REAL node over DDS: each is refused and counted, the warning is rate-limited, and the
next good frame is processed as if nothing happened (raw Image and CompressedImage transports)."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from sensor_msgs.msg import CompressedImage, Image

from stdc_ros.image_codec import encode_compressed, encode_image

pytestmark = [pytest.mark.ros]

MAX_PIXELS = 6000  # a 60x80 frame (4800 pixels) passes, an 80x100 one does not


def bad_raw_messages(rgb: np.ndarray) -> list[tuple[str, Image]]:
    """One of each way a raw Image can be inconsistent (and a few at once)."""
    height, width = rgb.shape[:2]
    step, data = encode_image(rgb, "rgb8")

    def msg(
        encoding: str = "rgb8", h: int = height, w: int = width, s: int = step, payload: bytes = data, big: int = 0
    ) -> Image:
        m = Image(height=h, width=w, encoding=encoding, step=s, is_bigendian=big)
        m.data = payload
        return m

    big_step, big_data = encode_image(np.zeros((80, 100, 3), np.uint8), "rgb8")
    cases = [
        ("unknown encoding", msg(encoding="hsv8")),
        ("empty encoding", msg(encoding="")),
        ("float encoding", msg(encoding="32FC1")),
        ("0x0", msg(h=0, w=0, s=0, payload=b"")),
        ("zero width", msg(w=0)),
        ("zero height", msg(h=0)),
        ("beyond 8K", msg(h=4321, w=7681, s=7681 * 3, payload=data)),
        ("uint32 max", msg(h=2**32 - 1, w=2**32 - 1, s=2**32 - 1, payload=b"")),
        ("over max_image_pixels", msg(h=80, w=100, s=big_step, payload=big_data)),
        ("step shorter than a row", msg(s=step - 1)),
        ("step zero", msg(s=0)),
        ("step longer than the data", msg(s=step + 64)),
        ("truncated data", msg(payload=data[: len(data) // 2])),
        ("one byte short", msg(payload=data[:-1])),
        ("no data", msg(payload=b"")),
        ("odd width yuv422", msg(encoding="yuv422", w=width - 1, s=(width - 1) * 2, payload=bytes(2 * height * width))),
        ("16-bit big endian, data for 8 bits", msg(encoding="rgb16", s=step * 2, big=1)),
        ("mono16 short", msg(encoding="mono16", s=width * 2, payload=b"\0" * (width * height))),
    ]
    return cases


def assert_throttled(warnings: int, seconds: float, frames: int) -> None:
    """The node warns about bad frames at most once per 5 s (and at least once)."""
    allowed = 1 + math.ceil(seconds / 5.0)
    assert 1 <= warnings <= allowed, f"{frames} bad frames in {seconds:.1f} s gave {warnings} warnings (max {allowed})"


def test_bad_raw_images_are_refused_counted_logged_once_and_the_next_frame_works(
    harness: Any, kit: Any, tiny_onnx: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    name = f"rel_raw_{harness.domain_id}"
    node = harness.start_node(name, {"model_path": str(tiny_onnx), "autostart": True, "max_image_pixels": MAX_PIXELS})
    assert node.state == "active"
    labels = harness.subscribe(Image, f"/{name}/out/labels")
    pub = harness.publisher(Image, f"/{name}/in/image")
    harness.connect(pub, node, [node._outputs.labels])
    rgb = kit.scene()
    # Oversized data and a big-endian flag on an 8-bit encoding are harmless: accepted, not refused.
    tolerated = [kit.raw_message(rgb, 5), kit.raw_message(rgb, 6)]
    tolerated[0].data = bytes(tolerated[0].data) + b"\0" * 999
    tolerated[1].is_bigendian = 1
    for msg in tolerated:
        pub.publish(msg)
        stamp = kit.stamp_of(msg)
        assert kit.wait_for(lambda s=stamp: s in labels.stamps()), "a tolerable frame produced no output"
    capfd.readouterr()

    cases = bad_raw_messages(rgb)
    started = time.monotonic()
    for i, (what, msg) in enumerate(cases, start=1):
        kit.set_stamp(msg, 100 + i)
        pub.publish(msg)
        # One at a time: the node keeps only the newest frame, so a burst would be partly dropped, not rejected.
        assert kit.wait_for(lambda n=i: node.stats.snapshot().rejected >= n, 5.0), f"not rejected: {what}"
    snapshot = node.stats.snapshot()
    assert (snapshot.rejected, snapshot.processed, snapshot.failed) == (len(cases), len(tolerated), 0)
    assert snapshot.last_rejection

    good = kit.raw_message(rgb, 10_000)
    pub.publish(good)
    assert kit.wait_for(lambda: 10_000 in labels.stamps(), 10.0), "the good frame after the bad ones got no output"
    out = next(m for m in labels.messages if kit.stamp_of(m) == 10_000)
    assert (out.height, out.width) == rgb.shape[:2]
    assert not labels.stamps() & {100 + i for i in range(1, len(cases) + 1)}, "a refused frame produced output"
    assert node.state == "active"

    status = harness.wait_status(name, lambda s: kit.status_values(s)["frames_rejected"] == str(len(cases)))
    assert status is not None, "diagnostics never reported the rejected count"
    assert status.level == DiagnosticStatus.WARN and "rejected" in status.message
    assert kit.status_values(status)["frames_failed"] == "0"

    log = capfd.readouterr().err
    assert_throttled(log.count("skipped bad frame"), time.monotonic() - started, len(cases))
    assert "Traceback" not in log


def test_corrupt_compressed_images_are_refused_and_the_next_frame_works(
    harness: Any, kit: Any, tiny_onnx: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    name = f"rel_jpeg_{harness.domain_id}"
    params = {"model_path": str(tiny_onnx), "autostart": True, "image_transport": "compressed"}
    node = harness.start_node(name, {**params, "max_image_pixels": MAX_PIXELS})
    labels = harness.subscribe(Image, f"/{name}/out/labels")
    pub = harness.publisher(CompressedImage, f"/{name}/in/image/compressed")
    harness.connect(pub, node, [node._outputs.labels])
    rgb = kit.scene()
    jpeg, png = encode_compressed(rgb, "jpeg"), encode_compressed(rgb, "png")
    rng = np.random.default_rng(3)
    flipped = bytearray(png)
    flipped[8:40] = rng.integers(0, 256, 32, dtype=np.uint8).tobytes()  # the IHDR chunk
    cases = [
        ("empty", "jpeg", b""),
        ("header only", "jpeg", jpeg[:20]),
        ("png cut in its header", "png", png[:30]),
        ("png with a broken IHDR", "png", bytes(flipped)),
        ("random bytes", "jpeg", rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()),
        ("text", "png", b"definitely not an image" * 20),
        ("depth format", "16UC1; compressedDepth", png),
        ("too many pixels", "png", encode_compressed(np.zeros((80, 100, 3), np.uint8), "png")),
    ]
    capfd.readouterr()
    started = time.monotonic()
    for i, (what, fmt, data) in enumerate(cases, start=1):
        msg = kit.set_stamp(CompressedImage(format=fmt, data=data), 100 + i)
        pub.publish(msg)
        assert kit.wait_for(lambda n=i: node.stats.snapshot().rejected >= n, 5.0), f"not rejected: {what}"
    for fmt, data, stamp in (("jpeg", jpeg, 20_000), ("png", png, 20_001)):
        pub.publish(kit.set_stamp(CompressedImage(format=fmt, data=data), stamp))
        assert kit.wait_for(lambda s=stamp: s in labels.stamps(), 10.0), f"good {fmt} after bad ones: no output"
    snapshot = node.stats.snapshot()
    assert (snapshot.rejected, snapshot.processed, snapshot.failed) == (len(cases), 2, 0)
    status = harness.wait_status(name, lambda s: kit.status_values(s)["frames_rejected"] == str(len(cases)))
    assert status is not None and status.level == DiagnosticStatus.WARN
    log = capfd.readouterr().err
    assert_throttled(log.count("skipped bad frame"), time.monotonic() - started, len(cases))
    assert "Traceback" not in log
