"""Images <-> rosbags messages: camera frames (raw or compressed) and label maps (mono8).

Raw and compressed pixels go through the package's shared codec (``stdc_ros.image_codec``), the one the node uses.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ..errors import ImageFormatError
from ..image_codec import SUPPORTED_ENCODINGS, decode_compressed, decode_image, encode_compressed, encode_image

ENCODINGS: tuple[str, ...] = tuple(e for e in SUPPORTED_ENCODINGS if not e[0].isdigit())  # the ROS names only
COMPRESSED_FORMATS = ("jpeg", "png")


def encode_rgb(rgb: np.ndarray, encoding: str) -> tuple[int, np.ndarray]:
    """(step, flat uint8 data) of an RGB uint8 (H, W, 3) image in a ROS ``encoding``."""
    step, data = encode_image(np.ascontiguousarray(rgb), encoding)
    return step, np.frombuffer(data, np.uint8)


def _to_rgb(array: np.ndarray, order: str) -> np.ndarray:
    return np.ascontiguousarray(array[:, :, ::-1] if order == "bgr" else array)


def decode_to_rgb(encoding: str, height: int, width: int, step: int, is_bigendian: int, data: Any) -> np.ndarray:
    """RGB uint8 (H, W, 3) from the fields of a sensor_msgs/Image."""
    return _to_rgb(*decode_image(encoding, height, width, step, is_bigendian, data))


def image_msg_to_rgb(msg: Any) -> np.ndarray:
    """RGB uint8 (H, W, 3) from a rosbags sensor_msgs/Image or CompressedImage."""
    if msg.__msgtype__.endswith("CompressedImage"):
        return _to_rgb(*decode_compressed(msg.format, msg.data))
    return decode_to_rgb(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data)


def labels_from_msg(msg: Any) -> np.ndarray:
    """Class ids uint8 (H, W) from a rosbags mono8 / 8UC1 sensor_msgs/Image (or a PNG CompressedImage)."""
    if msg.__msgtype__.endswith("CompressedImage"):
        labels = cv2.imdecode(np.asarray(msg.data, np.uint8), cv2.IMREAD_UNCHANGED)
        if labels is None or labels.ndim != 2:
            raise ImageFormatError(f"compressed label map ({msg.format!r}) does not decode to one channel")
        return labels
    if msg.encoding.lower() not in ("mono8", "8uc1"):
        raise ImageFormatError(f"label map must be mono8 or 8UC1, found {msg.encoding!r}")
    data = np.asarray(msg.data, np.uint8).ravel()
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0 or step < width or data.size < step * height:
        raise ImageFormatError(f"label map {width}x{height}, step {step}, {data.size} bytes: sizes do not agree")
    return data[: step * height].reshape(height, step)[:, :width]


def compress_rgb(rgb: np.ndarray, fmt: str = "jpeg", quality: int = 90) -> np.ndarray:
    """JPEG or PNG bytes (uint8 array) of an RGB image, as image_transport's ``compressed`` plugin sends."""
    if fmt not in COMPRESSED_FORMATS:
        raise ImageFormatError(f"unknown compressed format {fmt!r}; choose jpeg or png")
    try:
        return np.frombuffer(encode_compressed(rgb, fmt, quality), np.uint8)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ImageFormatError(str(exc)) from exc
