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
import logging
import os
import signal
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from ..cli_options import add_options, option, options_from
from ..harness.client import ALL_OUTPUTS, LABEL_OUTPUTS, NodeClient
from ..harness.domains import pick_domain_id
from ..harness.frames import image_message, synthetic_frames
from ..harness.node_process import NodeLaunch, NodeProcess, ResourceSample
from ..harness.tracker import StreamStats

log = logging.getLogger(__name__)

DEFAULT_WORKDIR = Path("runs/soak")


# ---------------------------------------------------------------------------------------------- soak
@dataclass(frozen=True)
class SoakLimits:
    rss_growth: float = 0.05  # fraction of the resident memory after warm-up
    thread_growth: int = 0
    fd_growth: int = 0
    min_complete: float = 0.99  # fraction of the frames sent whose outputs all came back


def _size(text: str) -> tuple[int, int]:
    from ..runtime.conventions import parse_size

    return parse_size(text)


def _outputs(choice: str) -> Sequence[str]:
    return ALL_OUTPUTS if choice == "all" else LABEL_OUTPUTS


@dataclass
class SoakSettings:
    """What a soak runs; the flags of ``stdc-ros soak`` are made from these fields (cli_options), but --size
    (height and width) and --rss-growth (limits), set explicitly by ``run``."""

    frames: int = option("--frames", default=20_000, parse=int, help="frames to send after warm-up (default 20000)")
    height: int = 120
    width: int = 160
    network_size: tuple[int, int] = option(
        "--network-size", default=(64, 96), parse=_size, help="network input HxW of the exported model (default 64x96)"
    )
    variant: str = option("--variant", default="stdc1", choices=("stdc1", "stdc2"), help="random-weight network")
    # an ONNX file to use instead of exporting a random-weight model
    model: Path | None = option(
        "--model", default=None, parse=Path, help="an ONNX model (full convention) instead of a random-weight one"
    )
    # frames before the reference sample; default max(100, frames // 10)
    warmup: int | None = option(
        "--warmup", default=None, parse=int, help="warm-up frames (default max(100, frames / 10))"
    )
    samples: int = 40  # resource samples after warm-up
    window: int = option("--window", default=2, parse=int, help="frames in flight (default 2)")
    outputs: Sequence[str] = option(
        "--outputs",
        default=ALL_OUTPUTS,
        cli_default="all",
        choices=("all", "labels"),
        convert=_outputs,
        help="outputs to subscribe to",
    )
    # the node's inference threads
    threads: int = option("--threads", default=1, parse=int, help="inference threads of the node (default 1)")
    frame_timeout_s: float = 2.0
    domain_id: int | None = option(
        "--domain-id", default=None, parse=int, help="ROS_DOMAIN_ID (default: a random one in 101..200)"
    )
    workdir: Path = option("--workdir", default=DEFAULT_WORKDIR, parse=Path, help="where the exported model is kept")
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


def node_launch(name: str, model: Path, threads: int, domain_id: int, log_dir: Path, **params: Any) -> NodeLaunch:
    """The node as the soak and the node benchmarks start it: ``model``, ``threads``, the packaged config."""
    params = {**node_parameters(model, threads), **params}
    return NodeLaunch(name=name, params=params, domain_id=domain_id, log_path=log_dir / f"{name}.log")


def closed_loop_qos(settings: SoakSettings) -> dict[str, Any]:
    """Reliable input as deep as the window: a frame in flight is never overwritten in the node's reader queue
    (best effort depth 1 lost up to 8 % of a window-2 stream under Jazzy's Fast DDS 2.14), so every missing answer
    is the node's own doing."""
    return {"qos.reliability": "reliable", "qos.depth": max(1, settings.window)}


def count_tracebacks(text: str) -> int:
    return text.count("Traceback (most recent call last)")


def run_soak(settings: SoakSettings, progress: bool = False) -> SoakResult:
    """The soak: start the node, warm up, stream ``settings.frames`` frames while sampling, stop with SIGINT."""
    model = settings.model or export_random_model(settings.workdir, settings.variant, settings.network_size)
    domain_id = settings.domain_id if settings.domain_id is not None else pick_domain_id()
    name = f"soak_{os.getpid()}_{domain_id}"
    messages_rgb = synthetic_frames(settings.height, settings.width)
    with (
        tempfile.TemporaryDirectory(prefix="stdc_soak_") as tmp,
        NodeProcess(
            node_launch(name, model, settings.threads, domain_id, Path(tmp), **closed_loop_qos(settings))
        ) as node,
        NodeClient(name, domain_id, settings.outputs) as driver,
    ):
        messages = [image_message(rgb) for rgb in messages_rgb]
        send_info = None
        if "camera_info" in settings.outputs:
            send_info = partial(driver.publish_camera_info, settings.height, settings.width)
        try:
            startup_s = driver.wait_ready(messages[0], timeout=90.0, before_probe=send_info)
        except TimeoutError:
            node.stop()
            raise TimeoutError(f"node never answered; its log:\n{node.log_text()[-3000:]}") from None
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
                if not node.alive():
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
        if node.alive():
            samples.append(node.sample(stream.received, time.perf_counter() - begun))
        else:
            died[0] = True
        processed_before = int(driver.diagnostics().get("frames_processed", "0") or 0)
        diagnostics = driver.wait_diagnostics(
            lambda v: int(v.get("frames_processed", "0") or 0) > processed_before, timeout=3.0
        )
        exit_code = node.stop(signal.SIGINT, timeout_s=10.0)
        exit_s = node.stop_seconds
        tracebacks = count_tracebacks(node.log_text())
    return SoakResult(
        settings, Path(model), stream, samples, startup_s, diagnostics, exit_code, exit_s, tracebacks, died[0]
    )


# ---------------------------------------------------------------------------------------------- command
def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_options(parser, SoakSettings)
    parser.add_argument("--size", type=_size, default=(120, 160), help="frame size HxW (default 120x160)")
    parser.add_argument("--rss-growth", type=float, default=0.05, help="allowed RSS growth fraction (default 0.05)")


def settings_from(args: argparse.Namespace) -> SoakSettings:
    """The parsed flags as SoakSettings; --size sets height and width, --rss-growth the limits."""
    height, width = args.size
    return options_from(args, SoakSettings, height=height, width=width, limits=SoakLimits(rss_growth=args.rss_growth))


def run(args: argparse.Namespace) -> int:
    from ..dds_profile import apply_hd_profile

    # This process plays the camera: frames over 512 KB need the profile on its side too (before its first
    # participant); the node (stdc-ros run) applies it to itself, or inherits it from here.
    log.info("%s", apply_hd_profile())
    settings = settings_from(args)
    result = run_soak(settings, progress=True)
    print(result.report())
    problems = result.failures()
    for problem in problems:
        print(f"FAIL: {problem}")
    print("soak: PASS" if not problems else "soak: FAIL")
    return 0 if not problems else 1
