"""What each piece of the HD transport setup buys: a camera process publishes large frames best effort to a
subscriber process (best effort, depth 1, as the node subscribes), under several Fast DDS settings per side.

    python -m stdc_ros.bench.dds_transport                     # 50 frames 1920x1080 bgr8 at 5 Hz per variant
    python -m stdc_ros.bench.dds_transport --variants defaults,shipped --rate 30 --frames 150

Each variant runs on a fresh ROS_DOMAIN_ID with its own profile file per side (written to a temporary folder;
``shipped`` is config/dds/fastdds_hd.xml itself). A frame counts as received when it arrived whole (its size is
checked); latency is arrival minus the header stamp (the camera stamps at publish, same clock).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..dds_profile import PROFILE_VARIABLES, hd_profile_path, profile_variables
from ..harness.domains import pick_domain_id
from .camera_process import CameraProcess, CameraSettings, child_environment

log = logging.getLogger(__name__)

MIB = 1024 * 1024


@dataclass(frozen=True)
class Transports:
    """One side's Fast DDS transports; ``None`` leaves Fast DDS's defaults (no profile at all)."""

    shm_segment: int | None = None  # bytes; 0: SHM with its default segment; None: no SHM transport
    udp_buffers: int | None = None  # bytes (send and receive); 0: UDP with default buffers; None: no UDP

    def xml(self) -> str:
        descriptors, ids = [], []
        if self.shm_segment is not None:
            size = f"<segment_size>{self.shm_segment}</segment_size>" if self.shm_segment else ""
            descriptors.append(f"<transport_descriptor><transport_id>shm</transport_id><type>SHM</type>{size}")
            ids.append("shm")
        if self.udp_buffers is not None:
            sizes = (
                f"<sendBufferSize>{self.udp_buffers}</sendBufferSize>"
                f"<receiveBufferSize>{self.udp_buffers}</receiveBufferSize>"
                if self.udp_buffers
                else ""
            )
            descriptors.append(f"<transport_descriptor><transport_id>udp</transport_id><type>UDPv4</type>{sizes}")
            ids.append("udp")
        body = "".join(d + "</transport_descriptor>" for d in descriptors)
        users = "".join(f"<transport_id>{i}</transport_id>" for i in ids)
        return (
            '<?xml version="1.0" encoding="UTF-8" ?><dds xmlns="http://www.eprosima.com"><profiles>'
            f"<transport_descriptors>{body}</transport_descriptors>"
            '<participant profile_name="variant" is_default_profile="true"><rtps>'
            f"<useBuiltinTransports>false</useBuiltinTransports><userTransports>{users}</userTransports>"
            "</rtps></participant></profiles></dds>"
        )


# A side is "defaults" (nothing set), "shipped" (config/dds/fastdds_hd.xml), a Transports, or an env mapping.
Side = str | Transports | dict[str, str]


@dataclass(frozen=True)
class Variant:
    name: str
    camera: Side
    node: Side


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("defaults", "defaults", "defaults"),
        Variant("shipped-subscriber-only", "defaults", "shipped"),
        Variant("shipped-publisher-only", "shipped", "defaults"),
        Variant("shm32-only", Transports(32 * MIB, 0), Transports(32 * MIB, 0)),
        Variant("shm8", Transports(8 * MIB, 8 * MIB), Transports(8 * MIB, 8 * MIB)),
        Variant("shipped", "shipped", "shipped"),
        Variant("udp-default-buffers", Transports(None, 0), Transports(None, 0)),
        Variant("udp-8mib-buffers", Transports(None, 8 * MIB), Transports(None, 8 * MIB)),
        Variant(
            "large-data", {"FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA"}, {"FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA"}
        ),
    )
}
DEFAULT_VARIANTS = (
    "defaults",
    "shipped-subscriber-only",
    "shipped-publisher-only",
    "shm32-only",
    "shipped",
    "udp-default-buffers",
    "udp-8mib-buffers",
)
CLEARED = dict.fromkeys(("FASTDDS_BUILTIN_TRANSPORTS", *PROFILE_VARIABLES))


def side_environment(side: Side, folder: Path, label: str) -> dict[str, str | None]:
    """Environment changes for one side: every Fast DDS setting of ours cleared, then the side's own."""
    env: dict[str, str | None] = dict(CLEARED)
    if isinstance(side, dict):
        return env | side
    if side == "defaults":
        return env
    if side == "shipped":
        path = hd_profile_path()
        if path is None:
            raise FileNotFoundError("config/dds/fastdds_hd.xml not found")
    elif isinstance(side, Transports):
        path = folder / f"{label}.xml"
        path.write_text(side.xml())
    else:
        raise ValueError(f"unknown side {side!r}")
    return env | dict.fromkeys(profile_variables(os.environ), str(path))


# ---------------------------------------------------------------------------------------------- subscriber process
def sink_main(topic: str, height: int, width: int) -> None:
    """Subscribe best effort depth 1 to ``topic`` until SIGINT; print one JSON line: stamps and latencies."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    rclpy.init()
    node = rclpy.create_node(f"dds_sink_{os.getpid()}")
    stamps: list[int] = []
    latencies: list[float] = []
    wrong = [0]

    def on_image(msg: Image) -> None:
        now = time.time_ns()
        if (msg.height, msg.width) != (height, width) or len(msg.data) != msg.step * msg.height:
            wrong[0] += 1
            return
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        stamps.append(stamp)
        latencies.append((now - stamp) / 1e6)

    node.create_subscription(Image, topic, on_image, QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        print(json.dumps({"stamps_ns": stamps, "latencies_ms": latencies, "wrong_size": wrong[0]}), flush=True)
        node.destroy_node()
        rclpy.try_shutdown()


@dataclass
class VariantResult:
    name: str
    sent: int
    received: int
    wrong_size: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None

    def row(self) -> dict[str, object]:
        return self.__dict__ | {"received_pct": 100.0 * self.received / max(self.sent, 1)}


def run_variant(
    variant: Variant, size: tuple[int, int], rate_hz: float, frames: int, encoding: str = "bgr8"
) -> VariantResult:
    domain_id = pick_domain_id(range(150, 230))  # the upper part of the tools' domains; the tests use 1..100
    topic = f"/dds_bench_{os.getpid()}/image"
    with tempfile.TemporaryDirectory(prefix="stdc_dds_") as tmp:
        camera_env = side_environment(variant.camera, Path(tmp), "camera")
        node_env = side_environment(variant.node, Path(tmp), "node")
        code = f"from stdc_ros.bench.dds_transport import sink_main; sink_main({topic!r}, {size[0]}, {size[1]})"
        sink = subprocess.Popen(
            [sys.executable, "-c", code],
            env=child_environment(node_env, domain_id),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            settings = CameraSettings(topic, size[0], size[1], rate_hz, frames, encoding)
            with CameraProcess(settings, domain_id, camera_env) as camera:
                report = camera.wait(timeout_s=60.0 + frames / rate_hz)
            time.sleep(1.0)
        finally:
            sink.send_signal(signal.SIGINT)
            try:
                out, err = sink.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                sink.kill()
                out, err = sink.communicate()
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"the subscriber printed nothing:\n{err[-2000:]}")
    got = json.loads(lines[-1])
    sent = set(report.stamps_ns)
    received = [s for s in got["stamps_ns"] if s in sent]
    lat = np.asarray(got["latencies_ms"], float)
    return VariantResult(
        variant.name,
        report.sent,
        len(set(received)),
        got["wrong_size"],
        float(np.percentile(lat, 50)) if lat.size else None,
        float(np.percentile(lat, 99)) if lat.size else None,
    )


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return "unknown"
    names = [line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")]
    return names[0] if names else "unknown"


def format_results(results: Sequence[VariantResult]) -> str:
    from .sections import format_table

    columns = (
        ("name", "variant", ""),
        ("received", "received", "d"),
        ("sent", "sent", "d"),
        ("received_pct", "%", ".0f"),
        ("latency_p50_ms", "p50 ms", ".1f"),
        ("latency_p99_ms", "p99 ms", ".1f"),
    )
    return format_table([r.row() for r in results], columns)


def main(argv: Sequence[str] | None = None) -> int:
    from ..runtime.conventions import parse_size

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS), help=f"from {', '.join(VARIANTS)}")
    parser.add_argument("--size", type=parse_size, default=(1080, 1920), help="HxW (default 1080x1920)")
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    results = []
    for name in names:
        log.info("variant %s ...", name)
        results.append(run_variant(VARIANTS[name], args.size, args.rate, args.frames))
        log.info("  %d/%d", results[-1].received, results[-1].sent)
    height, width = args.size
    print(f"{args.frames} frames {height}x{width} bgr8 at {args.rate:g} Hz, best effort; CPU: {cpu_model()}")
    print(format_results(results))
    if args.json:
        args.json.write_text(json.dumps([r.row() for r in results], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
