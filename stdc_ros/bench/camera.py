"""A camera at a fixed rate through the real node, every output subscribed: what a vehicle stack would see.

The node process (``stdc-ros run``) gets the given model file and inference threads; this process publishes
frames open loop at ``hz`` (a camera does not wait for the node) and subscribes to all eight outputs. Reported:
frames processed (every output came back) and their rate, frames dropped (by the node's newest-frame policy or
the best-effort input), and the latency from publish to ``~/out/labels`` (p50 / p99). The goal of the 30 Hz row
(INT8 model, 2 threads, 360x480): under 10 % dropped and p99 under 100 ms.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..harness.client import ALL_OUTPUTS, NodeClient
from ..harness.domains import pick_domain_id
from ..harness.frames import image_message, synthetic_frames
from ..harness.node_process import NodeProcess
from .soak import node_launch

log = logging.getLogger(__name__)

GOAL_DROP_PCT = 10.0
GOAL_P99_MS = 100.0


@dataclass
class CameraSettings:
    model: Path
    label: str = ""  # "INT8" / "FP32": printed
    threads: int = 2
    hz: float = 30.0
    seconds: float = 10.0
    size: tuple[int, int] = (360, 480)  # camera frames (the model resizes them to its own input if it differs)
    warmup_frames: int = 10  # closed loop, before the camera starts: first-call costs are not the camera's
    domain_id: int | None = None


def camera_row(
    settings: CameraSettings,
    sent: int,
    received: int,
    node_dropped: int,
    p50: float,
    p99: float,
    inference_p50: float | None,
    seconds: float,
) -> dict[str, Any]:
    """The row of one camera run, with the goal check (under 10 % dropped, p99 under 100 ms)."""
    lost = max(sent - received, 0)
    drop_pct = 100.0 * lost / max(sent, 1)
    return {
        "model": settings.label or settings.model.name,
        "file": settings.model.name,
        "size": f"{settings.size[0]}x{settings.size[1]}",
        "threads": settings.threads,
        "camera_hz": settings.hz,
        "seconds": seconds,
        "sent": sent,
        "processed": received,
        "processed_hz": received / max(sent / settings.hz, 1e-9),
        "dropped": lost,
        "drop_pct": drop_pct,
        "node_dropped": node_dropped,
        "latency_p50_ms": p50,
        "latency_p99_ms": p99,
        "node_inference_p50_ms": inference_p50,
        "goal": f"< {GOAL_DROP_PCT:g} % dropped, p99 < {GOAL_P99_MS:g} ms",
        "goal_met": drop_pct < GOAL_DROP_PCT and p99 < GOAL_P99_MS,
    }


def run_camera(settings: CameraSettings) -> dict[str, Any]:
    """Start the node on ``settings.model``, warm it up, stream the camera; the row of ``camera_row``."""
    height, width = settings.size
    domain_id = settings.domain_id if settings.domain_id is not None else pick_domain_id()
    name = f"bench_camera_{os.getpid()}"
    frames = synthetic_frames(height, width, count=4)
    with (
        tempfile.TemporaryDirectory(prefix="stdc_camera_bench_") as tmp,
        NodeProcess(node_launch(name, settings.model, settings.threads, domain_id, Path(tmp))) as node,
        NodeClient(name, domain_id, ALL_OUTPUTS) as driver,
    ):
        messages = [image_message(f) for f in frames]
        send_info = lambda: driver.publish_camera_info(height, width)  # noqa: E731
        try:
            driver.wait_ready(messages[0], timeout=120.0, before_probe=send_info)
        except TimeoutError:
            raise TimeoutError(f"the node never answered; its log:\n{node.log_text()[-3000:]}") from None
        driver.stream(messages, settings.warmup_frames, window=1, frame_timeout_s=10.0)
        count = max(1, round(settings.hz * settings.seconds))
        before = int(driver.diagnostics().get("frames_dropped", "0") or 0)
        log.info(
            "camera: %d frames at %g Hz into %s (%d thread(s))",
            count,
            settings.hz,
            settings.model.name,
            settings.threads,
        )
        stats = driver.stream(messages, count, rate_hz=settings.hz, frame_timeout_s=5.0)
        time.sleep(1.2)  # one more diagnostics period, so that the counters include the last frames
        after = driver.diagnostics()
    inference = after.get("inference_ms_p50")
    return camera_row(
        settings,
        stats.sent,
        stats.received,
        int(after.get("frames_dropped", "0") or 0) - before,
        stats.latency_ms(50) or float("nan"),
        stats.latency_ms(99) or float("nan"),
        float(inference) if inference not in (None, "", "n/a") else None,
        stats.seconds,
    )


def camera_note(row: dict[str, Any]) -> str:
    return (
        f"{row['camera_hz']:g} Hz camera {row['size']}, {row['model']} ({row['file']}), {row['threads']} thread(s), "
        f"every output subscribed, {row['seconds']:.1f} s: sent {row['sent']}, processed {row['processed']} "
        f"({row['processed_hz']:.1f} Hz), dropped {row['dropped']} ({row['drop_pct']:.1f} %; the node counted "
        f"{row['node_dropped']}), latency p50 {row['latency_p50_ms']:.1f} ms p99 {row['latency_p99_ms']:.1f} ms; "
        f"goal ({row['goal']}): {'met' if row['goal_met'] else 'NOT met'}"
    )
