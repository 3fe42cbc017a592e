"""Input side of the node: QoS profiles from the parameters and message -> numpy image decoding."""

from __future__ import annotations

import numpy as np
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from ..image_codec import ChannelOrder, decode_compressed, decode_image
from .parameters import NodeConfig

IMAGE_TOPIC = "~/in/image"
COMPRESSED_TOPIC = "~/in/image/compressed"
CAMERA_INFO_TOPIC = "~/in/camera_info"


def input_qos(config: NodeConfig) -> QoSProfile:
    """Image subscription QoS: keep-last ``qos.depth``, ``qos.reliability`` (best effort matches any publisher)."""
    reliability = ReliabilityPolicy.RELIABLE if config.qos_reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=config.qos_depth,
        reliability=reliability,
        durability=DurabilityPolicy.VOLATILE,
    )


def camera_info_qos() -> QoSProfile:
    """Best effort, depth 1: matches reliable and best-effort camera_info publishers alike."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=1,
        reliability=ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.VOLATILE,
    )


def output_qos(config: NodeConfig) -> QoSProfile:
    """Reliable keep-last ``qos.depth``: reliable and best-effort subscribers both match."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=config.qos_depth,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
    )


def input_topic(config: NodeConfig) -> str:
    return COMPRESSED_TOPIC if config.image_transport == "compressed" else IMAGE_TOPIC


def decode_message(msg: Image | CompressedImage, max_pixels: int) -> tuple[np.ndarray, ChannelOrder]:
    """An Image or CompressedImage -> (uint8 (H, W, 3), channel order); ImageFormatError when unusable."""
    if isinstance(msg, CompressedImage):
        return decode_compressed(msg.format, msg.data, max_pixels)
    return decode_image(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data, max_pixels)
