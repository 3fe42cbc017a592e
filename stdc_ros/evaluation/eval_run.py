"""Driving the node with the frames of a bag and collecting its results (lossless and real-time modes), or
scoring predictions recorded in the bag (recorded mode).

Latency, in the two live modes, is the time from our publish of a frame to the arrival of its ``out/labels``
message (matched by header stamp), both read from this process's monotonic clock: DDS transport both ways, the
node's queueing, decoding, inference, post-processing and encoding. In recorded mode it is the bag's log time of
the predictions minus their header stamp (what the recorder saw).
"""

from __future__ import annotations

import logging
import queue
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ImageFormatError
from ..harness.client import NodeClient, Received
from ..harness.node_process import NodeProcess
from ..rosbag.codec import image_msg_to_rgb, labels_from_msg
from ..rosbag.io import BagWriter
from ..rosbag.ros import stamp_ns
from .eval_inputs import BagInputs, Frame, decode_labels, image_stream, to_image_bytes
from .matching import StampIndex
from .scoring import Scorer

LOG = logging.getLogger(__name__)


@dataclass
class RunState:
    """What the run learned; the report is built from it."""

    inputs: BagInputs
    scorer: Scorer
    store: Any
    strip: set[int]
    writer: BagWriter | None = None
    sent: StampIndex[Frame] = field(default_factory=StampIndex)
    outputs: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    t_first: float | None = None
    t_last: float | None = None
    last_sent: Frame | None = None
    resends: int = 0
    notes: list[str] = field(default_factory=list)
    node_counters: dict[str, str] = field(default_factory=dict)  # the node's latest /diagnostics key/values
    t_counters: float | None = None  # when they arrived (monotonic)

    def record_latency(self, frame: Frame, latency_ms: float, t_result: float) -> None:
        frame.record.latency_ms = latency_ms
        self.latencies_ms.append(latency_ms)
        self.t_last = t_result if self.t_last is None else max(self.t_last, t_result)

    def score(self, frame: Frame, prediction: np.ndarray) -> None:
        """Score a result against the ground truth with the nearest stamp (within the tolerance)."""
        match = self.inputs.truth.nearest(frame.stamp_ns)
        truth = decode_labels(match[1]) if match is not None else None
        if truth is None:
            frame.record.status = "no_gt"
        else:
            frame.record.pixel_accuracy = self.scorer.add(prediction, truth)
            frame.record.status = "scored"
        if frame.index in self.strip:
            frame.prediction = prediction
            frame.truth = truth if truth is not None else frame.truth


def score_recorded(state: RunState) -> None:
    """Recorded mode: predictions already in the bag, matched to each frame by stamp."""
    for frame in state.inputs.frames:
        match = state.inputs.predictions.nearest(frame.stamp_ns)
        if match is None:
            frame.record.status = "dropped"
            frame.record.reason = "no recorded prediction"
            continue
        stamp, (log_ns, png) = match
        state.record_latency(frame, (log_ns - stamp) / 1e6, log_ns / 1e9)
        state.t_first = frame.log_ns / 1e9 if state.t_first is None else min(state.t_first, frame.log_ns / 1e9)
        state.score(frame, decode_labels(png))


class LiveRun:
    """Publishes the frames to a running node through ``client`` and handles what comes back."""

    def __init__(self, state: RunState, client: NodeClient, process: NodeProcess, reader: Any) -> None:
        self.state = state
        self.client = client
        self.process = process
        self.reader = reader
        self.time_scale = 1.0  # bag seconds per wall second (the rate factor in real time mode)

    # --- results -------------------------------------------------------------------------------------------
    def drain(self, until: float) -> None:
        """Handle arriving messages until the monotonic time ``until`` (at least one non-blocking pass)."""
        while True:
            now = time.monotonic()
            try:
                item = self.client.received.get(timeout=max(0.0, min(until - now, 0.05)))
            except queue.Empty:
                if time.monotonic() >= until:
                    return
                continue
            self.handle(item)

    def handle(self, item: Received) -> None:
        state = self.state
        state.outputs[item.topic] = state.outputs.get(item.topic, 0) + 1
        try:
            msg = state.store.deserialize_cdr(item.raw, item.msgtype)
        except Exception as exc:
            state.notes.append(f"{item.topic}: undecodable message ({exc})")
            return
        stamp = stamp_ns(msg.header) if hasattr(msg, "header") else None
        match = state.sent.nearest(stamp) if stamp is not None else None
        frame = match[1] if match is not None else None
        self._write(item, frame)
        if item.topic == "/diagnostics":
            self._read_counters(msg, item.t_recv)
        if item.topic != self.client.labels_topic:
            return
        if frame is None:
            state.notes.append(f"labels with stamp {stamp} match no published frame")
            return
        if frame.record.status != "pending":
            return  # a late answer to a resent or timed-out frame
        try:
            prediction = labels_from_msg(msg)
        except ImageFormatError as exc:
            self.fail(frame, f"the node's labels do not decode: {exc}")
            return
        state.record_latency(frame, (item.t_recv - (frame.t_pub or item.t_recv)) * 1e3, item.t_recv)
        state.score(frame, prediction)

    def _read_counters(self, msg: Any, t_recv: float) -> None:
        """Keep the node's own status (name "/NODE: ..."; other nodes may publish /diagnostics too)."""
        for status in getattr(msg, "status", []):
            if status.name.startswith(f"/{self.client.node_name}:"):
                self.state.node_counters = {kv.key: kv.value for kv in status.values}
                self.state.t_counters = t_recv

    def wait_counters(self, timeout_s: float) -> bool:
        """Wait for a /diagnostics status of the node sent after now (it publishes at 1 Hz), so that its counters
        include every frame; False when none came (a node without diagnostics)."""
        since = time.monotonic()
        end = since + timeout_s
        while time.monotonic() < end:
            self.drain(min(end, time.monotonic() + 0.1))
            if self.state.t_counters is not None and self.state.t_counters > since:
                return True
        return False

    def _write(self, item: Received, frame: Frame | None) -> None:
        """Copy an output into the output bag at bag time: its frame's log time plus the measured delay."""
        writer = self.state.writer
        anchor = frame if frame is not None and frame.t_pub is not None else self.state.last_sent
        if writer is None or anchor is None or anchor.t_pub is None or not writer.has_type(item.msgtype):
            return
        delay_ns = round((item.t_recv - anchor.t_pub) * self.time_scale * 1e9)
        writer.write_raw(item.topic, item.msgtype, anchor.log_ns + delay_ns, item.raw)

    def fail(self, frame: Frame, reason: str) -> None:
        frame.record.status = "failed"
        frame.record.reason = reason
        LOG.warning("frame %d (stamp %d): %s", frame.index, frame.stamp_ns, reason)

    # --- publishing ----------------------------------------------------------------------------------------
    def publish(self, frame: Frame, raw: bytes, msgtype: str) -> bool:
        """Publish one frame (compressed frames are decoded to rgb8 first); False when the frame fails."""
        try:
            data, msg = to_image_bytes(self.state.store, raw, msgtype)
            if frame.index in self.state.strip:
                frame.rgb = image_msg_to_rgb(msg)
                match = self.state.inputs.truth.nearest(frame.stamp_ns)
                frame.truth = decode_labels(match[1]) if match is not None else None
        except Exception as exc:
            self.fail(frame, f"cannot prepare the frame: {exc}")
            return False
        self.state.sent.add(frame.stamp_ns, frame)
        info = self.state.inputs.camera_info.nearest(frame.stamp_ns)
        frame.t_pub = self.client.publish(data, info[1] if info is not None else None)
        self.state.t_first = frame.t_pub if self.state.t_first is None else self.state.t_first
        self.state.last_sent = frame
        return True

    def _node_gone(self, frames: list[Frame]) -> bool:
        if self.process.alive():
            return False
        reason = f"the node exited (code {self.process.returncode()})"
        for frame in frames:
            if frame.record.status == "pending":
                self.fail(frame, reason)
        return True

    def lossless(self, timeout_s: float, first_timeout_s: float, resend_after_s: float, bar: Any) -> None:
        """One frame at a time: publish, wait for its labels (resending if nothing came), then the next."""
        pending = list(self.state.inputs.frames)
        for frame, raw, msgtype in image_stream(self.reader, self.state.inputs):
            if self._node_gone(pending):
                return
            pending.remove(frame)
            bar.update(1)
            if not self.publish(frame, raw, msgtype):
                continue
            limit = first_timeout_s if frame is self.state.inputs.frames[0] else timeout_s
            deadline, resend = frame.t_pub + limit, frame.t_pub + resend_after_s
            while frame.record.status == "pending":
                self.drain(min(deadline, resend, time.monotonic() + 0.1))
                now = time.monotonic()
                if frame.record.status != "pending":
                    break
                if self._node_gone([frame, *pending]):
                    return
                if now >= deadline:
                    self.fail(frame, f"no result within {limit:.0f} s")
                elif now >= resend:
                    self.state.resends += 1
                    self.publish(frame, raw, msgtype)
                    resend = now + resend_after_s

    def realtime(self, rate: float, bar: Any) -> None:
        """Publish at the recorded pace (times ``rate``), never waiting for results."""
        frames = self.state.inputs.frames
        self.time_scale = rate
        log0, wall0 = frames[0].log_ns, time.monotonic()
        for frame, raw, msgtype in image_stream(self.reader, self.state.inputs):
            self.drain(wall0 + (frame.log_ns - log0) / 1e9 / rate)
            if self._node_gone(frames):
                return
            self.publish(frame, raw, msgtype)
            bar.update(1)

    def settle(self, quiet_s: float, limit_s: float) -> None:
        """Collect late outputs until none of the node's ``out/`` topics got a message for ``quiet_s`` (periodic
        topics such as /diagnostics do not count), or ``limit_s`` passed."""
        end = time.monotonic() + limit_s
        while time.monotonic() < end:
            before = self._frame_outputs()
            self.drain(min(end, time.monotonic() + quiet_s))
            if self._frame_outputs() == before:
                return

    def _frame_outputs(self) -> int:
        return sum(n for topic, n in self.state.outputs.items() if topic.startswith(self.client.out_prefix))
