"""What the ROS node adds to the bare runtime call, and how it behaves under a 30 Hz camera.

Three measurements, interleaved in rounds so that a noisy machine affects them alike:

- **bare**: ``runtime.infer(image)`` in this process (the same ONNX file, backend and thread count as the node);
- **node**: the real node process (``stdc-ros run``), one frame at a time: publish -> ~/out/labels received;
- **echo**: a trivial rclpy node that answers each frame with a label-sized message: the cost of ROS transport
  (serialisation, DDS, Python callbacks) that any node pays, so that ``node - bare - echo`` is the node's own work
  (decode, worker hand-off, output messages).

Then a camera at 30 Hz (open loop) for a few seconds, every output subscribed: frames dropped by the node's
newest-frame policy, output rate and latency.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..cli_options import option
from ..harness.client import ALL_OUTPUTS, LABEL_OUTPUTS, NodeClient
from ..harness.domains import pick_domain_id
from ..harness.frames import image_message, synthetic_frames
from ..harness.node_process import NodeProcess
from .soak import node_launch

log = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path("runs/bench/models")


@dataclass
class NodeBenchSettings:
    """The bench's node section; its --node-* flags are made from these fields (cli_options), but --node-size
    (height and width), set by the section (bench/suite.py)."""

    height: int = 360
    width: int = 480
    variant: str = option("--node-variant", default="stdc1", choices=("stdc1", "stdc2"))
    # a full-convention ONNX at (height, width); default: random weights, exported once
    model: Path | None = option(
        "--node-model", default=None, parse=Path, help="a full-convention ONNX at --node-size instead of random weights"
    )
    iters: int = option("--node-iters", default=20, parse=int, help="frames per round and measurement (20)")
    rounds: int = option("--node-rounds", default=3, parse=int, help="interleaved rounds (3)")
    # inference threads, same for the bare runtime and the node
    threads: int = option(
        "--node-threads", default=1, parse=int, help="inference threads, bare runtime and node alike (1)"
    )
    camera_hz: float = option("--camera-hz", default=30.0, parse=float)
    camera_seconds: float = option("--camera-seconds", default=10.0, parse=float)
    domain_id: int | None = None
    model_dir: Path = option("--model-dir", default=DEFAULT_MODEL_DIR, parse=Path, help="exported models are kept here")


def model_for(settings: NodeBenchSettings) -> Path:
    from .soak import export_random_model

    if settings.model is not None:
        return settings.model
    return export_random_model(settings.model_dir, settings.variant, (settings.height, settings.width))


# ---------------------------------------------------------------------------------------------- echo node
def echo_main(name: str) -> None:
    """An rclpy node that answers ``/<name>/in/image`` with a mono8 image of the same size on ``/<name>/out/labels``.

    Same QoS as the segmentation node (best-effort depth-1 input, reliable output); no image work at all.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    rclpy.init()
    node = rclpy.create_node(name)
    publisher = node.create_publisher(Image, f"/{name}/out/labels", QoSProfile(depth=1))
    cache: dict[tuple[int, int], bytes] = {}

    def answer(msg: Image) -> None:
        size = (msg.height, msg.width)
        if size not in cache:
            cache[size] = bytes(msg.height * msg.width)
        out = Image(header=msg.header, height=msg.height, width=msg.width, encoding="mono8", step=msg.width)
        out.data = cache[size]
        publisher.publish(out)

    best_effort = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
    node.create_subscription(Image, f"/{name}/in/image", answer, best_effort)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


class EchoProcess:
    """``echo_main`` in a child process on ``domain_id``."""

    def __init__(self, name: str, domain_id: int) -> None:
        code = f"from stdc_ros.bench.node_overhead import echo_main; echo_main({name!r})"
        env = {**os.environ, "ROS_DOMAIN_ID": str(domain_id)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def __enter__(self) -> EchoProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# ---------------------------------------------------------------------------------------------- measurements
@dataclass
class NodeBenchResult:
    settings: NodeBenchSettings
    model: Path
    runtime: str
    bare_ms: list[float]
    node_ms: list[float]
    echo_ms: list[float]
    node_all_ms: list[float]
    node_inference_p50_ms: float | None
    camera: dict[str, Any]

    @staticmethod
    def p(samples: Sequence[float], q: float = 50) -> float:
        return float(np.percentile(samples, q)) if len(samples) else float("nan")

    @property
    def overhead_ms(self) -> float:
        return self.p(self.node_ms) - self.p(self.bare_ms)

    @property
    def overhead_pct(self) -> float:
        return 100.0 * self.overhead_ms / self.p(self.bare_ms)

    @property
    def own_work_ms(self) -> float:
        """Node minus bare minus transport: decode, hand-off to the worker, building and publishing the labels."""
        return self.overhead_ms - self.p(self.echo_ms)

    @property
    def outside_inference_ms(self) -> float | None:
        """Node e2e p50 minus the inference p50 the node itself reports: everything but the runtime call."""
        if self.node_inference_p50_ms is None:
            return None
        return self.p(self.node_ms) - self.node_inference_p50_ms

    @property
    def meets_target(self) -> bool:
        """Target: node overhead under 10 % of the bare call or under 3 ms."""
        return self.overhead_pct < 10.0 or self.overhead_ms < 3.0

    def rows(self) -> list[dict[str, Any]]:
        size = f"{self.settings.height}x{self.settings.width}"
        rows = []
        for what, samples in (
            ("bare runtime.infer", self.bare_ms),
            ("node e2e, labels only", self.node_ms),
            ("node e2e, every output", self.node_all_ms),
            ("echo node (transport only)", self.echo_ms),
        ):
            rows.append(
                {
                    "measure": what,
                    "size": size,
                    "p50_ms": self.p(samples),
                    "p90_ms": self.p(samples, 90),
                    "p99_ms": self.p(samples, 99),
                    "n": len(samples),
                }
            )
        return rows

    def notes(self) -> list[str]:
        c = self.camera
        return [
            f"node overhead at {self.settings.height}x{self.settings.width} ({self.runtime}, {self.settings.threads} "
            f"thread(s)): e2e p50 - bare p50 = {self.overhead_ms:.2f} ms ({self.overhead_pct:.1f} % of the bare call)"
            f"; of which ROS transport (echo) {self.p(self.echo_ms):.2f} ms and the node's own work "
            f"{self.own_work_ms:.2f} ms; target <10 % or <3 ms: {'met' if self.meets_target else 'NOT met'}",
            f"node-reported inference p50 {self.node_inference_p50_ms} ms vs bare p50 {self.p(self.bare_ms):.2f} ms; "
            f"node e2e p50 minus its own inference p50 = {_ms(self.outside_inference_ms)} (transport, decode, outputs)",
            f"30 Hz camera for {c['seconds']:.1f} s, every output subscribed: sent {c['sent']}, processed "
            f"{c['received']} ({c['output_hz']:.1f} Hz), dropped {c['lost']} ({c['drop_pct']:.0f} %; node counted "
            f"{c['node_dropped']}), latency p50 {c['latency_p50_ms']:.1f} ms p99 {c['latency_p99_ms']:.1f} ms",
        ]


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} ms"


def bare_runtime(model: Path, threads: int) -> Any:
    from ..runtime import create_runtime

    return create_runtime("onnxruntime", model, threads=threads)


def time_bare(runtime: Any, image: np.ndarray, iters: int) -> list[float]:
    samples = []
    for _ in range(iters):
        start = time.perf_counter()
        runtime.infer(image)
        samples.append((time.perf_counter() - start) * 1000.0)
    return samples


def run_node_bench(settings: NodeBenchSettings) -> NodeBenchResult:
    """Bare vs node vs echo in interleaved rounds, then the 30 Hz camera; see the module docstring."""
    import tempfile

    model = model_for(settings)
    domain_id = settings.domain_id if settings.domain_id is not None else pick_domain_id()
    name, echo_name = f"bench_node_{os.getpid()}", f"bench_echo_{os.getpid()}"
    rgb_frames = synthetic_frames(settings.height, settings.width, count=4)
    runtime = bare_runtime(model, settings.threads)
    described = runtime.describe()
    bare: list[float] = []
    node_ms: list[float] = []
    echo_ms: list[float] = []
    node_all: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="stdc_node_bench_") as tmp,
        NodeProcess(node_launch(name, model, settings.threads, domain_id, Path(tmp))),
        EchoProcess(echo_name, domain_id),
    ):
        with NodeClient(name, domain_id, LABEL_OUTPUTS) as node_driver, NodeClient(echo_name, domain_id) as echo:
            messages = [image_message(f) for f in rgb_frames]
            node_driver.wait_ready(messages[0], timeout=120.0)
            echo.wait_ready(messages[0], timeout=60.0)
            for _ in range(2):  # warm-up
                time_bare(runtime, rgb_frames[0], 3)
                node_driver.stream(messages, 3, window=1)
                echo.stream(messages, 3, window=1)
            # Interleaved frame by frame, so that the machine's drift (other jobs) hits the three alike.
            for i in range(settings.rounds * settings.iters):
                if i % settings.iters == 0:
                    log.info("round %d/%d", i // settings.iters + 1, settings.rounds)
                bare += time_bare(runtime, rgb_frames[i % 4], 1)
                one = messages[i % 4 : i % 4 + 1]
                node_ms += node_driver.stream(one, 1, window=1, frame_timeout_s=10.0, settle_s=0).latencies_ms
                echo_ms += echo.stream(one, 1, window=1, settle_s=0).latencies_ms
            inference_p50 = node_driver.wait_diagnostics(lambda v: "inference_ms_p50" in v, 3.0).get("inference_ms_p50")
        with NodeClient(name, domain_id, ALL_OUTPUTS) as driver:
            send_info = lambda: driver.publish_camera_info(settings.height, settings.width)  # noqa: E731
            driver.wait_ready(messages[0], timeout=60.0, before_probe=send_info)
            for _ in range(settings.rounds):
                node_all += driver.stream(messages, settings.iters, window=1, frame_timeout_s=10.0).latencies_ms
            count = round(settings.camera_hz * settings.camera_seconds)
            before = int(driver.diagnostics().get("frames_dropped", "0") or 0)
            stats = driver.stream(messages, count, rate_hz=settings.camera_hz, frame_timeout_s=5.0)
            time.sleep(1.2)  # one more diagnostics period, so that the counters include the last frames
            after = driver.diagnostics()
    runtime.close()
    camera = {
        "seconds": stats.seconds,
        "sent": stats.sent,
        "received": stats.received,
        "lost": stats.lost,
        "drop_pct": 100.0 * stats.lost / max(stats.sent, 1),
        "output_hz": stats.received / max(count / settings.camera_hz, 1e-9),
        "node_dropped": int(after.get("frames_dropped", "0") or 0) - before,
        "latency_p50_ms": stats.latency_ms(50) or float("nan"),
        "latency_p99_ms": stats.latency_ms(99) or float("nan"),
    }
    return NodeBenchResult(
        settings,
        model,
        described,
        bare,
        node_ms,
        echo_ms,
        node_all,
        float(inference_p50) if inference_p50 not in (None, "n/a") else None,
        camera,
    )
