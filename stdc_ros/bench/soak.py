"""`stdc-ros soak`: push many frames through the real node process and check that it holds up.

The node runs as its own process (``stdc-ros run``, the packaged config, autostart), exactly as on a vehicle; this
process plays the camera and the consumers over DDS. Frames are sent closed-loop with a small window (the next
frame goes out when an output comes back), which is the highest rate the machine sustains without queueing.

Checked after a warm-up: resident memory of the node process may not grow more than ``--rss-growth`` (5 %),
threads and open file descriptors may not grow at all, and nothing may crash (the process stays up, diagnostics
count no failed frame, SIGINT ends it with exit code 0 and no traceback).

Default: 20,000 frames of 120x160 rgb8 into a random-weight STDC1 exported at a 64x96 network input (the soak
measures the node, not the network; a 2-core machine reaches 20,000 frames in minutes this way).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_WORKDIR = Path("runs/soak")
# Consumers the soak subscribes to: "labels" only, or every output of the node (closer to a vehicle stack).
LABEL_OUTPUTS = ("labels",)
ALL_OUTPUTS = (
    "labels",
    "labels/compressed",
    "color",
    "overlay",
    "camera_info",
    "drivable_mask",
    "drivable_grid",
    "freespace_scan",
)


# ---------------------------------------------------------------------------------------------- node process
def ros_value(value: Any) -> str:
    """A Python value as a ``-p name:=value`` literal (YAML syntax, as rcl parses it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(ros_value(v) for v in value) + "]"
    return str(value)


def stdc_ros_command() -> list[str]:
    """``stdc-ros`` next to this interpreter (the installed console script), else ``python -m stdc_ros.cli``."""
    script = Path(sys.executable).with_name("stdc-ros")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "stdc_ros.cli"]


def pick_domain_id() -> int:
    """A ROS_DOMAIN_ID for a benchmark run: 101..200 (the test suite uses 1..100)."""
    return 101 + random.SystemRandom().randrange(100)


@dataclass(frozen=True)
class ResourceSample:
    frame: int  # outputs received when sampled
    seconds: float  # since the measured phase began
    rss_bytes: int
    threads: int
    fds: int


class NodeProcess:
    """``stdc-ros run`` as a child process on its own domain, stdout/stderr in files under ``log_dir``."""

    def __init__(
        self, name: str, params: Mapping[str, Any], domain_id: int, log_dir: Path, extra_args: Sequence[str] = ()
    ) -> None:
        self.name = name
        self.params = dict(params)
        self.domain_id = domain_id
        self.log_dir = Path(log_dir)
        self.extra_args = list(extra_args)
        self.process: subprocess.Popen[bytes] | None = None
        self._ps: Any = None

    @property
    def stderr_path(self) -> Path:
        return self.log_dir / f"{self.name}.stderr.log"

    @property
    def stdout_path(self) -> Path:
        return self.log_dir / f"{self.name}.stdout.log"

    def command(self) -> list[str]:
        ros_args = [arg for key, value in self.params.items() for arg in ("-p", f"{key}:={ros_value(value)}")]
        return [*stdc_ros_command(), "run", "--name", self.name, *self.extra_args, "--ros-args", *ros_args]

    def start(self) -> NodeProcess:
        import psutil

        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "ROS_DOMAIN_ID": str(self.domain_id), "PYTHONUNBUFFERED": "1"}
        log.info("starting node: %s (ROS_DOMAIN_ID=%d)", " ".join(self.command()), self.domain_id)
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(self.command(), stdout=out, stderr=err, env=env)
        self._ps = psutil.Process(self.process.pid)
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def sample(self, frame: int, seconds: float) -> ResourceSample:
        """RSS, thread count and open file descriptors of the node process now."""
        ps = self._ps
        with ps.oneshot():
            return ResourceSample(frame, seconds, ps.memory_info().rss, ps.num_threads(), ps.num_fds())

    def stop(self, sig: int = signal.SIGINT, timeout: float = 10.0) -> tuple[int | None, float]:
        """Send ``sig`` and wait; (exit code or None when it hung and had to be killed, seconds to exit)."""
        if self.process is None:
            return None, 0.0
        if self.process.poll() is not None:
            return self.process.returncode, 0.0
        started = time.monotonic()
        self.process.send_signal(sig)
        try:
            code: int | None = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.error("node did not exit within %.0f s of signal %d: killing it", timeout, sig)
            self.process.kill()
            self.process.wait()
            code = None
        return code, time.monotonic() - started

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.is_file() else ""

    def __enter__(self) -> NodeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.alive:
            self.stop(signal.SIGINT, timeout=10.0)


# ---------------------------------------------------------------------------------------------- camera + consumers
def soak_frames(height: int, width: int, count: int = 8, seed: int = 0) -> list[np.ndarray]:
    """A few distinct RGB frames: smooth gradients plus noise (content varies, decode paths stay realistic)."""
    rng = np.random.default_rng(seed)
    v, u = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for i in range(count):
        base = np.stack([u / max(width, 1) * 255, v / max(height, 1) * 255, np.full_like(u, 40.0 * i)], axis=2)
        noisy = base + rng.normal(0.0, 12.0, base.shape)
        frames.append(np.clip(noisy, 0, 255).astype(np.uint8))
    return frames


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


class FrameDriver:
    """A client node in this process: publishes frames to ``/<node>/in/image`` and listens to the node's outputs.

    Every frame carries a unique stamp; an output is matched to its frame by stamp (the node keeps headers). A
    frame is complete once every subscribed output of it arrived; latency is measured to its ~/out/labels.
    """

    def __init__(self, node_name: str, domain_id: int, outputs: Sequence[str] = LABEL_OUTPUTS) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from nav_msgs.msg import OccupancyGrid
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image, LaserScan

        types = {
            "labels/compressed": CompressedImage,
            "camera_info": CameraInfo,
            "drivable_grid": OccupancyGrid,
            "freespace_scan": LaserScan,
        }
        self.node_name = node_name
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        # Unique per driver: a benchmark may hold several drivers in one process.
        self.client = rclpy.create_node(f"soak_driver_{os.getpid()}_{id(self) % 1_000_000}", context=self.context)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.client.create_publisher(Image, f"/{node_name}/in/image", reliable)
        self.info_pub = self.client.create_publisher(CameraInfo, f"/{node_name}/in/camera_info", reliable)
        self._cond = threading.Condition()
        self._sent: dict[int, float] = {}  # stamp ns -> send time, for frames in flight
        self._missing: dict[int, set[str]] = {}  # stamp ns -> outputs of that frame not yet received
        self._outputs = tuple(outputs)
        self._latencies: list[float] = []
        self._per_topic: dict[str, int] = dict.fromkeys(outputs, 0)
        self._received = 0
        self._lost = 0
        self._last_status: Any = None
        for topic in outputs:
            callback = self._on_labels if topic == "labels" else self._counter(topic)
            self.client.create_subscription(types.get(topic, Image), f"/{node_name}/out/{topic}", callback, reliable)
        self.client.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, reliable)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.client)
        self._thread = threading.Thread(target=self._spin, name="soak_driver_spin", daemon=True)
        self._thread.start()
        self._stamp = 0

    def _spin(self) -> None:
        with contextlib.suppress(Exception):  # the context is shut down by close()
            self.executor.spin()

    # -- callbacks (executor thread)
    def _counter(self, topic: str) -> Callable[[Any], None]:
        def count(msg: Any) -> None:
            self._arrived(topic, msg.header.stamp)

        return count

    def _on_labels(self, msg: Any) -> None:
        self._arrived("labels", msg.header.stamp, time.perf_counter())

    def _arrived(self, topic: str, stamp_msg: Any, now: float | None = None) -> None:
        """Count ``topic`` for its frame; the frame is complete (its slot frees) once every output arrived."""
        stamp = stamp_msg.sec * 1_000_000_000 + stamp_msg.nanosec
        with self._cond:
            self._per_topic[topic] += 1
            missing = self._missing.get(stamp)
            if missing is None:
                return
            if now is not None and stamp in self._sent:
                self._latencies.append((now - self._sent[stamp]) * 1000.0)
            missing.discard(topic)
            if not missing:
                del self._missing[stamp]
                self._sent.pop(stamp, None)
                self._received += 1
                # The node handles frames in order and every topic keeps its order, so an older frame still
                # incomplete now never comes: it was dropped (newest-frame policy or best-effort input).
                for older in [s for s in self._sent if s < stamp]:
                    del self._sent[older]
                    self._missing.pop(older, None)
                    self._lost += 1
                self._cond.notify_all()

    def _on_diagnostics(self, msg: Any) -> None:
        for status in msg.status:
            if f"/{self.node_name}:" in status.name or status.name.startswith(f"{self.node_name}:"):
                with self._cond:
                    self._last_status = status

    # -- main thread
    def diagnostics(self) -> dict[str, str]:
        """The key/values of the node's latest diagnostic status (empty before the first one)."""
        with self._cond:
            status = self._last_status
        return {} if status is None else {kv.key: kv.value for kv in status.values} | {"_message": status.message}

    def wait_diagnostics(self, predicate: Callable[[dict[str, str]], bool], timeout: float) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            values = self.diagnostics()
            if values and predicate(values):
                return values
            time.sleep(0.05)
        return self.diagnostics()

    def make_message(self, rgb: np.ndarray, encoding: str = "rgb8") -> Any:
        from sensor_msgs.msg import Image

        from ..image_codec import encode_image

        step, data = encode_image(rgb, encoding)
        msg = Image(height=rgb.shape[0], width=rgb.shape[1], encoding=encoding, step=step, is_bigendian=0)
        msg.data = data
        msg.header.frame_id = "soak_camera"
        return msg

    def publish_camera_info(self, height: int, width: int) -> None:
        from sensor_msgs.msg import CameraInfo

        f = 0.9 * width
        info = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
        info.header.frame_id = "soak_camera"
        info.k = [f, 0.0, (width - 1) / 2, 0.0, f, (height - 1) / 2, 0.0, 0.0, 1.0]
        info.p = [f, 0.0, (width - 1) / 2, 0.0, 0.0, f, (height - 1) / 2, 0.0, 0.0, 0.0, 1.0, 0.0]
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        self.info_pub.publish(info)

    def publish(self, msg: Any) -> int:
        """Send ``msg`` stamped now (unique, increasing, so outputs match frames); returns the stamp (ns)."""
        self._stamp = max(self._stamp + 1, time.time_ns())
        stamp = self._stamp
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
        with self._cond:
            self._sent[stamp] = time.perf_counter()
            self._missing[stamp] = set(self._outputs)
        self.image_pub.publish(msg)
        return stamp

    def wait_ready(
        self, msg: Any, timeout: float = 60.0, retry_s: float = 0.5, before_probe: Callable[[], None] | None = None
    ) -> float:
        """Send probe frames until one comes back complete (node started, configured, every output discovered).

        ``before_probe`` runs before each probe (e.g. to send camera_info, which best effort may lose before
        discovery). Returns the seconds it took.
        """
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if before_probe is not None:
                before_probe()
            self.publish(msg)
            with self._cond:
                if self._cond.wait_for(lambda: self._received > 0, retry_s):
                    self._sent.clear()
                    self._missing.clear()
                    return time.monotonic() - started
        raise TimeoutError(f"no output from /{self.node_name} within {timeout:.0f} s (did the node start?)")

    def reset(self) -> None:
        with self._cond:
            self._sent.clear()
            self._missing.clear()
            self._latencies = []
            self._received = 0
            self._lost = 0
            self._per_topic = dict.fromkeys(self._per_topic, 0)

    def stream(
        self,
        messages: Sequence[Any],
        count: int,
        window: int = 2,
        frame_timeout_s: float = 2.0,
        on_progress: Callable[[int], None] | None = None,
        rate_hz: float | None = None,
        min_gap_s: float = 0.005,
        stop: threading.Event | None = None,
        settle_s: float = 0.2,
    ) -> StreamStats:
        """Send ``count`` frames, cycling through ``messages``.

        Closed loop (``rate_hz`` None): at most ``window`` frames in flight; the next one leaves when a frame is
        complete (all its outputs back) and at least ``min_gap_s`` after the previous one; a frame still incomplete
        after ``frame_timeout_s`` is counted lost.
        Open loop (``rate_hz``): frames leave on a fixed clock whatever the node does (a camera), and the node's
        drops show as ``lost``. ``on_progress(received)`` runs after every frame sent, on this thread; ``stop``
        ends the stream early; ``settle_s`` is waited at the end before the per-topic counts are read.
        """
        self.reset()
        stats = StreamStats()
        started = last_sent = time.perf_counter()
        for i in range(count):
            if stop is not None and stop.is_set():
                break
            if rate_hz is not None:
                delay = started + i / rate_hz - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            else:
                with self._cond:
                    if not self._cond.wait_for(lambda: len(self._sent) < window, frame_timeout_s):
                        stats.lost += self._expire(frame_timeout_s)
                # Two frames arriving together would overwrite each other in the node's depth-1 input history (a
                # drop no counter sees): leave the node a moment to take the previous one.
                gap = last_sent + min_gap_s - time.perf_counter()
                if gap > 0:
                    time.sleep(gap)
            self.publish(messages[i % len(messages)])
            last_sent = time.perf_counter()
            stats.sent += 1
            if on_progress is not None:
                on_progress(self._received)
        with self._cond:  # the last frames in flight
            self._cond.wait_for(lambda: not self._sent, frame_timeout_s)
            stats.lost += len(self._sent) + self._lost
            self._sent.clear()
            self._missing.clear()
            stats.seconds = time.perf_counter() - started
            stats.received = self._received
            stats.latencies_ms = list(self._latencies)
        time.sleep(settle_s)  # let the other outputs of the last frame arrive before counting them
        with self._cond:
            stats.per_topic = dict(self._per_topic)
        return stats

    def _expire(self, older_than_s: float) -> int:
        """Forget frames in flight for longer than ``older_than_s`` (caller holds the lock); how many."""
        limit = time.perf_counter() - older_than_s
        stale = [s for s, t in self._sent.items() if t < limit] or list(self._sent)[:1]
        for stamp in stale:
            del self._sent[stamp]
            self._missing.pop(stamp, None)
        return len(stale)

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        self.client.destroy_node()
        self.context.try_shutdown()
        self._thread.join(timeout=5.0)

    def __enter__(self) -> FrameDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------- soak
@dataclass(frozen=True)
class SoakLimits:
    rss_growth: float = 0.05  # fraction of the resident memory after warm-up
    thread_growth: int = 0
    fd_growth: int = 0
    min_complete: float = 0.99  # fraction of the frames sent whose outputs all came back


@dataclass
class SoakSettings:
    frames: int = 20_000
    height: int = 120
    width: int = 160
    network_size: tuple[int, int] = (64, 96)
    variant: str = "stdc1"
    model: Path | None = None  # an ONNX file to use instead of exporting a random-weight model
    warmup: int | None = None  # frames before the reference sample; default max(100, frames // 10)
    samples: int = 40  # resource samples after warm-up
    window: int = 2
    outputs: Sequence[str] = ALL_OUTPUTS
    threads: int = 1  # the node's inference threads
    frame_timeout_s: float = 2.0
    domain_id: int | None = None
    workdir: Path = DEFAULT_WORKDIR
    limits: SoakLimits = field(default_factory=SoakLimits)

    @property
    def warmup_frames(self) -> int:
        return self.warmup if self.warmup is not None else max(100, self.frames // 10)


@dataclass
class SoakResult:
    settings: SoakSettings
    model: Path
    stream: StreamStats
    samples: list[ResourceSample]
    startup_s: float
    diagnostics: dict[str, str]
    exit_code: int | None
    exit_s: float
    tracebacks: int
    died_during_run: bool

    @property
    def base(self) -> ResourceSample:
        return self.samples[0]

    @property
    def rss_growth(self) -> float:
        """Median of the last three samples against the median of the first three (after warm-up)."""
        first = statistics.median(s.rss_bytes for s in self.samples[:3])
        last = statistics.median(s.rss_bytes for s in self.samples[-3:])
        return (last - first) / first

    @property
    def rss_peak_growth(self) -> float:
        return (max(s.rss_bytes for s in self.samples) - self.base.rss_bytes) / self.base.rss_bytes

    @property
    def thread_growth(self) -> int:
        return max(s.threads for s in self.samples) - self.base.threads

    @property
    def fd_growth(self) -> int:
        return max(s.fds for s in self.samples) - self.base.fds

    @property
    def failed_frames(self) -> int:
        return int(self.diagnostics.get("frames_failed", "0") or 0)

    @property
    def crashes(self) -> int:
        return int(self.died_during_run) + int(self.exit_code not in (0,)) + self.tracebacks + self.failed_frames

    def failures(self, limits: SoakLimits | None = None) -> list[str]:
        """Every check that failed, as a sentence (empty when the node held up)."""
        limits = limits or self.settings.limits
        problems = []
        if self.rss_growth > limits.rss_growth:
            problems.append(f"resident memory grew {self.rss_growth:.1%} after warm-up (limit {limits.rss_growth:.0%})")
        if self.thread_growth > limits.thread_growth:
            problems.append(f"threads grew by {self.thread_growth} (limit {limits.thread_growth})")
        if self.fd_growth > limits.fd_growth:
            problems.append(f"open file descriptors grew by {self.fd_growth} (limit {limits.fd_growth})")
        if self.died_during_run:
            problems.append("the node process died during the run")
        if self.exit_code != 0:
            problems.append(f"exit code {self.exit_code} after SIGINT (expected 0)")
        if self.tracebacks:
            problems.append(f"{self.tracebacks} traceback(s) in the node's stderr")
        if self.failed_frames:
            problems.append(f"diagnostics count {self.failed_frames} failed frame(s)")
        if self.stream.received < self.settings.frames * limits.min_complete:
            problems.append(f"only {self.stream.received} of {self.settings.frames} frames came back")
        return problems

    def report(self) -> str:
        s, st = self.settings, self.stream
        mib = 1024 * 1024
        topics = ", ".join(f"{k} {v}" for k, v in st.per_topic.items())
        lines = [
            f"soak: {st.sent} frames {s.height}x{s.width} rgb8 -> node ({self.model.name}, network "
            f"{s.network_size[0]}x{s.network_size[1]}, {s.threads} inference thread(s)), window {s.window}",
            f"  startup to first output     {self.startup_s:8.1f} s",
            f"  frames back / lost          {st.received:8d} / {st.lost}",
            f"  sustained rate              {st.rate_hz:8.1f} Hz over {st.seconds:.1f} s",
            f"  latency p50 / p99           {st.latency_ms(50) or 0:8.2f} / {st.latency_ms(99) or 0:.2f} ms",
            f"  outputs received            {topics}",
            f"  resident memory after warm-up ({s.warmup_frames} frames) {self.base.rss_bytes / mib:.1f} MiB, "
            f"end {self.samples[-1].rss_bytes / mib:.1f} MiB, peak {max(x.rss_bytes for x in self.samples) / mib:.1f}"
            f" MiB",
            f"  RSS growth (end / peak)     {self.rss_growth:8.2%} / {self.rss_peak_growth:.2%}"
            f"  (limit {s.limits.rss_growth:.0%})",
            f"  threads (after warm-up -> max)  {self.base.threads} -> {max(x.threads for x in self.samples)}",
            f"  open fds (after warm-up -> max) {self.base.fds} -> {max(x.fds for x in self.samples)}",
            f"  diagnostics                 processed {self.diagnostics.get('frames_processed', '?')}, dropped "
            f"{self.diagnostics.get('frames_dropped', '?')}, rejected {self.diagnostics.get('frames_rejected', '?')}"
            f", failed {self.diagnostics.get('frames_failed', '?')}, inference p50 "
            f"{self.diagnostics.get('inference_ms_p50', '?')} ms",
            f"  SIGINT -> exit code {self.exit_code} in {self.exit_s:.2f} s; tracebacks in stderr: {self.tracebacks}",
            f"  crashes                     {self.crashes}",
        ]
        return "\n".join(lines)


def export_random_model(workdir: Path, variant: str, size: tuple[int, int]) -> Path:
    """A random-weight ``variant`` exported to ONNX (full convention) at ``size``, cached in ``workdir``."""
    path = Path(workdir) / f"{variant}_random_{size[0]}x{size[1]}.onnx"
    if path.is_file():
        return path
    import torch

    from ..model_tools.export import export_onnx
    from ..network import build_stdc

    torch.manual_seed(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    log.info("exporting a random-weight %s at %dx%d to %s", variant, *size, path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.onnx")
    export_onnx(build_stdc(variant, 11).eval(), tmp, input_size=size, label_set="camvid")
    tmp.replace(path)
    return path


def node_parameters(model: Path, threads: int) -> dict[str, Any]:
    return {"model_path": str(model), "autostart": True, "threads": threads}


def count_tracebacks(text: str) -> int:
    return text.count("Traceback (most recent call last)")


def run_soak(settings: SoakSettings, progress: bool = False) -> SoakResult:
    """The soak: start the node, warm up, stream ``settings.frames`` frames while sampling, stop with SIGINT."""
    model = settings.model or export_random_model(settings.workdir, settings.variant, settings.network_size)
    domain_id = settings.domain_id if settings.domain_id is not None else pick_domain_id()
    name = f"soak_{os.getpid()}_{domain_id}"
    messages_rgb = soak_frames(settings.height, settings.width)
    with (
        tempfile.TemporaryDirectory(prefix="stdc_soak_") as tmp,
        NodeProcess(name, node_parameters(model, settings.threads), domain_id, Path(tmp)) as node,
        FrameDriver(name, domain_id, settings.outputs) as driver,
    ):
        messages = [driver.make_message(rgb) for rgb in messages_rgb]
        send_info = None
        if "camera_info" in settings.outputs:
            send_info = partial(driver.publish_camera_info, settings.height, settings.width)
        try:
            startup_s = driver.wait_ready(messages[0], timeout=90.0, before_probe=send_info)
        except TimeoutError:
            node.stop()
            raise TimeoutError(f"node never answered; its stderr:\n{node.stderr_text()[-3000:]}") from None
        warmup = min(settings.warmup_frames, settings.frames)
        log.info("node answered after %.1f s; warming up with %d frames", startup_s, warmup)
        driver.stream(messages, warmup, settings.window, settings.frame_timeout_s)
        samples: list[ResourceSample] = []
        every = max(1, settings.frames // max(settings.samples, 1))
        begun = time.perf_counter()
        next_sample = [0]
        died = [False]

        def on_progress(received: int) -> None:
            if received >= next_sample[0]:
                next_sample[0] = received + every
                if not node.alive:
                    died[0] = True
                    return
                samples.append(node.sample(received, time.perf_counter() - begun))
                if progress and len(samples) % 5 == 0:
                    last = samples[-1]
                    print(
                        f"  {received:7d} frames  {received / max(last.seconds, 1e-9):6.1f} Hz  "
                        f"rss {last.rss_bytes / 2**20:7.1f} MiB  threads {last.threads}  fds {last.fds}",
                        flush=True,
                    )

        stream = driver.stream(messages, settings.frames, settings.window, settings.frame_timeout_s, on_progress)
        if node.alive:
            samples.append(node.sample(stream.received, time.perf_counter() - begun))
        else:
            died[0] = True
        processed_before = int(driver.diagnostics().get("frames_processed", "0") or 0)
        diagnostics = driver.wait_diagnostics(
            lambda v: int(v.get("frames_processed", "0") or 0) > processed_before, timeout=3.0
        )
        exit_code, exit_s = node.stop(signal.SIGINT, timeout=10.0)
        tracebacks = count_tracebacks(node.stderr_text())
    return SoakResult(
        settings, Path(model), stream, samples, startup_s, diagnostics, exit_code, exit_s, tracebacks, died[0]
    )


# ---------------------------------------------------------------------------------------------- command
def _size(text: str) -> tuple[int, int]:
    from ..runtime.conventions import parse_size

    return parse_size(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=20_000, help="frames to send after warm-up (default 20000)")
    parser.add_argument("--size", type=_size, default=(120, 160), help="frame size HxW (default 120x160)")
    parser.add_argument(
        "--network-size", type=_size, default=(64, 96), help="network input HxW of the exported model (default 64x96)"
    )
    parser.add_argument("--variant", default="stdc1", choices=("stdc1", "stdc2"), help="random-weight network")
    parser.add_argument("--model", type=Path, help="an ONNX model (full convention) instead of a random-weight one")
    parser.add_argument("--warmup", type=int, help="warm-up frames (default max(100, frames / 10))")
    parser.add_argument("--window", type=int, default=2, help="frames in flight (default 2)")
    parser.add_argument("--outputs", choices=("all", "labels"), default="all", help="outputs to subscribe to")
    parser.add_argument("--threads", type=int, default=1, help="inference threads of the node (default 1)")
    parser.add_argument("--rss-growth", type=float, default=0.05, help="allowed RSS growth fraction (default 0.05)")
    parser.add_argument("--domain-id", type=int, help="ROS_DOMAIN_ID (default: a random one in 101..200)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="where the exported model is kept")


def run(args: argparse.Namespace) -> int:
    from ..dds_profile import apply_hd_profile

    # This process plays the camera: frames over 512 KB need the profile on its side too (before its first
    # participant); the node (stdc-ros run) applies it to itself, or inherits it from here.
    log.info("%s", apply_hd_profile())
    settings = SoakSettings(
        frames=args.frames,
        height=args.size[0],
        width=args.size[1],
        network_size=args.network_size,
        variant=args.variant,
        model=args.model,
        warmup=args.warmup,
        window=args.window,
        outputs=ALL_OUTPUTS if args.outputs == "all" else LABEL_OUTPUTS,
        threads=args.threads,
        domain_id=args.domain_id,
        workdir=args.workdir,
        limits=SoakLimits(rss_growth=args.rss_growth),
    )
    result = run_soak(settings, progress=True)
    print(result.report())
    problems = result.failures()
    for problem in problems:
        print(f"FAIL: {problem}")
    print("soak: PASS" if not problems else "soak: FAIL")
    return 0 if not problems else 1
