"""`stdc-ros bench --sections hdcamera`: camera resolutions through the node, with the camera in its own process.

A camera driver runs as a separate process (``camera_process``: best effort, keep last 5, stamped at publish) with
the packaged Fast DDS profile, as a vehicle should have it; the node is ``stdc-ros run`` (which applies the same
profile to itself); this process only listens to ``~/out/labels`` and ``/diagnostics``. Rows: 480x360 and
1920x1080 bgr8 on ``~/in/image``, and 1920x1080 JPEG on ``~/in/image/compressed`` (the bandwidth answer: ~0.3 MB a
frame instead of 6.2 MB, paid for by a decode in the node). Per row: frames sent, lost in transport (sent minus the
node's ``frames_received``: lost on the way, or overwritten in its depth-1 reader queue before its callback ran),
dropped by the node (its ``frames_dropped``: newest-frame policy), the processed rate,
latency p50/p99 from the camera's stamp to the labels' arrival (one clock), and the in-process decode p50 of one
frame in that encoding (what the node pays before inference).
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..cli_options import option, options_from
from ..dds_profile import hd_profile_path, profile_environment
from ..harness.domains import pick_domain_id
from ..harness.node_process import NodeLaunch, NodeProcess
from .camera_process import CameraProcess, CameraSettings, make_messages

if TYPE_CHECKING:
    from .sections import Section, SectionResult

log = logging.getLogger(__name__)

COLUMNS = (
    ("size", "size", ""),
    ("encoding", "encoding", ""),
    ("mb_per_frame", "MB/frame", ".2f"),
    ("decode_ms", "decode ms", ".2f"),
    ("camera_hz", "camera Hz", "g"),
    ("sent", "sent", "d"),
    ("lost_in_transport", "lost in transport", "d"),
    ("dropped_by_node", "dropped by node", "d"),
    ("processed_hz", "processed Hz", ".1f"),
    ("latency_p50_ms", "p50 ms", ".1f"),
    ("latency_p99_ms", "p99 ms", ".1f"),
)
ROWS_TEXT = "360x480:bgr8,1080x1920:bgr8,1080x1920:jpeg"


def parse_rows(text: str) -> tuple[tuple[int, int, str], ...]:
    """'1080x1920:jpeg,360x480' -> ((1080, 1920, 'jpeg'), (360, 480, 'bgr8')): size and encoding of each row."""
    from ..runtime.conventions import parse_size

    rows = []
    for item in text.split(","):
        size, _, encoding = item.strip().partition(":")
        rows.append((*parse_size(size), encoding or "bgr8"))
    return tuple(rows)


ROWS = ((360, 480, "bgr8"), (1080, 1920, "bgr8"), (1080, 1920, "jpeg"))


@dataclass
class HdCameraSettings:
    """The hdcamera section; its --hd-* flags are made from these fields (cli_options)."""

    model: Path | None = option(
        "--hd-model", default=None, parse=Path, help="model for the node (default: the node's own default)"
    )
    threads: int = option("--hd-threads", default=2, parse=int, help="the node's inference threads (2)")
    hz: float = option("--hd-hz", default=30.0, parse=float)
    seconds: float = option("--hd-seconds", default=10.0, parse=float)
    rows: tuple[tuple[int, int, str], ...] = option(
        "--hd-rows", default=ROWS, cli_default=ROWS_TEXT, convert=parse_rows, help="SIZE:ENCODING,..."
    )
    domain_id: int | None = None


class Listener:
    """Labels arrival times by stamp, and the node's latest diagnostics, in this process."""

    def __init__(self, node_name: str, domain_id: int) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import Image

        self.node_name = node_name
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(f"hd_listener_{os.getpid()}", context=self.context)
        self._lock = threading.Lock()
        self.arrivals: dict[int, int] = {}  # stamp ns -> wall-clock arrival ns
        self.counters: dict[str, str] = {}
        self.node.create_subscription(Image, f"/{node_name}/out/labels", self._on_labels, 10)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # the context is shut down by close()
            return

    def _on_labels(self, msg: Any) -> None:
        now = time.time_ns()
        with self._lock:
            self.arrivals[msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec] = now

    def _on_diagnostics(self, msg: Any) -> None:
        for status in msg.status:
            if status.name.startswith(f"/{self.node_name}:"):
                with self._lock:
                    self.counters = {kv.key: kv.value for kv in status.values} | {"_t": str(time.monotonic())}

    def fresh_counters(self, timeout_s: float = 3.0) -> dict[str, str]:
        """The node's counters from a status that arrived after now (it publishes at 1 Hz)."""
        since = time.monotonic()
        deadline = since + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if float(self.counters.get("_t", "0")) > since:
                    return dict(self.counters)
            time.sleep(0.05)
        with self._lock:
            return dict(self.counters)

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        self.context.try_shutdown()
        self._thread.join(timeout=5.0)


def decode_ms(height: int, width: int, encoding: str, repeats: int = 10) -> float:
    """p50 of decoding one frame of the camera's pattern in ``encoding`` as the node does."""
    from ..image_codec import decode_compressed, decode_image

    msg = make_messages(CameraSettings("/x", height, width, encoding=encoding), count=1)[0]
    payload = np.frombuffer(msg.data, np.uint8)
    if encoding == "jpeg":
        run = lambda: decode_compressed("jpeg", payload.tobytes())  # noqa: E731
    else:
        run = lambda: decode_image(encoding, height, width, msg.step, False, payload)  # noqa: E731
    run()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(samples))


def _count(counters: dict[str, str], key: str) -> int:
    try:
        return int(counters.get(key, "0"))
    except ValueError:
        return 0


def camera_row(
    listener: Listener, node_name: str, domain_id: int, size: tuple[int, int], encoding: str, hz: float, seconds: float
) -> dict[str, Any]:
    height, width = size
    topic = f"/{node_name}/in/image" + ("/compressed" if encoding == "jpeg" else "")
    before = listener.fresh_counters()
    settings = CameraSettings(topic, height, width, hz, round(hz * seconds), encoding, settle_s=2.0)
    env = profile_environment(hd_profile_path(), {})
    with CameraProcess(settings, domain_id, env) as camera:
        report = camera.wait(timeout_s=120.0 + seconds * 2)
    time.sleep(1.0)  # the last answers
    after = listener.fresh_counters()
    with listener._lock:
        latencies = [(listener.arrivals[s] - s) / 1e6 for s in report.stamps_ns if s in listener.arrivals]
    received = _count(after, "frames_received") - _count(before, "frames_received")
    return {
        "size": f"{height}x{width}",
        "encoding": encoding,
        "mb_per_frame": report.bytes_per_frame / 1e6,
        "decode_ms": decode_ms(height, width, encoding),
        "camera_hz": hz,
        "sent": report.sent,
        "lost_in_transport": max(0, report.sent - received),
        "dropped_by_node": _count(after, "frames_dropped") - _count(before, "frames_dropped"),
        "processed": len(latencies),
        "processed_hz": len(latencies) / max(report.seconds, 1e-9),
        "latency_p50_ms": float(np.percentile(latencies, 50)) if latencies else None,
        "latency_p99_ms": float(np.percentile(latencies, 99)) if latencies else None,
        "lost_estimated_by_node": _count(after, "frames_lost_before_node_estimated")
        - _count(before, "frames_lost_before_node_estimated"),
    }


def run_hd_camera(settings: HdCameraSettings) -> list[dict[str, Any]]:
    """One node per input transport (raw, compressed: a read-only parameter), the rows' cameras one after another."""
    domain_id = settings.domain_id if settings.domain_id is not None else pick_domain_id()
    rows = []
    for transport in ("raw", "compressed"):
        wanted = [r for r in settings.rows if (r[2] == "jpeg") == (transport == "compressed")]
        if not wanted:
            continue
        name = f"bench_hd_{transport}_{os.getpid()}"
        params: dict[str, Any] = {"autostart": True, "threads": settings.threads, "image_transport": transport}
        if settings.model is not None:
            params["model_path"] = str(settings.model)
        with (
            tempfile.TemporaryDirectory(prefix="stdc_hd_") as tmp,
            NodeProcess(NodeLaunch(name=name, params=params, domain_id=domain_id, log_path=Path(tmp) / f"{name}.log")),
        ):
            listener = Listener(name, domain_id)
            try:
                deadline = time.monotonic() + 120.0
                while listener.counters.get("state") != "active" and time.monotonic() < deadline:
                    time.sleep(0.2)
                for height, width, encoding in wanted:
                    log.info("hdcamera: %dx%d %s at %g Hz", height, width, encoding, settings.hz)
                    row = camera_row(
                        listener, name, domain_id, (height, width), encoding, settings.hz, settings.seconds
                    )
                    rows.append(row)
            finally:
                listener.close()
    return rows


def notes(rows: list[dict[str, Any]]) -> list[str]:
    out = []
    for r in rows:
        out.append(
            f"{r['camera_hz']:g} Hz camera {r['size']} {r['encoding']} ({r['mb_per_frame']:.2f} MB/frame, separate "
            f"process, best effort, packaged DDS profile): sent {r['sent']}, lost in transport "
            f"{r['lost_in_transport']} (node's own estimate {r['lost_estimated_by_node']}), dropped by the node "
            f"{r['dropped_by_node']}, processed {r['processed_hz']:.1f} Hz, latency p50 {_ms(r['latency_p50_ms'])} "
            f"p99 {_ms(r['latency_p99_ms'])}, decode {r['decode_ms']:.2f} ms"
        )
    return out


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


# ---------------------------------------------------------------------------------------------- section
def _run(args: argparse.Namespace, out_dir: Path) -> SectionResult:
    from .sections import SectionResult, format_table

    rows = run_hd_camera(options_from(args, HdCameraSettings))
    return SectionResult(rows, format_table(rows, COLUMNS), notes=notes(rows))


def hd_camera_sections() -> list[Section]:
    from .sections import Section

    return [
        Section(
            "hdcamera",
            "camera process -> node: 480x360, 1080p raw and JPEG, transport loss",
            _run,
            options=(HdCameraSettings,),
            title="hdcamera section (camera process -> node: 480x360 / 1080p raw / 1080p JPEG)",
        )
    ]
