"""First pass over the bag for an evaluation: the camera frames (stamps), ground truth and recorded predictions.

Label maps are kept PNG-encoded (a few kB each) so long bags fit in memory. Every message can also be copied to
the output bag on the way. A damaged message is a failed frame; a damaged bag ends the pass with a note.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..errors import BagError, ImageFormatError
from ..rosbag.codec import image_msg_to_rgb, labels_from_msg
from ..rosbag.io import CAMERA_INFO, IMAGE, IMAGE_TYPES, BagSummary, BagWriter, TopicSummary, messages, pick_image_topic
from ..rosbag.make_bag import BagTopics
from ..rosbag.ros import stamp_ns
from .matching import StampIndex
from .scoring import FrameRecord

LOG = logging.getLogger(__name__)
CUTOFF_MARGIN_NS = 1_000_000_000  # after the last frame, keep reading this long for its ground truth


@dataclass
class Frame:
    index: int  # position among the image messages of the bag
    log_ns: int
    stamp_ns: int
    record: FrameRecord
    t_pub: float | None = None  # monotonic time of the (last) publish
    rgb: np.ndarray | None = None  # kept only for the frames of the overlay strip
    prediction: np.ndarray | None = None
    truth: np.ndarray | None = None


@dataclass
class BagInputs:
    summary: BagSummary
    image_topic: TopicSummary
    gt_topic: str | None
    predictions_topic: str | None
    frames: list[Frame] = field(default_factory=list)
    truth: StampIndex[bytes] = field(default_factory=StampIndex)
    predictions: StampIndex[tuple[int, bytes]] = field(default_factory=StampIndex)
    camera_info_topic: str | None = None
    camera_info: StampIndex[bytes] = field(default_factory=StampIndex)  # serialized CameraInfo by stamp
    failures: list[FrameRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def considered(self) -> int:
        return len(self.frames) + len(self.failures)


def encode_labels(labels: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", labels, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ImageFormatError(f"cannot PNG-encode a label map {labels.shape}")
    return buf.tobytes()


def decode_labels(png: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)


def pick_gt_topic(summary: BagSummary, requested: str | None, image_topic: str) -> str | None:
    if requested:
        topic = summary.topic(requested)
        if topic is None or topic.msgtype not in IMAGE_TYPES:
            raise BagError(f"ground-truth topic {requested} is not an image topic of {summary.path}")
        return requested
    if summary.topic(BagTopics.labels) is not None:
        return BagTopics.labels
    found = [t.name for t in summary.of_types(IMAGE) if t.name != image_topic and "gt" in t.name.lower()]
    return found[0] if found else None


def pick_predictions_topic(summary: BagSummary, requested: str | None, exclude: set[str]) -> str:
    if requested:
        topic = summary.topic(requested)
        if topic is None or topic.msgtype not in IMAGE_TYPES:
            raise BagError(f"predictions topic {requested} is not an image topic of {summary.path}")
        return requested
    found = [t.name for t in summary.of_types(IMAGE) if t.name.endswith("/out/labels") and t.name not in exclude]
    if not found:
        raise BagError(
            f"{summary.path} has no recorded predictions (an Image topic ending in /out/labels); "
            "name one with --predictions-topic"
        )
    return found[0]


def pick_camera_info_topic(summary: BagSummary, image_topic: str) -> str | None:
    """The CameraInfo next to the image topic (``.../camera_info``), else /camera/camera_info, else the first."""
    infos = [t.name for t in summary.of_types(CAMERA_INFO)]
    base = image_topic.removesuffix("/compressed").rsplit("/", 1)[0]
    for name in (f"{base}/camera_info", BagTopics.camera_info):
        if name in infos:
            return name
    return infos[0] if infos else None


def scan_inputs(
    reader: Any,
    summary: BagSummary,
    *,
    image_topic: str | None,
    gt_topic: str | None,
    predictions_topic: str | None,
    recorded: bool,
    tolerance_ns: int,
    max_frames: int = 0,
    copy_to: BagWriter | None = None,
) -> BagInputs:
    """Read the bag once; see the module docstring."""
    store = copy_to.store if copy_to is not None else _store()
    image = pick_image_topic(summary, image_topic, BagTopics.image)
    gt = pick_gt_topic(summary, gt_topic, image.name)
    preds = pick_predictions_topic(summary, predictions_topic, {image.name, gt or ""}) if recorded else None
    inputs = BagInputs(summary, image, gt, preds)
    inputs.truth = StampIndex(tolerance_ns)
    inputs.predictions = StampIndex(tolerance_ns)
    inputs.camera_info = StampIndex(tolerance_ns)
    inputs.camera_info_topic = pick_camera_info_topic(summary, image.name)
    if gt is None:
        inputs.notes.append("the bag has no ground-truth topic: accuracy is not scored")
    cutoff: int | None = None
    index = 0
    try:
        for topic, msgtype, log_ns, raw in messages(reader):
            if cutoff is not None and log_ns > cutoff + CUTOFF_MARGIN_NS:
                break
            if copy_to is not None and (cutoff is None or log_ns <= cutoff):
                _copy(copy_to, topic, msgtype, log_ns, raw, inputs)
            if topic == image.name:
                if cutoff is not None:
                    continue
                _add_frame(inputs, store, index, msgtype, log_ns, raw)
                index += 1
                if max_frames and index >= max_frames:
                    cutoff = log_ns
            elif topic in (gt, preds):
                _add_labels(inputs, store, topic, msgtype, log_ns, raw)
            elif topic == inputs.camera_info_topic:
                _add_camera_info(inputs, store, msgtype, raw)
    except BagError as exc:
        if not inputs.frames:
            raise
        inputs.notes.append(f"the bag is damaged after {index} frames; evaluating those ({exc})")
        LOG.warning("%s", inputs.notes[-1])
    if not inputs.frames:
        raise BagError(f"{summary.path}: no readable frame on {image.name}")
    return inputs


def _store() -> Any:
    from ..rosbag.io import typestore

    return typestore()


def _copy(writer: BagWriter, topic: str, msgtype: str, log_ns: int, raw: bytes, inputs: BagInputs) -> None:
    if writer.has_type(msgtype):
        writer.write_raw(topic, msgtype, log_ns, raw)
    elif f"not copied: {topic}" not in " ".join(inputs.notes):
        inputs.notes.append(f"not copied: {topic} ({msgtype} is unknown to the type store)")


def _add_frame(inputs: BagInputs, store: Any, index: int, msgtype: str, log_ns: int, raw: bytes) -> None:
    try:
        msg = store.deserialize_cdr(raw, msgtype)
        stamp = stamp_ns(msg.header)
    except Exception as exc:  # a damaged message: report the frame, go on
        inputs.failures.append(FrameRecord(index, -1, "failed", reason=f"cannot read the image message: {exc}"))
        LOG.warning("frame %d: cannot read the image message: %s", index, exc)
        return
    inputs.frames.append(Frame(index, log_ns, stamp, FrameRecord(index, stamp)))


def _add_camera_info(inputs: BagInputs, store: Any, msgtype: str, raw: bytes) -> None:
    try:
        inputs.camera_info.add(stamp_ns(store.deserialize_cdr(raw, msgtype).header), bytes(raw))
    except Exception as exc:
        LOG.warning("unreadable camera_info: %s", exc)


def _add_labels(inputs: BagInputs, store: Any, topic: str, msgtype: str, log_ns: int, raw: bytes) -> None:
    try:
        msg = store.deserialize_cdr(raw, msgtype)
        png = encode_labels(labels_from_msg(msg))
        stamp = stamp_ns(msg.header)
    except Exception as exc:
        inputs.notes.append(f"{topic} at {log_ns} ns: unreadable label map ({exc})")
        LOG.warning("%s", inputs.notes[-1])
        return
    if topic == inputs.gt_topic:
        inputs.truth.add(stamp, png)
    if topic == inputs.predictions_topic:
        inputs.predictions.add(stamp, (log_ns, png))


def image_stream(reader: Any, inputs: BagInputs) -> Iterator[tuple[Frame, bytes, str]]:
    """Second pass: (frame, raw message, msgtype) for each readable frame of the first pass, in order."""
    wanted = {f.index: f for f in inputs.frames}
    last = inputs.frames[-1].index
    index = 0
    try:
        for _topic, msgtype, _log_ns, raw in messages(reader, (inputs.image_topic.name,)):
            frame = wanted.get(index)
            if frame is not None:
                yield frame, raw, msgtype
            if index >= last:
                return
            index += 1
    except BagError as exc:
        LOG.warning("bag stream ended early: %s", exc)


def to_image_bytes(store: Any, raw: bytes, msgtype: str) -> tuple[bytes, Any]:
    """A serialized sensor_msgs/Image for the node (CompressedImage frames are decoded to rgb8) and the message."""
    msg = store.deserialize_cdr(raw, msgtype)
    if msgtype == IMAGE:
        return bytes(raw), msg
    rgb = image_msg_to_rgb(msg)
    h, w = rgb.shape[:2]
    image = store.types[IMAGE](
        header=msg.header,
        height=h,
        width=w,
        encoding="rgb8",
        is_bigendian=0,
        step=3 * w,
        data=np.ascontiguousarray(rgb).ravel(),
    )
    return bytes(store.serialize_cdr(image, IMAGE)), image
