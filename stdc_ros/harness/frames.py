"""What a client sends the node and reads back without decoding: synthetic frames, Image and CameraInfo messages,
and the header stamp of a serialized message (every output of the node starts with a std_msgs/Header)."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

FRAME_ID = "harness_camera"


def synthetic_frames(height: int, width: int, count: int = 8, seed: int = 0) -> list[np.ndarray]:
    """A few distinct RGB frames: smooth gradients plus noise (content varies, decode paths stay realistic)."""
    rng = np.random.default_rng(seed)
    v, u = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for i in range(count):
        base = np.stack([u / max(width, 1) * 255, v / max(height, 1) * 255, np.full_like(u, 40.0 * i)], axis=2)
        noisy = base + rng.normal(0.0, 12.0, base.shape)
        frames.append(np.clip(noisy, 0, 255).astype(np.uint8))
    return frames


def image_message(
    rgb: np.ndarray, encoding: str = "rgb8", frame_id: str = FRAME_ID, row_padding: int = 0, big_endian: bool = False
) -> Any:
    """A sensor_msgs/Image of ``rgb`` in ``encoding`` (unstamped: the client stamps it when it is sent); rows
    padded by ``row_padding`` bytes and 16-bit encodings big endian on request, as some camera drivers send them."""
    from sensor_msgs.msg import Image

    from ..image_codec import encode_image

    step, data = encode_image(rgb, encoding, row_padding=row_padding, big_endian=big_endian)
    height, width = rgb.shape[:2]
    msg = Image(height=height, width=width, encoding=encoding, step=step, is_bigendian=int(big_endian))
    msg.data = data
    msg.header.frame_id = frame_id
    return msg


def camera_info_message(height: int, width: int, frame_id: str = FRAME_ID) -> Any:
    """A plausible pinhole CameraInfo for a ``width`` x ``height`` camera (focal length 0.9 x width)."""
    from sensor_msgs.msg import CameraInfo

    f = 0.9 * width
    info = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
    info.header.frame_id = frame_id
    info.k = [f, 0.0, (width - 1) / 2, 0.0, f, (height - 1) / 2, 0.0, 0.0, 1.0]
    info.p = [f, 0.0, (width - 1) / 2, 0.0, 0.0, f, (height - 1) / 2, 0.0, 0.0, 0.0, 1.0, 0.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    return info


def set_stamp(msg: Any, stamp_ns: int) -> Any:
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return msg


def header_stamp_ns(raw: bytes) -> int:
    """The header stamp (ns) of a serialized message that starts with a std_msgs/Header, read in place.

    CDR: a 4-byte encapsulation header (its second byte 1 = little endian), then stamp.sec (int32) and
    stamp.nanosec (uint32). Reading 8 bytes spares decoding a whole image to match it to its frame.
    """
    if len(raw) < 12:
        raise ValueError(f"{len(raw)} bytes is too short for a serialized header")
    sec, nanosec = struct.unpack_from("<iI" if raw[1] == 1 else ">iI", raw, 4)
    return sec * 1_000_000_000 + nanosec
