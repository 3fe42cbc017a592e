"""Segmentation output messages (labels, PNG labels, colour, overlay, camera_info), each with the input's header.

Pure message building plus ``SegmentationOutputs``, which owns the publishers and builds a message only while its
topic is enabled and has subscribers.
"""

from __future__ import annotations

import array as array_module
import copy
from dataclasses import dataclass

import cv2
import numpy as np
from rclpy.lifecycle import LifecycleNode
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from ..drivable.intrinsics import scaled_camera_matrix
from ..image_codec import ChannelOrder, encode_compressed
from .parameters import NodeConfig

LABELS_PNG_FORMAT = "mono8; png compressed"


def byte_array(data: bytes) -> array_module.array:
    """``bytes`` as array.array("B"): assigning that to a uint8[] field skips rclpy's per-element conversion."""
    out = array_module.array("B")
    out.frombytes(data)
    return out


def image_msg(header: Header, array: np.ndarray, encoding: str) -> Image:
    """A uint8 (H, W) or (H, W, C) array as an Image with ``header`` (tightly packed rows)."""
    array = np.ascontiguousarray(array)
    height, width = array.shape[:2]
    channels = 1 if array.ndim == 2 else array.shape[2]
    msg = Image(header=header, height=height, width=width, encoding=encoding, is_bigendian=0)
    msg.step = width * channels
    msg.data = byte_array(array.tobytes())
    return msg


def labels_png_msg(header: Header, labels: np.ndarray) -> CompressedImage:
    """Class ids as a lossless PNG (never JPEG: it would change label values)."""
    return CompressedImage(header=header, format=LABELS_PNG_FORMAT, data=byte_array(encode_compressed(labels, "png")))


def colorize(labels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """uint8 (H, W) ids -> (H, W, 3) RGB through a (256, 3) lookup table (cv2.LUT: ~4x numpy indexing)."""
    return cv2.LUT(cv2.merge([labels, labels, labels]), palette.reshape(256, 1, 3))


def blend(image: np.ndarray, order: ChannelOrder, color_rgb: np.ndarray, alpha: float) -> np.ndarray:
    """RGB ``(1 - alpha) * image + alpha * colours``."""
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if order == "bgr" else np.ascontiguousarray(image)
    return cv2.addWeighted(rgb, 1.0 - alpha, color_rgb, alpha, 0.0)


def camera_info_for(info: CameraInfo, header: Header, height: int, width: int) -> CameraInfo:
    """``info`` for an image of (height, width): ROI and binning undone, K and P scaled; ``header`` set."""
    out = copy.deepcopy(info)
    out.header = header
    k, p = [float(v) for v in info.k], [float(v) for v in info.p]
    base_w, base_h = float(info.width or width), float(info.height or height)
    roi = info.roi
    if roi.width and roi.height:
        k[2] -= roi.x_offset
        k[5] -= roi.y_offset
        p[2] -= roi.x_offset
        p[6] -= roi.y_offset
        base_w, base_h = float(roi.width), float(roi.height)
    sx, sy = width / base_w, height / base_h
    if (sx, sy) != (1.0, 1.0):  # a whole-frame resize, scaled as the drivable geometry scales its Intrinsics
        k, p = scaled_camera_matrix(k, sx, sy), scaled_camera_matrix(p, sx, sy)
    out.k, out.p = k, p
    out.width, out.height = width, height
    out.binning_x = out.binning_y = 0
    out.roi.x_offset = out.roi.y_offset = out.roi.width = out.roi.height = 0
    out.roi.do_rectify = False
    return out


@dataclass(frozen=True)
class Wanted:
    """Which outputs to build for this frame (enabled and subscribed)."""

    labels: bool = False
    labels_png: bool = False
    color: bool = False
    overlay: bool = False
    camera_info: bool = False

    def any(self) -> bool:
        return self.labels or self.labels_png or self.color or self.overlay or self.camera_info


class SegmentationOutputs:
    """The ~/out/{labels, labels/compressed, color, overlay, camera_info} lifecycle publishers."""

    def __init__(self, node: LifecycleNode, qos: QoSProfile) -> None:
        self._node = node
        self.labels = node.create_lifecycle_publisher(Image, "~/out/labels", qos)
        self.labels_png = node.create_lifecycle_publisher(CompressedImage, "~/out/labels/compressed", qos)
        self.color = node.create_lifecycle_publisher(Image, "~/out/color", qos)
        self.overlay = node.create_lifecycle_publisher(Image, "~/out/overlay", qos)
        self.camera_info = node.create_lifecycle_publisher(CameraInfo, "~/out/camera_info", qos)

    def publishers(self) -> list:
        return [self.labels, self.labels_png, self.color, self.overlay, self.camera_info]

    def destroy(self) -> None:
        for publisher in self.publishers():
            self._node.destroy_lifecycle_publisher(publisher)

    def wanted(self, config: NodeConfig, have_camera_info: bool) -> Wanted:
        def listening(publisher: object, enabled: bool) -> bool:
            return enabled and publisher.get_subscription_count() > 0  # type: ignore[attr-defined]

        return Wanted(
            labels=listening(self.labels, config.publish_labels),
            labels_png=listening(self.labels_png, config.publish_labels_png),
            color=listening(self.color, config.publish_color),
            overlay=listening(self.overlay, config.publish_overlay),
            camera_info=have_camera_info and listening(self.camera_info, config.publish_camera_info),
        )

    def publish(
        self,
        wanted: Wanted,
        header: Header,
        image: np.ndarray,
        order: ChannelOrder,
        labels: np.ndarray,
        palette: np.ndarray,
        alpha: float,
        camera_info: CameraInfo | None,
    ) -> None:
        if wanted.labels:
            self.labels.publish(image_msg(header, labels, "mono8"))
        if wanted.labels_png:
            self.labels_png.publish(labels_png_msg(header, labels))
        if wanted.color or wanted.overlay:
            color = colorize(labels, palette)
            if wanted.color:
                self.color.publish(image_msg(header, color, "rgb8"))
            if wanted.overlay:
                self.overlay.publish(image_msg(header, blend(image, order, color, alpha), "rgb8"))
        if wanted.camera_info and camera_info is not None:
            self.camera_info.publish(camera_info)
