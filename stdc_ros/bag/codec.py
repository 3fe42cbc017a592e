"""Images <-> rosbags messages: camera frames (raw or compressed) and label maps (mono8).

Raw encodings go through the package's shared codec ``stdc_ros.image_codec`` when it is present; a small local
conversion for rgb8/bgr8/rgba8/bgra8/mono8 stands in for it otherwise.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ..errors import ImageFormatError

_LOCAL_CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}

try:  # the node's codec (more encodings); optional so bags work without it
    from ..image_codec import SUPPORTED_ENCODINGS
    from ..image_codec import decode_image as _shared_decode
    from ..image_codec import encode_image as _shared_encode

    ENCODINGS: tuple[str, ...] = tuple(e for e in SUPPORTED_ENCODINGS if not e[0].isdigit())  # ROS names only
except ImportError:  # pragma: no cover - depends on the checkout
    ENCODINGS = tuple(_LOCAL_CHANNELS)
    _shared_decode = None
    _shared_encode = None
COMPRESSED_FORMATS = ("jpeg", "png")


def encode_rgb(rgb: np.ndarray, encoding: str) -> tuple[int, np.ndarray]:
    """(step, flat uint8 data) of an RGB uint8 (H, W, 3) image in a ROS ``encoding``."""
    rgb = np.ascontiguousarray(rgb)
    if _shared_encode is not None:
        step, data = _shared_encode(rgb, encoding)
        return int(step), np.frombuffer(bytes(data), np.uint8) if not isinstance(data, np.ndarray) else data.ravel()
    if encoding not in _LOCAL_CHANNELS:
        raise ImageFormatError(f"cannot encode {encoding!r}; known: {', '.join(_LOCAL_CHANNELS)}")
    conv = {
        "rgb8": None,
        "bgr8": cv2.COLOR_RGB2BGR,
        "rgba8": cv2.COLOR_RGB2RGBA,
        "bgra8": cv2.COLOR_RGB2BGRA,
        "mono8": cv2.COLOR_RGB2GRAY,
    }[encoding]
    out = rgb if conv is None else cv2.cvtColor(rgb, conv)
    return rgb.shape[1] * _LOCAL_CHANNELS[encoding], np.ascontiguousarray(out).ravel()


def decode_to_rgb(encoding: str, height: int, width: int, step: int, is_bigendian: int, data: Any) -> np.ndarray:
    """RGB uint8 (H, W, 3) from the fields of a sensor_msgs/Image."""
    buf = np.frombuffer(memoryview(data), np.uint8) if not isinstance(data, np.ndarray) else data
    if _shared_decode is not None:
        array, order = _shared_decode(encoding, height, width, step, is_bigendian, buf)
        array = np.asarray(array)
        if array.ndim == 2:
            return np.repeat(array[:, :, None], 3, axis=2)
        array = array[:, :, :3]
        return np.ascontiguousarray(array[:, :, ::-1] if order == "bgr" else array)
    channels = _LOCAL_CHANNELS.get(encoding)
    if channels is None:
        raise ImageFormatError(f"cannot decode {encoding!r}; known: {', '.join(_LOCAL_CHANNELS)}")
    pixels = _rows(buf, height, width, step, channels, encoding)
    if channels == 1:
        return np.repeat(pixels, 3, axis=2)
    pixels = pixels[:, :, :3]
    return np.ascontiguousarray(pixels[:, :, ::-1] if encoding.startswith("bgr") else pixels)


def _rows(buf: np.ndarray, height: int, width: int, step: int, channels: int, encoding: str) -> np.ndarray:
    if step < width * channels or buf.size < step * height:
        raise ImageFormatError(
            f"{encoding} image {width}x{height}: step {step} and {buf.size} data bytes do not fit "
            f"{channels} channel(s) per pixel"
        )
    return buf[: step * height].reshape(height, step)[:, : width * channels].reshape(height, width, channels)


def image_msg_to_rgb(msg: Any) -> np.ndarray:
    """RGB uint8 (H, W, 3) from a rosbags sensor_msgs/Image or CompressedImage."""
    if msg.__msgtype__.endswith("CompressedImage"):
        bgr = cv2.imdecode(np.asarray(msg.data, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ImageFormatError(f"compressed image ({msg.format!r}, {len(msg.data)} bytes) does not decode")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return decode_to_rgb(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data)


def labels_from_msg(msg: Any) -> np.ndarray:
    """Class ids uint8 (H, W) from a rosbags mono8 / 8UC1 sensor_msgs/Image (or a lossless CompressedImage)."""
    if msg.__msgtype__.endswith("CompressedImage"):
        labels = cv2.imdecode(np.asarray(msg.data, np.uint8), cv2.IMREAD_UNCHANGED)
        if labels is None or labels.ndim != 2:
            raise ImageFormatError(f"compressed label map ({msg.format!r}) does not decode to one channel")
        return labels
    if msg.encoding not in ("mono8", "8UC1"):
        raise ImageFormatError(f"label map must be mono8 or 8UC1, found {msg.encoding!r}")
    return _rows(np.asarray(msg.data, np.uint8), msg.height, msg.width, msg.step, 1, msg.encoding)[:, :, 0]


def compress_rgb(rgb: np.ndarray, fmt: str = "jpeg", quality: int = 90) -> np.ndarray:
    """JPEG or PNG bytes (uint8 array) of an RGB image, as image_transport's ``compressed`` plugin sends."""
    if fmt not in COMPRESSED_FORMATS:
        raise ImageFormatError(f"unknown compressed format {fmt!r}; choose jpeg or png")
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == "jpeg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, buf = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ImageFormatError(f"cv2 could not encode a {rgb.shape} image as {fmt}")
    return buf.ravel()
